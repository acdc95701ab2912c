"""The machine and its processes: logging, running commands, removing trees, /proc
readings, the page-cache warm-up, sizes, and what the report says about the machine
and the tool versions."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .config import REPO_DIR, GiB, KiB, MiB


def default_threads() -> int:
    """What `threads=None` means in fastlink: one per usable core, 2 to 16 (src/pool.rs).

    Prefers the library's own answer if it exposes one.
    """
    with contextlib.suppress(ImportError, AttributeError, TypeError):
        import fastlink

        return int(fastlink.default_threads())  # type: ignore[attr-defined]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(2, min(16, cores or 1))


_T0 = time.monotonic()


def log(msg: str) -> None:
    el = time.monotonic() - _T0
    print(f"[{int(el // 60):02d}:{el % 60:04.1f}] {msg}", file=sys.stderr, flush=True)


def run(argv: Sequence[str | os.PathLike[str]], **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run a command, raise with its output on failure."""
    proc = subprocess.run(
        [os.fspath(a) for a in argv], capture_output=True, text=True, check=False, **kw
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, argv))} exited {proc.returncode}: "
            f"{(proc.stderr or proc.stdout).strip()[-2000:]}"
        )
    return proc


def rm_rf(path: Path) -> None:
    if path.exists() or path.is_symlink():
        run(["rm", "-rf", "--one-file-system", path])
        if path.exists() or path.is_symlink():
            raise RuntimeError(f"could not remove {path}")


def tool_version(argv: list[str]) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    except OSError:
        return "not installed"
    out = (proc.stdout.strip() or proc.stderr.strip()).splitlines()
    return out[0].strip() if out else "?"


def read_file(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def meminfo(field: str) -> int:
    m = re.search(rf"^{field}:\s+(\d+) kB", read_file("/proc/meminfo"), re.M)
    return int(m.group(1)) * KiB if m else 0


def mount_entry(mountpoint: Path) -> tuple[str, str] | None:
    """(fstype, options) of the mount at *mountpoint*, or None."""
    mp = os.path.realpath(mountpoint)
    found = None
    for line in read_file("/proc/self/mounts").splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[1].encode().decode("unicode_escape") == mp:
            found = (parts[2], parts[3])  # the last one wins (stacked mounts)
    return found


def used_bytes(mountpoint: Path) -> int:
    st = os.statvfs(mountpoint)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def warm(root: Path) -> int:
    """Read every regular file under *root* once (page cache); return bytes read."""
    total = 0
    buf = bytearray(4 * MiB)
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = os.path.join(dirpath, name)
            if os.path.islink(p):
                continue
            with open(p, "rb", buffering=0) as f:
                while n := f.readinto(buf):
                    total += n
    return total


def parse_size(s: str) -> int:
    mult = {"K": KiB, "M": MiB, "G": GiB, "T": GiB << 10}
    s = s.strip().upper().removesuffix("IB").removesuffix("B")
    if s and s[-1] in mult:
        return int(float(s[:-1]) * mult[s[-1]])
    return int(s)


def fmt_bytes(n: float) -> str:
    for unit, div in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{int(n)} B"


def bench_requirements() -> list[str]:
    """The `bench` extra of pyproject.toml (what `make bench` installs into the venv)."""
    text = (REPO_DIR / "pyproject.toml").read_text()
    try:
        import tomllib
    except ImportError:  # Python < 3.11: a narrow parse of the one list we need
        m = re.search(r"^bench\s*=\s*\[(.*?)\]", text, re.M | re.S)
        return re.findall(r"\"([^\"]+)\"", m.group(1)) if m else []
    return list(tomllib.loads(text)["project"]["optional-dependencies"]["bench"])


def first_file(root: Path) -> Path | None:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            return Path(dirpath) / name
    return None


def du(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def machine_info() -> dict[str, Any]:
    cpu = re.search(r"^model name\s*:\s*(.+)$", read_file("/proc/cpuinfo"), re.M)
    osr = re.search(r'^PRETTY_NAME="?([^"\n]+)', read_file("/etc/os-release"), re.M)
    root_fs = mount_entry(Path("/"))
    return {
        "cpu": cpu.group(1).strip() if cpu else platform.processor() or "?",
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "ram_bytes": meminfo("MemTotal"),
        "kernel": platform.release(),
        "kernel_version": platform.version(),
        "os": osr.group(1) if osr else platform.platform(),
        "arch": platform.machine(),
        "root_fs": root_fs[0] if root_fs else "?",
        "virtualization": tool_version(["systemd-detect-virt"]),
    }


def versions(fastlink_mod: Any, uv: str | None, floor: Path | None) -> dict[str, str]:
    out = {
        "python": sys.version.split()[0],
        "fastlink": getattr(fastlink_mod, "__version__", "?") if fastlink_mod else "?",
        "fastlink_commit": tool_version(["git", "-C", str(REPO_DIR), "describe", "--always"])
        + (
            "-dirty"
            if subprocess.run(
                ["git", "-C", str(REPO_DIR), "diff", "--quiet", "HEAD", "--", "src", "python"],
                capture_output=True,
                check=False,
            ).returncode
            == 1
            else ""
        ),
        "uv": tool_version([uv, "--version"]) if uv else "-",
        "cp": tool_version(["cp", "--version"]),
        "xfsprogs": tool_version(["mkfs.xfs", "-V"]),
        "btrfs-progs": tool_version(["mkfs.btrfs", "--version"]),
        "e2fsprogs": tool_version(["mke2fs", "-V"]),
        "rustc (floor)": tool_version(["rustc", "--version"]) if floor else "-",
    }
    with contextlib.suppress(ImportError):
        import matplotlib

        out["matplotlib"] = matplotlib.__version__
    return out
