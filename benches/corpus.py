"""Benchmark corpus: a realistic "installer cache" tree made of unpacked wheels.

The corpus is six pinned wheels (CPython 3.11, manylinux x86_64), unpacked the
way an installer's cache does it: one directory per wheel, named after the wheel
file's stem, holding the archive's contents with the unix permission bits stored
in the zip (``external_attr >> 16``) applied::

    wheels = corpus.ensure_wheels()              # cached in benches/.corpus/wheels
    stats = corpus.unpack_all(dest_dir, wheels)  # -> TreeStats

Wheels are cached in ``benches/.corpus/wheels`` (git-ignored); a pin whose wheel is
already there is not downloaded again. Pins are never changed silently: if a pinned
version has no wheel for the target tags the download fails, and the constant below
is for a human to edit.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

# --------------------------------------------------------------------------------------
# The pins: the single source of truth for the corpus contents.
# --------------------------------------------------------------------------------------
PINS: tuple[str, ...] = (
    "numpy==2.4.6",
    "pandas==3.1.1",
    "scipy==1.17.1",
    "botocore==1.44.5",
    "django==5.2.19",
    "sympy==1.14.0",
)

# Target interpreter / platform tags handed to `pip download`.
PYTHON_VERSION = "3.11"
IMPLEMENTATION = "cp"
ABIS: tuple[str, ...] = ("cp311",)  # pure wheels (py3-none-any) are always accepted by pip
PLATFORMS: tuple[str, ...] = (
    "manylinux_2_28_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
)

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_CACHE_DIR = BENCH_DIR / ".corpus" / "wheels"


class CorpusError(RuntimeError):
    """Download or unpack of the corpus failed."""


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------
def _normalize(name: str) -> str:
    """PEP 503-style name normalisation, with '_' (as wheel filenames use)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def _split_pin(pin: str) -> tuple[str, str]:
    name, sep, version = pin.partition("==")
    if not sep or not name or not version:
        raise ValueError(f"pin must look like 'name==version', got {pin!r}")
    return name.strip(), version.strip()


def _wheel_name_version(wheel: Path) -> tuple[str, str]:
    parts = wheel.name[: -len(".whl")].split("-")
    return _normalize(parts[0]), parts[1]


def wheel_stem(wheel: Path) -> str:
    """Directory name an unpacked wheel gets: the wheel filename without '.whl'."""
    return wheel.name[: -len(".whl")]


def find_cached(pin: str, cache_dir: Path = DEFAULT_CACHE_DIR) -> Path | None:
    """Return the cached wheel for *pin*, or None (also None for an unreadable file)."""
    name, version = _split_pin(pin)
    if not cache_dir.is_dir():
        return None
    for wheel in sorted(cache_dir.glob("*.whl")):
        try:
            wname, wversion = _wheel_name_version(wheel)
        except IndexError:
            continue
        if wname == _normalize(name) and wversion == version and zipfile.is_zipfile(wheel):
            return wheel
    return None


def pip_command() -> list[str]:
    """A pip to run: this interpreter's if it has one, else pip3/pip from PATH."""
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    for exe in ("pip3", "pip"):
        found = shutil.which(exe)
        if found:
            return [found]
    raise CorpusError("no pip available (neither `python -m pip` nor pip/pip3 on PATH)")


def target_args() -> list[str]:
    args = ["--only-binary=:all:", "--python-version", PYTHON_VERSION]
    args += ["--implementation", IMPLEMENTATION]
    for plat in PLATFORMS:
        args += ["--platform", plat]
    for abi in ABIS:
        args += ["--abi", abi]
    return args


def ensure_wheels(
    cache_dir: Path | str = DEFAULT_CACHE_DIR, pins: Sequence[str] = PINS, *, quiet: bool = False
) -> list[Path]:
    """Make sure every pinned wheel is in *cache_dir*; return their paths in pin order.

    Only missing pins are downloaded. A pin with no wheel for the target tags raises
    CorpusError (the pin is not changed).
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    missing = [p for p in pins if find_cached(p, cache_dir) is None]
    if missing:
        if not quiet:
            print(
                f"corpus: downloading {len(missing)} wheel(s) into {cache_dir}: "
                f"{' '.join(missing)}",
                file=sys.stderr,
            )
        cmd = [*pip_command(), "download", "--no-deps", "--disable-pip-version-check"]
        cmd += [*target_args(), "-d", str(cache_dir), *missing]
        if quiet:
            cmd.append("-q")
        proc = subprocess.run(cmd, stdout=sys.stderr if not quiet else subprocess.DEVNULL)
        failed = [p for p in missing if find_cached(p, cache_dir) is None]
        if proc.returncode != 0 or failed:
            raise CorpusError(
                f"no wheel for cp{PYTHON_VERSION.replace('.', '')}/{'|'.join(PLATFORMS)} of "
                f"{', '.join(failed or missing)} (`pip index versions NAME` lists the others; "
                "edit PINS deliberately if a substitute is wanted)"
            )
    wheels = []
    for pin in pins:
        wheel = find_cached(pin, cache_dir)
        assert wheel is not None, pin
        wheels.append(wheel)
    return wheels


# --------------------------------------------------------------------------------------
# Unpacking
# --------------------------------------------------------------------------------------
@dataclasses.dataclass
class TreeStats:
    files: int = 0  # regular files
    dirs: int = 0  # directories, the root included
    symlinks: int = 0
    bytes: int = 0  # sum of regular file sizes (apparent)
    allocated: int = 0  # sum of st_blocks * 512 of regular files (0 when not measured)

    def __iadd__(self, other: TreeStats) -> TreeStats:
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def summary(self) -> str:
        s = (
            f"{self.files:,} files, {self.dirs:,} dirs, {self.symlinks:,} symlinks, "
            f"{self.bytes:,} bytes ({self.bytes / 1e6:.1f} MB, {self.bytes / 2**20:.1f} MiB)"
        )
        if self.allocated:
            s += f", {self.allocated / 1e6:.1f} MB allocated"
        return s


def _safe_member_path(name: str) -> tuple[str, ...]:
    """Split a zip member name into path components, refusing anything escaping the root."""
    if "\\" in name or name.startswith("/") or "\x00" in name:
        raise CorpusError(f"refusing unsafe wheel member name {name!r}")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if any(p == ".." for p in parts) or not parts:
        raise CorpusError(f"refusing unsafe wheel member name {name!r}")
    return parts


def _zip_mode(info: zipfile.ZipInfo) -> int | None:
    """Permission bits stored in the zip, or None if the archive carries none.

    setuid/setgid/sticky are dropped; only rwx bits are applied.
    """
    if info.create_system != 3:  # not made on unix: no unix mode in external_attr
        return None
    mode = (info.external_attr >> 16) & 0o777
    return mode or None


def unpack_wheel(wheel: Path | str, dest_root: Path | str) -> TreeStats:
    """Unpack *wheel* into dest_root/<wheel-stem>/ and return what was written.

    Like an installer cache: extract into a hidden sibling first, then rename into
    place, so a half-written directory never carries the final name. Files get the
    rwx bits stored in the zip (default 0o644, dirs 0o755, when absent). Directory
    modes are applied last, deepest first, so a read-only dir can't block extraction.
    Symlink-typed members (none in the pinned wheels) are written as regular files,
    as pip does.
    """
    wheel = Path(wheel)
    dest_root = Path(dest_root)
    final = dest_root / wheel_stem(wheel)
    if final.exists() or final.is_symlink():
        raise FileExistsError(17, "unpacked wheel already exists", str(final))
    tmp = dest_root / f".{wheel_stem(wheel)}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)

    stats = TreeStats(dirs=1)
    dir_modes: dict[tuple[str, ...], int] = {}
    made_dirs: set[tuple[str, ...]] = {()}

    def makedirs(parts: tuple[str, ...]) -> None:
        for i in range(1, len(parts) + 1):
            sub = parts[:i]
            if sub not in made_dirs:
                os.mkdir(tmp.joinpath(*sub), 0o755)
                made_dirs.add(sub)
                stats.dirs += 1

    os.mkdir(tmp, 0o755)
    try:
        with zipfile.ZipFile(wheel) as zf:
            for info in zf.infolist():
                parts = _safe_member_path(info.filename)
                mode = _zip_mode(info)
                if info.is_dir():
                    makedirs(parts)
                    if mode is not None:
                        dir_modes[parts] = mode
                    continue
                makedirs(parts[:-1])
                target = tmp.joinpath(*parts)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
                with zf.open(info) as src, os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                os.chmod(target, mode if mode is not None else 0o644)
                stats.files += 1
                stats.bytes += info.file_size
        for parts in sorted(made_dirs, key=len, reverse=True):
            os.chmod(tmp.joinpath(*parts), dir_modes.get(parts, 0o755))
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return stats


def unpack_all(dest_dir: Path | str, wheels: Iterable[Path] | None = None) -> TreeStats:
    """Unpack every wheel (default: the pinned ones, downloading if needed) into *dest_dir*.

    Returns the totals; ``dirs`` counts dest_dir itself too.
    """
    dest_dir = Path(dest_dir)
    if wheels is None:
        wheels = ensure_wheels()
    dest_dir.mkdir(parents=True, exist_ok=True)
    total = TreeStats(dirs=1)
    for wheel in wheels:
        total += unpack_wheel(wheel, dest_dir)
    return total


def tree_stats(root: Path | str, *, allocated: bool = False) -> TreeStats:
    """Walk *root* (not following symlinks) and count what is there."""
    stats = TreeStats()
    stack = [os.fspath(root)]
    while stack:
        d = stack.pop()
        stats.dirs += 1
        with os.scandir(d) as it:
            for entry in it:
                if entry.is_symlink():
                    stats.symlinks += 1
                elif entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    stats.files += 1
                    stats.bytes += st.st_size
                    if allocated:
                        stats.allocated += st.st_blocks * 512
    return stats


def tree_manifest(root: Path | str, *, mtimes: bool = True) -> dict[bytes, tuple]:
    """Relative path -> (kind, perm bits, size or link target, mtime_ns), for tree comparison.

    mtime_ns is recorded for files and directories (0 for symlinks, or when mtimes=False).
    """
    root_b = os.fsencode(root)
    out: dict[bytes, tuple] = {}
    stack = [root_b]
    while stack:
        d = stack.pop()
        with os.scandir(d) as it:
            for entry in it:
                rel = os.path.relpath(entry.path, root_b)
                st = entry.stat(follow_symlinks=False)
                mt = st.st_mtime_ns if mtimes else 0
                if stat.S_ISLNK(st.st_mode):
                    out[rel] = ("l", 0, os.readlink(entry.path), 0)
                elif stat.S_ISDIR(st.st_mode):
                    out[rel] = ("d", stat.S_IMODE(st.st_mode), 0, mt)
                    stack.append(entry.path)
                else:
                    out[rel] = ("f", stat.S_IMODE(st.st_mode), st.st_size, mt)
    return out
