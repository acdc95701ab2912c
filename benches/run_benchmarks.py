#!/usr/bin/env python3
"""fastlink benchmark harness: fastlink against cp, shutil.copytree, uv and a raw-Rust floor.

Run as root (it makes and loop-mounts filesystems)::

    make bench                                                # deps + floor build + full run
    sudo .venv/bin/python benches/run_benchmarks.py           # the full run by hand
    sudo .venv/bin/python benches/run_benchmarks.py --smoke   # tiny trees, 1 round (CI)
    .venv/bin/python benches/run_benchmarks.py --report-only  # re-render BENCHMARKS.md + chart

Everything happens in one fresh temporary directory, unmounted and removed in a
`finally` (also on Ctrl-C and SIGTERM):

- filesystems: sparse images loop-mounted as XFS (reflink=1), btrfs and ext4, and a tmpfs;
- workloads, built on XFS (and copied to btrfs for the btrfs→btrfs path): the pinned
  6-wheel corpus (corpus.py), synthetic site-packages-like trees of 1k/10k/100k files,
  one 4 GiB file of real (non-sparse) data, and a 1000-level deep tree;
- paths: xfs→xfs and btrfs→btrfs (reflink), xfs→xfs (hardlink), and xfs→btrfs, xfs→tmpfs,
  xfs→ext4 (copy across devices);
- candidates, interleaved per round (order rotated) on the same source tree:
  fastlink.clone_or_copy, cp -a --reflink=auto (cp -al for hardlinks), shutil.copytree,
  the floor program (benches/floor, its own reported seconds), and, on the corpus only,
  `uv pip install --offline` of the six wheels from a warm uv cache on the source
  filesystem, with its fastlink counterpart "fastlink-install" (one clone_or_copy per
  unpacked wheel, dirs_exist_ok=True, into a fresh site-packages);
- also: a thread-count sweep on the corpus, the peak RSS of a fresh process cloning the
  100k tree, and time per file at 1k/10k/100k.

Before every timed run the previous destination is removed and `sync` is run; each
source is read once before its workload so it is in the page cache. Each candidate's
first-round output is verified (counts and bytes; fastlink's also entry by entry).
Medians are reported.

Outputs: benches/results/bench.json (every sample), BENCHMARKS.md at the repo root, and
benches/results/chart.png, copied to docs/benchmarks.png. A smoke run writes all of it
under benches/results/smoke/ instead and leaves BENCHMARKS.md and docs/ alone.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import datetime
import hashlib
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
import corpus  # noqa: E402  (benches/corpus.py)

RESULTS_DIR = BENCH_DIR / "results"
SMOKE_RESULTS_DIR = RESULTS_DIR / "smoke"
DOCS_CHART = REPO_DIR / "docs" / "benchmarks.png"
FLOOR_DIR = BENCH_DIR / "floor"
FLOOR_MANIFEST = FLOOR_DIR / "Cargo.toml"
FLOOR_BIN = FLOOR_DIR / "target" / "release" / "fastlink-floor"

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
SEED = 20240601
SCHEMA = 1

# --------------------------------------------------------------------------------------
# Filesystems, paths, workloads, candidates
# --------------------------------------------------------------------------------------
FS_NAMES = ("xfs", "btrfs", "ext4", "tmpfs")
MKFS: dict[str, list[str] | None] = {
    "xfs": ["mkfs.xfs", "-q", "-m", "reflink=1"],
    "btrfs": ["mkfs.btrfs", "-q"],
    # Initialise inode tables and journal now, so no ext4lazyinit thread writes during runs.
    "ext4": ["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0"],
    "tmpfs": None,
}
FULL_SIZES = {"xfs": 16 * GiB, "btrfs": 16 * GiB, "ext4": 8 * GiB, "tmpfs": 2 * GiB}
SMOKE_SIZES = {"xfs": 1 * GiB, "btrfs": 1 * GiB, "ext4": 512 * MiB, "tmpfs": 256 * MiB}


@dataclasses.dataclass(frozen=True)
class BenchPath:
    key: str
    src_fs: str
    dst_fs: str
    op: str  # "reflink" | "hardlink" | "copy": what the path is about

    @property
    def label(self) -> str:
        return f"{self.src_fs} → {self.dst_fs} {self.op}"

    @property
    def fastlink_methods(self) -> str | None:
        return "hardlink" if self.op == "hardlink" else None  # None: ("reflink", "copy")

    @property
    def expected_method(self) -> str:
        return self.op

    @property
    def floor_mode(self) -> str:
        return {"reflink": "clone", "hardlink": "hardlink", "copy": "copy"}[self.op]

    @property
    def uv_link_mode(self) -> str:
        return {"reflink": "clone", "hardlink": "hardlink", "copy": "copy"}[self.op]

    @property
    def cp_argv(self) -> list[str]:
        return ["cp", "-al"] if self.op == "hardlink" else ["cp", "-a", "--reflink=auto"]


PATHS: tuple[BenchPath, ...] = (
    BenchPath("xfs-reflink", "xfs", "xfs", "reflink"),
    BenchPath("btrfs-reflink", "btrfs", "btrfs", "reflink"),
    BenchPath("xfs-hardlink", "xfs", "xfs", "hardlink"),
    BenchPath("xfs-btrfs-copy", "xfs", "btrfs", "copy"),
    BenchPath("xfs-tmpfs-copy", "xfs", "tmpfs", "copy"),
    BenchPath("xfs-ext4-copy", "xfs", "ext4", "copy"),
)
PATH_BY_KEY = {p.key: p for p in PATHS}
THREAD_PATHS = ("xfs-reflink", "xfs-btrfs-copy")
RSS_PATHS = ("xfs-reflink", "xfs-btrfs-copy")


@dataclasses.dataclass(frozen=True)
class WorkloadSpec:
    key: str
    kind: str  # "corpus" | "synth" | "big" | "deep"
    size: int  # synth: files; big: bytes; deep: levels; corpus: unused
    large: bool  # gets --rounds-large instead of --rounds, when given
    title: str
    rounds: int = 5  # default rounds (a smoke run does 1)


CORPUS_TITLE = "6-wheel corpus (numpy, pandas, scipy, botocore, django, sympy)"
FULL_WORKLOADS = (
    WorkloadSpec("corpus", "corpus", 0, False, CORPUS_TITLE),
    WorkloadSpec("synth-1k", "synth", 1_000, False, "1,000 small files"),
    WorkloadSpec("synth-10k", "synth", 10_000, False, "10,000 small files"),
    WorkloadSpec("deep-1000", "deep", 1_000, False, "1,000-level deep tree, a file per level"),
    # One round of 100k is ~4 min here (6 paths x 4 candidates, ~7 s of rm + sync each).
    WorkloadSpec("synth-100k", "synth", 100_000, True, "100,000 small files", rounds=1),
    WorkloadSpec("big-4g", "big", 4 * GiB, True, "one 4 GiB file", rounds=2),
)
SMOKE_WORKLOADS = (
    WorkloadSpec("corpus", "corpus", 0, False, "2 generated tiny wheels (smoke)"),
    WorkloadSpec("synth-200", "synth", 200, False, "200 small files (smoke)"),
    WorkloadSpec("deep-40", "deep", 40, False, "40-level deep tree (smoke)"),
    WorkloadSpec("big-8m", "big", 8 * MiB, True, "one 8 MiB file (smoke)"),
)
SCALING_KINDS = ("synth",)

CANDIDATES = ("fastlink", "fastlink-install", "cp", "copytree", "floor", "uv")
CANDIDATE_LABELS = {
    "fastlink": "fastlink",
    "fastlink-install": "fastlink-install",
    "cp": "cp -a",
    "copytree": "copytree",
    "floor": "floor",
    "uv": "uv",
}
CANDIDATE_DESCRIPTIONS = {
    "fastlink": '`fastlink.clone_or_copy(src, dst)` (`methods="hardlink"` on the hardlink '
    "path), timed in-process",
    "fastlink-install": "corpus only: one `clone_or_copy(wheel_dir, site_packages, "
    "dirs_exist_ok=True)` per unpacked wheel into a fresh site-packages — the counterpart "
    "of uv's install",
    "cp": "`cp -a --reflink=auto` (`cp -al` on the hardlink path), process included",
    "copytree": "`shutil.copytree(src, dst, symlinks=True)` (not on the hardlink path)",
    "floor": "benches/floor, the lower bound: a Rust program doing only a getdents64 walk, "
    "mkdirat, and per file FICLONE / linkat / copy_file_range (sendfile across filesystem "
    "types) on N threads; no metadata (modes, times), no checks, no staging or rollback; "
    "timed by its own reported seconds (walk + mkdir + file work, process start excluded)",
    "uv": "corpus only: `uv pip install --offline --no-deps --link-mode=clone|hardlink|copy` "
    "of the 6 wheels into a fresh venv, cache warm on the source filesystem",
}
PEERS = ("cp", "copytree", "floor")


def default_threads() -> int:
    """What `threads=None` means in fastlink: one per usable core, 2 to 16 (src/pool.rs).

    Prefers the library's own answer if it exposes one.
    """
    with contextlib.suppress(ImportError, AttributeError, TypeError):
        import fastlink

        return int(fastlink.default_threads())  # type: ignore[attr-defined]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(2, min(16, cores or 1))


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------
# Workload builders (deterministic)
# --------------------------------------------------------------------------------------
# Sizes of files <= 64 KiB in the pinned corpus fit a log-normal with median ~2.8 KiB and
# sigma ~1.73 (mean ~8 KiB), with ~4 % empty files (__init__.py and friends).
SYNTH_MAX = 64 * KiB
SYNTH_MEDIAN = 2760
SYNTH_SIGMA = 1.73
SYNTH_EMPTY = 0.04
SYNTH_EXTS = (".py",) * 12 + (".pyi", ".so", ".json", ".txt", ".pyc", ".dat")


def synth_size(rng: random.Random) -> int:
    if rng.random() < SYNTH_EMPTY:
        return 0
    return min(SYNTH_MAX, int(rng.lognormvariate(math.log(SYNTH_MEDIAN), SYNTH_SIGMA)))


def make_synthetic(root: Path, n_files: int, seed: int = SEED) -> None:
    """A site-packages-like tree: packages nested up to 6 deep, 10-50 files per directory."""
    rng = random.Random(f"synth-{seed}-{n_files}")
    pool = memoryview(rng.randbytes(8 * MiB))
    root.mkdir(parents=True)
    dirs: list[tuple[Path, int]] = []
    made = 0
    i = 0
    while made < n_files:
        if not dirs or rng.random() < 0.15:
            parent, depth = root, 0  # a new top-level package
        else:
            parent, depth = rng.choice(dirs[-30:])  # a subpackage of a recent one
            if depth >= 6:
                parent, depth = root, 0
        d = parent / f"pkg{i:05d}"
        os.mkdir(d)
        dirs.append((d, depth + 1))
        k = min(rng.randint(10, 50), n_files - made)
        for j in range(k):
            size = synth_size(rng)
            off = rng.randrange(len(pool) - size + 1)
            p = d / f"m{j:02d}{rng.choice(SYNTH_EXTS)}"
            with open(p, "xb") as f:
                f.write(pool[off : off + size])
            if rng.random() < 0.02:
                os.chmod(p, 0o755)
        made += k
        i += 1


def make_big(root: Path, size: int, seed: int = SEED) -> None:
    """One file of *size* bytes of real data (a random block, counter-stamped per 16 MiB)."""
    root.mkdir(parents=True)
    rng = random.Random(f"big-{seed}")
    path = root / "big.bin"
    buf = bytearray(rng.randbytes(16 * MiB))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        written = 0
        n = 0
        while written < size:
            want = min(len(buf), size - written)
            buf[:8] = n.to_bytes(8, "little")  # no two blocks alike
            view = memoryview(buf)[:want]
            done = 0
            while done < want:
                done += os.write(fd, view[done:])
            written += want
            n += 1
        os.fsync(fd)
    finally:
        os.close(fd)
    st = os.stat(path)
    if st.st_size != size or st.st_blocks * 512 < size:
        raise RuntimeError(f"{path} is sparse or short: {st.st_size} bytes, {st.st_blocks} blocks")


def make_deep(root: Path, levels: int) -> None:
    """root/d/d/.../d, *levels* directories deep (root is level 1), a small file in each."""
    rng = random.Random(f"deep-{SEED}-{levels}")
    root.mkdir(parents=True)
    d = root
    for lvl in range(levels):
        (d / f"f{lvl:04d}.py").write_bytes(rng.randbytes(rng.randint(64, 2048)))
        if lvl < levels - 1:
            d = d / "d"
            os.mkdir(d)
    if len(os.fsencode(d)) > 3500:
        raise RuntimeError("deep tree is too close to PATH_MAX for cp/copytree")


def make_fake_wheels(dest: Path, count: int = 2, files: int = 25) -> list[Path]:
    """Tiny valid pure-Python wheels (smoke mode: no download)."""
    dest.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"wheels-{SEED}")
    wheels = []
    for n in range(count):
        name, version = f"fastlink_bench_fake{n}", "1.0"
        info = f"{name}-{version}.dist-info"
        entries: dict[str, bytes] = {f"{name}/__init__.py": b""}
        for j in range(files):
            lines = "".join(
                f"X{k} = {rng.randint(0, 1 << 30)}\n" for k in range(rng.randint(1, 80))
            )
            entries[f"{name}/sub{j % 3}/m{j:02d}.py"] = lines.encode()
        entries[f"{info}/METADATA"] = (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
        )
        entries[f"{info}/WHEEL"] = (
            b"Wheel-Version: 1.0\nGenerator: fastlink-bench\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        )
        record = []
        for path, data in entries.items():
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{path},sha256={digest.decode()},{len(data)}")
        record.append(f"{info}/RECORD,,")
        entries[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
        whl = dest / f"{name}-{version}-py3-none-any.whl"
        with zipfile.ZipFile(whl, "w", zipfile.ZIP_DEFLATED) as zf:
            for path, data in entries.items():
                zi = zipfile.ZipInfo(path, date_time=(2024, 6, 1, 0, 0, 0))
                zi.create_system = 3
                zi.external_attr = (0o100644 << 16) & 0xFFFF0000
                zi.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(zi, data)
        wheels.append(whl)
    return wheels


# --------------------------------------------------------------------------------------
# Mounts
# --------------------------------------------------------------------------------------
class Mounts:
    """Sparse images loop-mounted (and a tmpfs) in one fresh temp dir; close() undoes it."""

    def __init__(self, workdir: str | None) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="fastlink-bench-", dir=workdir))
        self.mnt: dict[str, Path] = {}
        self.info: dict[str, dict[str, Any]] = {}
        self._mounted: list[Path] = []
        self._images: list[Path] = []
        self._dirs: list[Path] = []

    def mount(self, name: str, size: int) -> Path:
        mnt = self.tmp / f"mnt-{name}"
        mnt.mkdir()
        self._dirs.append(mnt)
        mkfs = MKFS[name]
        if mkfs is None:
            argv: list[str] = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)]
        else:
            img = self.tmp / f"{name}.img"
            with open(img, "wb") as f:
                f.truncate(size)  # sparse
            self._images.append(img)
            run([*mkfs, img])
            argv = ["mount", "-o", "loop", str(img), str(mnt)]
        run(argv)
        self._mounted.append(mnt)
        entry = mount_entry(mnt)
        if entry is None or entry[0] != name:
            raise RuntimeError(f"{mnt} mounted as {entry}, expected {name}")
        self.mnt[name] = mnt
        self.info[name] = {
            "mkfs": " ".join(mkfs) if mkfs else "-",
            "size": size,
            "mount_options": entry[1],
            "image": "sparse file, loop device" if mkfs else "RAM",
        }
        return mnt

    def close(self) -> None:
        for mnt in reversed(self._mounted):
            for attempt in range(6):
                proc = subprocess.run(["umount", str(mnt)], capture_output=True, text=True)
                if proc.returncode == 0:
                    break
                time.sleep(0.5 * (attempt + 1))
            else:
                log(f"umount {mnt} failed ({proc.stderr.strip()}); lazy-unmounting")
                subprocess.run(["umount", "-l", str(mnt)], check=False)
        self._mounted.clear()
        for img in self._images:
            with contextlib.suppress(FileNotFoundError):
                img.unlink()
        # Non-recursive on purpose: never delete through a mount that is still there.
        for d in [*self._dirs, self.tmp]:
            with contextlib.suppress(OSError):
                d.rmdir()
        if self.tmp.exists():
            log(f"warning: could not remove {self.tmp}")


# --------------------------------------------------------------------------------------
# The harness
# --------------------------------------------------------------------------------------
@dataclasses.dataclass
class Workload:
    spec: WorkloadSpec
    src: dict[str, Path]  # fs name -> source root
    stats: corpus.TreeStats
    manifest: dict[str, dict[bytes, tuple[Any, ...]]]  # fs name -> manifest
    paths: list[BenchPath]
    rounds: int
    wheel_dirs: dict[str, list[Path]] = dataclasses.field(default_factory=dict)
    build_s: float = 0.0


class Harness:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.smoke: bool = args.smoke
        self.fastlink: Any = None
        self.mounts: Mounts | None = None
        self.floor: Path | None = None
        self.floor_skip_reason = ""
        self.uv: str | None = None
        self.uv_skip_reason = ""
        self.wheels: list[Path] = []
        self.wheels_on: dict[str, list[Path]] = {}
        self.samples: list[dict[str, Any]] = []
        self.skips: list[dict[str, str]] = []
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.verification: list[dict[str, Any]] = []
        self.rss: list[dict[str, Any]] = []
        self.workloads: dict[str, dict[str, Any]] = {}
        self.pending_rm: list[Path] = []
        self.started = datetime.datetime.now(datetime.timezone.utc)
        self.threads_default = default_threads()
        self.fs_info: dict[str, dict[str, Any]] = {}
        self.tmpfs_big_ok = True
        self.specs: tuple[WorkloadSpec, ...] = ()

    # ---- setup ---------------------------------------------------------------------
    def mnt(self, fs: str) -> Path:
        assert self.mounts is not None
        return self.mounts.mnt[fs]

    def setup(self) -> None:
        import fastlink

        self.fastlink = fastlink
        self.setup_floor()
        specs = SMOKE_WORKLOADS if self.smoke else FULL_WORKLOADS
        if self.args.workloads:
            wanted = set(self.args.workloads.split(","))
            unknown = wanted - {s.key for s in specs}
            if unknown:
                raise SystemExit(f"unknown workload(s): {', '.join(sorted(unknown))}")
            specs = tuple(s for s in specs if s.key in wanted)
        self.specs = specs
        if any(s.kind == "corpus" for s in specs):
            if self.smoke:
                self.wheels = []  # made on the mount in build_workload
            else:
                self.wheels = corpus.ensure_wheels(self.args.cache_dir)

        sizes = dict(SMOKE_SIZES if self.smoke else FULL_SIZES)
        for fs, size in (self.args.image_size or {}).items():
            sizes[fs] = size
        big = max((s.size for s in specs if s.kind == "big"), default=0)
        if big:
            want = big + (256 * MiB if self.smoke else 1 * GiB)
            avail = meminfo("MemAvailable")
            # The 4 GiB case keeps the source (xfs, btrfs) and the tmpfs copy in RAM at once.
            if avail and avail < 3 * big + 2 * GiB and not self.smoke:
                self.tmpfs_big_ok = False
                log(
                    f"only {fmt_bytes(avail)} of RAM available: the tmpfs leg of the "
                    f"{fmt_bytes(big)} case will be skipped"
                )
            else:
                sizes["tmpfs"] = max(sizes["tmpfs"], want)
        self.mounts = Mounts(self.args.workdir)
        self.fs_info = self.mounts.info
        log(f"workdir {self.mounts.tmp}")
        for fs in FS_NAMES:
            self.mounts.mount(fs, sizes[fs])
            for sub in ("src", "dst"):
                (self.mnt(fs) / sub).mkdir()
        log(
            "mounted "
            + ", ".join(f"{fs} ({fmt_bytes(sizes[fs])})" for fs in FS_NAMES)
            + f"; fastlink default threads = {self.threads_default}"
        )
        # One untimed data copy onto each filesystem, so no first timed run pays for a
        # fresh filesystem's first allocations.
        warm_tree = self.mnt("xfs") / "fs-warmup"
        make_synthetic(warm_tree, 300 if self.smoke else 3000, seed=SEED + 1)
        for fs in FS_NAMES:
            tmp = self.mnt(fs) / "dst" / "fs-warmup"
            run(["cp", "-a", warm_tree, tmp])
            rm_rf(tmp)
        rm_rf(warm_tree)
        os.sync()

    def setup_floor(self) -> None:
        if self.args.no_floor:
            self.floor_skip_reason = "--no-floor given"
            return
        cargo = shutil.which("cargo") or next(
            (
                str(c)
                for c in (
                    Path(os.environ.get("CARGO_HOME", "~/.cargo")).expanduser() / "bin/cargo",
                    Path(f"~{os.environ.get('SUDO_USER', '')}/.cargo/bin/cargo").expanduser(),
                )
                if c.is_file()
            ),
            None,
        )
        if not self.smoke and FLOOR_MANIFEST.is_file():
            if cargo is None:
                log("cargo not found: using a floor binary built earlier, if any")
            else:
                log("building the floor: cargo build --release --manifest-path benches/floor")
                proc = subprocess.run(
                    [cargo, "build", "--release", "--manifest-path", str(FLOOR_MANIFEST)],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if proc.returncode != 0:
                    raise SystemExit(
                        f"building the floor failed (exit {proc.returncode}):\n"
                        f"{proc.stderr.strip()[-3000:]}"
                    )
        if FLOOR_BIN.is_file() and os.access(FLOOR_BIN, os.X_OK):
            self.floor = FLOOR_BIN
            return
        reason = (
            f"{FLOOR_BIN.relative_to(REPO_DIR)} is missing"
            + ("" if FLOOR_MANIFEST.is_file() else " (no benches/floor/Cargo.toml)")
            + ("" if cargo or self.smoke else " and cargo is not installed")
        )
        if self.smoke:
            self.floor_skip_reason = reason + " (smoke mode does not build it)"
            log(f"floor skipped: {self.floor_skip_reason}")
            return
        raise SystemExit(
            f"the floor program is required for a full run: {reason}.\n"
            "Build it with `cargo build --release --manifest-path benches/floor/Cargo.toml`, "
            "or pass --no-floor to measure everything else."
        )

    def setup_uv(self, w: Workload) -> None:
        if self.args.no_uv:
            self.uv_skip_reason = "--no-uv given"
            return
        uv = shutil.which("uv", path=str(Path(sys.executable).parent))
        if uv is None:
            try:
                import uv as uv_mod

                uv = uv_mod.find_uv_bin()
            except (ImportError, FileNotFoundError):
                uv = None
        if uv is None and self.smoke:
            uv = shutil.which("uv")
        if uv is None:
            if self.smoke:
                self.uv_skip_reason = "uv is not installed (smoke mode does not install it)"
                log(f"uv skipped: {self.uv_skip_reason}")
                return
            raise SystemExit(
                f"uv is required for a full run: `{sys.executable} -m pip install uv` "
                "(make bench does it), or pass --no-uv"
            )
        self.uv = uv
        # One warm uv cache per source filesystem, filled by one (untimed) install.
        for fs in sorted({p.src_fs for p in w.paths}):
            cache = self.mnt(fs) / "uv-cache"
            venv = self.mnt(fs) / "uv-warm-venv"
            self.uv_venv(fs, venv)
            proc = self.uv_install(fs, venv, "copy")
            if proc.returncode != 0:
                raise RuntimeError(f"uv warm-up install failed: {proc.stderr.strip()}")
            rm_rf(venv)
            log(f"  uv cache on {fs} warmed: {cache} ({fmt_bytes(du(cache))})")

    def uv_env(self, fs: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX")}
        env.update(
            UV_CACHE_DIR=str(self.mnt(fs) / "uv-cache"),
            UV_PYTHON_DOWNLOADS="never",
            UV_NO_PROGRESS="1",
        )
        return env

    def uv_venv(self, fs: str, venv: Path) -> None:
        assert self.uv is not None
        run(
            [
                self.uv,
                "venv",
                "--no-config",
                "--offline",
                "--quiet",
                "--python",
                sys.executable,
                venv,
            ],
            env=self.uv_env(fs),
            cwd=self.mnt(fs),
        )

    def uv_install(self, fs: str, venv: Path, link_mode: str) -> subprocess.CompletedProcess[str]:
        assert self.uv is not None
        argv = [self.uv, "pip", "install", "--no-config", "--offline", "--no-deps"]
        argv += [f"--link-mode={link_mode}", "--python", str(venv / "bin" / "python")]
        argv += [str(p) for p in self.wheels_on[fs]]
        return subprocess.run(
            argv,
            env=self.uv_env(fs),
            cwd=self.mnt(fs),
            capture_output=True,
            text=True,
            check=False,
        )

    # ---- workloads -----------------------------------------------------------------
    def paths_for(self, spec: WorkloadSpec) -> list[BenchPath]:
        keys = [p.key for p in PATHS]
        if self.args.paths:
            keys = [k for k in self.args.paths.split(",") if k in PATH_BY_KEY]
        return [PATH_BY_KEY[k] for k in keys]

    def rounds_for(self, spec: WorkloadSpec) -> int:
        if self.smoke:
            return 1
        given = self.args.rounds_large if spec.large else self.args.rounds
        return int(given or spec.rounds)

    def build_workload(self, spec: WorkloadSpec) -> Workload:
        t0 = time.perf_counter()
        paths = self.paths_for(spec)
        src = self.mnt("xfs") / "src" / spec.key
        log(f"building {spec.key}: {spec.title}")
        if spec.kind == "corpus":
            if self.smoke:
                self.wheels = make_fake_wheels(self.mnt("xfs") / "fake-wheels-build")
            corpus.unpack_all(src, self.wheels)
        elif spec.kind == "synth":
            make_synthetic(src, spec.size)
        elif spec.kind == "big":
            make_big(src, spec.size)
        elif spec.kind == "deep":
            make_deep(src, spec.size)
        else:
            raise ValueError(spec.kind)
        os.sync()
        srcs = {"xfs": src}
        # Every other source filesystem gets a plain (non-reflinked) copy of the tree.
        for fs in sorted({p.src_fs for p in paths} - {"xfs"}):
            other = self.mnt(fs) / "src" / spec.key
            run(["cp", "-a", "--reflink=never", "--sparse=never", src, other])
            srcs[fs] = other
        os.sync()
        stats = corpus.tree_stats(src)
        manifests = {fs: corpus.tree_manifest(p) for fs, p in srcs.items()}
        for fs, p in srcs.items():
            other = corpus.tree_stats(p)
            if other != stats:
                raise RuntimeError(f"source copy on {fs} differs: {other} != {stats}")
        w = Workload(
            spec=spec,
            src=srcs,
            stats=stats,
            manifest=manifests,
            paths=paths,
            rounds=self.rounds_for(spec),
        )
        if spec.kind == "corpus":
            stems = [corpus.wheel_stem(wh) for wh in self.wheels]
            w.wheel_dirs = {fs: [root / s for s in stems] for fs, root in srcs.items()}
            for fs in srcs:
                d = self.mnt(fs) / "wheels"
                d.mkdir(exist_ok=True)
                for wh in self.wheels:
                    shutil.copy2(wh, d / wh.name)
                self.wheels_on[fs] = [d / wh.name for wh in self.wheels]
        w.build_s = time.perf_counter() - t0
        self.workloads[spec.key] = {
            "title": spec.title,
            "kind": spec.kind,
            "size": spec.size,
            "rounds": w.rounds,
            "paths": [p.key for p in paths],
            "stats": stats.as_dict(),
            "build_s": round(w.build_s, 2),
        }
        if spec.kind == "corpus":
            self.workloads[spec.key]["wheels"] = [wh.name for wh in self.wheels]
            self.workloads[spec.key]["pins"] = [] if self.smoke else list(corpus.PINS)
        log(f"  {stats.summary()}; built in {w.build_s:.1f}s")
        return w

    def warm_sources(self, w: Workload) -> None:
        t0 = time.perf_counter()
        n = sum(warm(p) for p in w.src.values())
        if w.spec.kind == "corpus" and self.uv:
            for fs in w.src:
                n += warm(self.mnt(fs) / "uv-cache")
        log(f"  page cache warmed: {fmt_bytes(n)} read in {time.perf_counter() - t0:.1f}s")

    # ---- running -------------------------------------------------------------------
    def candidates_for(self, w: Workload, p: BenchPath) -> list[str]:
        out = ["fastlink"]
        if w.spec.kind == "corpus":
            out.append("fastlink-install")
        out.append("cp")
        if p.op != "hardlink":
            out.append("copytree")
        if self.floor is not None:
            out.append("floor")
        if w.spec.kind == "corpus" and self.uv is not None:
            out.append("uv")
        if self.args.candidates:
            sel = set(self.args.candidates.split(","))
            out = [c for c in out if c in sel]
        return out

    def skip_reasons(self, w: Workload, p: BenchPath) -> dict[str, str]:
        reasons = {}
        if p.op == "hardlink":
            reasons["copytree"] = "copytree cannot hard-link"
        if self.floor is None:
            reasons["floor"] = self.floor_skip_reason
        if w.spec.kind != "corpus":
            reasons["uv"] = reasons["fastlink-install"] = "corpus only"
        elif self.uv is None:
            reasons["uv"] = self.uv_skip_reason
        return reasons

    def flush_pending(self) -> None:
        for d in self.pending_rm:
            rm_rf(d)
        self.pending_rm.clear()

    def prepare(self, w: Workload, p: BenchPath, cand: str, dst: Path) -> Path:
        """Untimed set-up of one run; returns the tree to verify afterwards."""
        if cand == "uv":
            self.uv_venv(p.src_fs, dst)
            return dst
        if cand == "fastlink-install":
            sp = dst / "lib" / "python3.11" / "site-packages"
            sp.mkdir(parents=True)
            return sp
        return dst

    def timed(
        self, w: Workload, p: BenchPath, cand: str, dst: Path, threads: int | None = None
    ) -> tuple[float, float, dict[str, Any]]:
        """Run one candidate; return (seconds reported, wall seconds, info)."""
        src = w.src[p.src_fs]
        info: dict[str, Any] = {}
        if cand == "fastlink":
            t0 = time.perf_counter()
            r = self.fastlink.clone_or_copy(src, dst, methods=p.fastlink_methods, threads=threads)
            t = time.perf_counter() - t0
            return t, t, report_info(r)
        if cand == "fastlink-install":
            reports = []
            t0 = time.perf_counter()
            for wd in w.wheel_dirs[p.src_fs]:
                reports.append(
                    self.fastlink.clone_or_copy(
                        wd, dst, methods=p.fastlink_methods, dirs_exist_ok=True
                    )
                )
            t = time.perf_counter() - t0
            info = {
                "methods": sorted({r.method for r in reports}),
                "files": sum(r.files for r in reports),
                "bytes": sum(r.bytes for r in reports),
                "calls": len(reports),
            }
            return t, t, info
        if cand == "cp":
            argv = [*p.cp_argv, str(src), str(dst)]
            t0 = time.perf_counter()
            proc = subprocess.run(argv, capture_output=True, text=True, check=False)
            t = time.perf_counter() - t0
            if proc.returncode != 0:
                raise RuntimeError(f"cp exited {proc.returncode}: {proc.stderr.strip()[:500]}")
            return t, t, info
        if cand == "copytree":
            t0 = time.perf_counter()
            shutil.copytree(src, dst, symlinks=True)
            t = time.perf_counter() - t0
            return t, t, info
        if cand == "floor":
            assert self.floor is not None
            argv = [str(self.floor), p.floor_mode, str(src), str(dst)]
            argv += ["--threads", str(threads or self.threads_default)]
            t0 = time.perf_counter()
            proc = subprocess.run(argv, capture_output=True, text=True, check=False)
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                raise RuntimeError(f"floor exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
            if not lines:
                raise RuntimeError(f"floor printed no JSON: {proc.stdout[-500:]!r}")
            rep = json.loads(lines[-1])
            return float(rep["seconds"]), wall, {"floor": rep}
        if cand == "uv":
            t0 = time.perf_counter()
            proc = self.uv_install(p.src_fs, dst, p.uv_link_mode)
            t = time.perf_counter() - t0
            if proc.returncode != 0:
                raise RuntimeError(f"uv exited {proc.returncode}: {proc.stderr.strip()[-800:]}")
            out = (proc.stderr + proc.stdout).strip()
            m = re.search(r"Installed (\d+) packages? in ([\d.]+)(ms|s)\b", out)
            if m:
                info["uv_reported_s"] = float(m.group(2)) / (1000 if m.group(3) == "ms" else 1)
            odd = [
                ln
                for ln in out.splitlines()
                if ln.strip()
                and not re.match(r"\s*(Prepared|Installed|Resolved|Audited|Using Python|\+)", ln)
            ]
            if odd:
                info["uv_output"] = odd[:10]
            return t, t, info
        raise ValueError(cand)

    def one_run(
        self,
        section: str,
        w: Workload,
        p: BenchPath,
        cand: str,
        rnd: int,
        slot: int,
        threads: int | None = None,
    ) -> None:
        suffix = f"-t{threads}" if threads else ""
        dst = self.mnt(p.dst_fs) / "dst" / f"{w.spec.key}.{p.key}.{cand}{suffix}.r{rnd}"
        self.flush_pending()
        sample: dict[str, Any] = {
            "section": section,
            "workload": w.spec.key,
            "path": p.key,
            "candidate": cand,
            "round": rnd,
            "slot": slot,
        }
        if threads:
            sample["threads"] = threads
        check_root = dst
        try:
            check_root = self.prepare(w, p, cand, dst)
            os.sync()
            used_before = used_bytes(self.mnt(p.dst_fs)) if rnd == 0 else 0
            seconds, wall, info = self.timed(w, p, cand, check_root, threads)
            sample.update(seconds=seconds, wall_s=wall, info=info)
        except Exception as e:
            sample.update(seconds=None, error=f"{type(e).__name__}: {e}")
            self.problem(f"{w.spec.key} {p.key} {cand}{suffix} round {rnd + 1}: {sample['error']}")
        self.pending_rm.append(dst)
        self.samples.append(sample)
        if sample["seconds"] is None:
            return
        shown = f"{sample['seconds']:8.3f}s"
        if cand == "floor":
            shown += f" (wall {wall:.3f}s)"
        if "method" in sample["info"]:
            shown += f"  method={sample['info']['method']}"
        log(f"    r{rnd + 1} {p.key:<15} {cand + suffix:<17}{shown}")
        if cand in ("fastlink", "fastlink-install"):
            methods = info.get("methods") or [info.get("method")]
            if any(m != p.expected_method for m in methods):
                self.problem(
                    f"{w.spec.key} {p.key} {cand}{suffix}: fastlink used {methods}, "
                    f"expected {p.expected_method!r}"
                )
        if rnd == 0:
            os.sync()
            sample["space_used_bytes"] = used_bytes(self.mnt(p.dst_fs)) - used_before
            self.verify(w, p, cand + suffix, check_root, sample)

    def problem(self, msg: str) -> None:
        log(f"PROBLEM: {msg}")
        self.problems.append(msg)

    def verify(self, w: Workload, p: BenchPath, cand: str, dst: Path, sample: dict) -> None:
        errors: list[str] = []
        expect = w.stats
        if not dst.is_dir():
            errors.append(f"{dst} missing")
        elif cand == "uv":
            errors += verify_site_packages(dst, w.wheel_dirs[p.src_fs], exact=False)
        elif cand == "fastlink-install":
            errors += verify_site_packages(dst, w.wheel_dirs[p.src_fs], exact=True)
        else:
            st = corpus.tree_stats(dst)
            for a in ("files", "dirs", "symlinks", "bytes"):
                if getattr(st, a) != getattr(expect, a):
                    errors.append(f"{a}={getattr(st, a)} but the source has {getattr(expect, a)}")
            if cand.startswith("fastlink"):
                info = sample.get("info", {})
                for a in ("files", "bytes"):
                    if info.get(a) != getattr(expect, a):
                        errors.append(f"report.{a}={info.get(a)} != {getattr(expect, a)}")
                man = corpus.tree_manifest(dst)
                ref = w.manifest[p.src_fs]
                if man != ref:
                    diff = [k for k in set(man) | set(ref) if man.get(k) != ref.get(k)]
                    ex = sorted(diff)[:2]
                    errors.append(
                        f"{len(diff)} entries differ from the source (kind/mode/size/mtime), "
                        f"e.g. {[(os.fsdecode(k), man.get(k), ref.get(k)) for k in ex]}"
                    )
            if p.op == "hardlink" and cand in ("fastlink", "cp", "floor") and not errors:
                f = first_file(dst)
                if f is not None and os.stat(f).st_nlink < 2:
                    errors.append(f"{f} is not hard-linked (st_nlink = 1)")
        ok = not errors
        self.verification.append(
            {"workload": w.spec.key, "path": p.key, "candidate": cand, "ok": ok, "errors": errors}
        )
        sample["verified"] = ok
        for e in errors:
            self.problem(f"{w.spec.key} {p.key} {cand}: verification: {e}")

    def run_workload(self, w: Workload) -> None:
        t0 = time.perf_counter()
        plan: list[tuple[BenchPath, list[str]]] = []
        for p in w.paths:
            if w.spec.kind == "big" and p.dst_fs == "tmpfs" and not self.tmpfs_big_ok:
                self.skip(w, p, "*", "not enough RAM for a tmpfs holding the big file")
                continue
            cands = self.candidates_for(w, p)
            for cand, why in self.skip_reasons(w, p).items():
                if cand not in cands:
                    self.skip(w, p, cand, why, quiet=True)
            plan.append((p, cands))
        for rnd in range(w.rounds):
            log(f"  {w.spec.key}: round {rnd + 1}/{w.rounds}")
            for p, cands in plan:
                k = rnd % len(cands)
                for slot, cand in enumerate(cands[k:] + cands[:k]):
                    self.one_run("main", w, p, cand, rnd, slot)
        self.flush_pending()
        log(f"  {w.spec.key} done in {time.perf_counter() - t0:.0f}s")

    def skip(self, w: Workload, p: BenchPath, cand: str, why: str, quiet: bool = False) -> None:
        self.skips.append({"workload": w.spec.key, "path": p.key, "candidate": cand, "reason": why})
        if not quiet:
            log(f"  skipped: {w.spec.key} {p.key} {cand}: {why}")

    def run_threads(self, w: Workload) -> None:
        threads = [int(t) for t in self.args.threads_list.split(",")]
        paths = [PATH_BY_KEY[k] for k in THREAD_PATHS if PATH_BY_KEY[k] in w.paths]
        log(f"thread sweep on {w.spec.key}: threads {threads}, {self.args.thread_rounds} rounds")
        for rnd in range(self.args.thread_rounds):
            for p in paths:
                k = rnd % len(threads)
                for slot, t in enumerate(threads[k:] + threads[:k]):
                    self.one_run("threads", w, p, "fastlink", rnd, slot, threads=t)
        self.flush_pending()

    def run_rss(self, w: Workload) -> None:
        """Peak RSS of a fresh process doing one call, fastlink's and its peers'."""
        log(f"peak RSS on {w.spec.key}")
        script = (
            "import json, sys, time\n"
            "import fastlink\n"
            "src, dst, methods = sys.argv[1:4]\n"
            "out = {}\n"
            "if src != '-':\n"
            "    t0 = time.perf_counter()\n"
            "    r = fastlink.clone_or_copy(src, dst, methods=None if methods == 'default'"
            " else methods)\n"
            "    out = {'seconds': time.perf_counter() - t0, 'method': r.method,"
            " 'files': r.files}\n"
            "print(json.dumps(out))\n"
        )
        runs: list[tuple[str, str, list[str], Path | None]] = [
            ("python + import fastlink (baseline)", "-", [], None)
        ]
        for key in RSS_PATHS:
            p = PATH_BY_KEY[key]
            if p not in w.paths:
                continue
            dst = self.mnt(p.dst_fs) / "dst" / f"rss.{key}"
            src = str(w.src[p.src_fs])
            runs.append((f"fastlink {p.label}", key, [src, str(dst), "default"], dst))
            runs.append((f"cp -a {p.label}", key, [*p.cp_argv, src, str(dst)], dst))
            if self.floor is not None:
                argv = [str(self.floor), p.floor_mode, src, str(dst)]
                argv += ["--threads", str(self.threads_default)]
                runs.append((f"floor {p.label}", key, argv, dst))
        for what, key, argv, dst in runs:
            self.flush_pending()
            os.sync()
            if what.startswith(("fastlink", "python")):
                full = [sys.executable, "-c", script, *(argv or ["-", "-", "-"])]
            else:
                full = argv
            maxrss_kib, wall, rc, err = max_rss(full)
            if dst is not None:
                self.pending_rm.append(dst)
            rec = {
                "what": what,
                "path": key,
                "workload": w.spec.key,
                "files": w.stats.files,
                "maxrss_kib": maxrss_kib,
                "wall_s": wall,
                "exit": rc,
                "measured_by": RSS_METHOD,
            }
            if rc != 0:
                self.problem(f"RSS run {what!r} exited {rc}: {err[-300:]}")
            self.rss.append(rec)
            log(f"    {what:<45} peak RSS {maxrss_kib / 1024:7.1f} MiB  ({wall:.2f}s)")
        self.flush_pending()

    # ---- the whole run --------------------------------------------------------------
    def run(self) -> None:
        self.setup()
        for spec in self.specs:
            if spec.kind == "big":
                continue  # last: 2 x 4 GiB of sources push everything else out of the cache
            self.run_spec(spec)
        for spec in self.specs:
            if spec.kind == "big":
                self.run_spec(spec)

    def run_spec(self, spec: WorkloadSpec) -> None:
        w = self.build_workload(spec)
        if spec.kind == "corpus":
            self.setup_uv(w)
        self.warm_sources(w)
        self.run_workload(w)
        if spec.kind == "corpus" and not self.args.skip_threads:
            self.run_threads(w)
        rss_key = "synth-200" if self.smoke else "synth-100k"
        if spec.key == rss_key and not self.args.skip_rss:
            self.run_rss(w)

    def close(self) -> None:
        if self.mounts is not None:
            self.pending_rm.clear()  # the destinations go with their filesystems
            self.mounts.close()
            self.mounts = None

    def result(self, aborted: str | None = None) -> dict[str, Any]:
        finished = datetime.datetime.now(datetime.timezone.utc)
        return {
            "schema": SCHEMA,
            "mode": "smoke" if self.smoke else "full",
            "aborted": aborted,
            "started": self.started.isoformat(timespec="seconds"),
            "finished": finished.isoformat(timespec="seconds"),
            "wall_s": round((finished - self.started).total_seconds(), 1),
            "argv": sys.argv[1:],
            "machine": machine_info(),
            "versions": versions(self.fastlink, self.uv, self.floor),
            "filesystems": self.fs_info,
            "config": {
                "rounds": self.args.rounds,
                "rounds_large": self.args.rounds_large,
                "thread_rounds": self.args.thread_rounds,
                "threads_list": self.args.threads_list,
                "fastlink_default_threads": self.threads_default,
                "floor_threads": self.threads_default,
                "floor": str(self.floor) if self.floor else None,
                "floor_skip_reason": self.floor_skip_reason,
                "uv": self.uv,
                "uv_skip_reason": self.uv_skip_reason,
                "tmpfs_big_ok": self.tmpfs_big_ok,
            },
            "paths": [dataclasses.asdict(p) | {"label": p.label} for p in PATHS],
            "workloads": self.workloads,
            "samples": self.samples,
            "skips": self.skips,
            "verification": self.verification,
            "rss": self.rss,
            "problems": self.problems,
            "notes": self.notes,
        }


GNU_TIME = "/usr/bin/time"
RSS_METHOD = (
    "GNU time %M"
    if os.access(GNU_TIME, os.X_OK)
    and subprocess.run([GNU_TIME, "-f", "%M", "true"], capture_output=True, check=False).returncode
    == 0
    else "wait4 (an upper bound: a child spawned from the harness inherits its peak RSS)"
)


def max_rss(argv: list[str]) -> tuple[int, float, int, str]:
    """Run *argv*; return (peak RSS in KiB, wall seconds, exit code, stderr).

    The measurement goes through GNU time, which forks the command from its own small
    process: on Linux a child spawned straight from this (large) Python process starts
    with our peak RSS as its own ru_maxrss (exec records the old mm's high-water mark).
    """
    if RSS_METHOD.startswith("GNU"):
        with tempfile.NamedTemporaryFile("r") as tf:
            t0 = time.perf_counter()
            proc = subprocess.run(
                [GNU_TIME, "-f", "%M", "-o", tf.name, *argv],
                capture_output=True,
                text=True,
                check=False,
            )
            wall = time.perf_counter() - t0
            kib = int(tf.read().split()[-1])
        return kib, wall, proc.returncode, proc.stderr
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert p.stderr is not None
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return ru.ru_maxrss, time.perf_counter() - t0, p.returncode, err


def report_info(r: Any) -> dict[str, Any]:
    out = {
        a: getattr(r, a, None)
        for a in ("method", "files", "dirs", "symlinks", "bytes", "reflinked", "hardlinked")
    }
    out["copied"] = getattr(r, "copied", None)
    out["elapsed"] = getattr(r, "elapsed", None)
    out["skipped"] = [list(s) for s in getattr(r, "skipped", ())]
    return out


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


def verify_site_packages(sp: Path, wheel_dirs: list[Path], *, exact: bool) -> list[str]:
    """Every file of the unpacked wheels is in *sp* with its size.

    exact (fastlink-install): the same files and bytes, nothing else. Otherwise (uv):
    `*.data/` trees (installed elsewhere) and RECORD files (rewritten) are not compared.
    """
    if not exact:  # uv: sp is the venv
        found = sorted(sp.glob("lib/python*/site-packages"))
        if not found:
            return [f"no site-packages under {sp}"]
        sp = found[0]
    missing = wrong = n = 0
    expect_files = expect_bytes = 0
    for wd in wheel_dirs:
        for dirpath, dirs, files in os.walk(wd):
            rel_dir = os.path.relpath(dirpath, wd)
            if not exact:
                dirs[:] = [d for d in dirs if not (rel_dir == "." and d.endswith(".data"))]
            for name in files:
                rel = os.path.normpath(os.path.join(rel_dir, name))
                if not exact and name == "RECORD" and rel_dir.endswith(".dist-info"):
                    continue
                size = os.lstat(os.path.join(dirpath, name)).st_size
                expect_files += 1
                expect_bytes += size
                n += 1
                try:
                    st = os.lstat(sp / rel)
                except FileNotFoundError:
                    missing += 1
                    continue
                if st.st_size != size:
                    wrong += 1
    errors = []
    if missing or wrong:
        errors.append(f"{missing} of {n} wheel files missing, {wrong} with another size in {sp}")
    if exact:
        st = corpus.tree_stats(sp)
        if (st.files, st.bytes) != (expect_files, expect_bytes):
            errors.append(
                f"site-packages has {st.files} files / {st.bytes} bytes, "
                f"expected {expect_files} / {expect_bytes}"
            )
    return errors


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


# --------------------------------------------------------------------------------------
# Report: BENCHMARKS.md and the chart, from bench.json alone
# --------------------------------------------------------------------------------------
def medians(data: dict[str, Any], section: str = "main") -> dict[tuple[Any, ...], dict]:
    groups: dict[tuple[Any, ...], list[float]] = defaultdict(list)
    for s in data["samples"]:
        if s["section"] != section or s.get("seconds") is None:
            continue
        last = s["candidate"] if section == "main" else s["threads"]
        groups[(s["workload"], s["path"], last)].append(s["seconds"])
    return {
        k: {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}
        for k, v in groups.items()
    }


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 0.01:
        return f"{x:.3f}"
    return f"{x:.4f}"


def fmt_ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "-"
    r = a / b
    return f"**{r:.2f}**" if r < 1 else f"{r:.2f}"


def path_label(data: dict[str, Any], key: str) -> str:
    for p in data["paths"]:
        if p["key"] == key:
            return str(p["label"])
    return key


def render_markdown(data: dict[str, Any], chart_link: bool = False) -> str:
    med = medians(data)
    tmed = medians(data, "threads")
    m = data["machine"]
    v = data["versions"]
    wl = data["workloads"]
    path_keys = [p["key"] for p in data["paths"]]
    L: list[str] = []
    add = L.append
    title = "fastlink benchmarks" + (
        " (SMOKE RUN: tiny trees, not real numbers)" if data["mode"] == "smoke" else ""
    )
    add(f"# {title}")
    add("")
    add(
        f"Generated by `benches/run_benchmarks.py` on {data['started'][:10]} "
        f"(run took {data['wall_s'] / 60:.1f} min): {m['cores']} cores ({m['cpu']}), "
        f"{fmt_bytes(m['ram_bytes'])} RAM, Linux {m['kernel']}, Python {v['python']}, "
        f"fastlink {v['fastlink']} ({v.get('fastlink_commit', '?')}), {v['uv']}. "
        "Times are medians of the rounds; every sample is in `benches/results/bench.json`."
    )
    if data.get("aborted"):
        add("")
        add(f"**This run was aborted: {data['aborted']}. The tables are incomplete.**")

    # Headline
    if "corpus" in wl:
        c = wl["corpus"]
        st = c["stats"]
        add("")
        add("## Headline: the 6-wheel corpus")
        add("")
        add(
            f"{c['title']}: {st['files']:,} files, {st['dirs']:,} directories, "
            f"{st['bytes'] / 1e6:.1f} MB, unpacked on the source filesystem; "
            f"{plural(c['rounds'], 'round')}. Each cell is fastlink's median time divided by the "
            "other tool's (**< 1: fastlink is faster**; against the floor, > 1 is fastlink's "
            "overhead over the bare syscalls). The last column compares uv's "
            "`uv pip install` of the six wheels with fastlink placing the same six unpacked "
            "wheels into a fresh site-packages (fastlink-install)."
        )
        add("")
        add(
            "| path | fastlink (s) | ÷ cp -a | ÷ copytree | ÷ floor | uv (s) "
            "| fastlink-install (s) | fastlink-install ÷ uv |"
        )
        add("|---|---:|---:|---:|---:|---:|---:|---:|")
        for pk in path_keys:
            fl = med.get(("corpus", pk, "fastlink"))
            if not fl:
                continue

            def g(cand: str, pk: str = pk) -> float | None:
                x = med.get(("corpus", pk, cand))
                return x["median"] if x else None

            add(
                f"| {path_label(data, pk)} | {fmt_s(fl['median'])} | "
                f"{fmt_ratio(fl['median'], g('cp'))} | {fmt_ratio(fl['median'], g('copytree'))} "
                f"| {fmt_ratio(fl['median'], g('floor'))} | {fmt_s(g('uv'))} | "
                f"{fmt_s(g('fastlink-install'))} | {fmt_ratio(g('fastlink-install'), g('uv'))} |"
            )
        if chart_link:
            add("")
            add("![corpus benchmark chart](docs/benchmarks.png)")

    # Machine
    add("")
    add("## Machine")
    add("")
    add("| | |")
    add("|---|---|")
    add(f"| CPU | {m['cpu']}, {m['cores']} cores ({m.get('cores_usable')} usable) |")
    add(f"| RAM | {fmt_bytes(m['ram_bytes'])} |")
    add(f"| OS / kernel | {m['os']}, Linux {m['kernel']} ({m['arch']}) |")
    add(f"| virtualization | {m.get('virtualization', '?')} |")
    add(f"| disk under the images | {m.get('root_fs', '?')} (the VM's root disk) |")
    for k, val in v.items():
        add(f"| {k} | {val} |")
    add("")
    add("Filesystems (each a sparse image file on a loop device, except tmpfs):")
    add("")
    add("| fs | mkfs | size | mount options |")
    add("|---|---|---:|---|")
    for fs, info in data["filesystems"].items():
        add(f"| {fs} | `{info['mkfs']}` | {fmt_bytes(info['size'])} | `{info['mount_options']}` |")

    # Method
    cfg = data["config"]
    add("")
    add("## Method")
    add("")
    add(
        "All candidates run on the same source tree in the same run, interleaved: in every "
        "round each (path, candidate) pair runs once, the candidate order rotated by one per "
        "round. Before every timed run the previous destination is removed and `sync` is run "
        "(cloning dirty data is much slower); the source was read once beforehand, so it is "
        "in the page cache. Writeback of a copy happens in the untimed `sync` that follows "
        "it. Each candidate's first-round output is checked (file, directory, symlink counts "
        "and bytes; fastlink's also entry by entry: kind, mode, size, mtime)."
    )
    add("")
    for cand in CANDIDATES:
        add(f"- **{cand}**: {CANDIDATE_DESCRIPTIONS[cand]}")
    add(
        f"- threads: fastlink's default ({cfg['fastlink_default_threads']} here); the floor "
        f"gets `--threads {cfg['floor_threads']}`."
    )
    if cfg.get("floor_skip_reason"):
        add(f"- **The floor was not measured**: {cfg['floor_skip_reason']}.")
    if cfg.get("uv_skip_reason"):
        add(f"- **uv was not measured**: {cfg['uv_skip_reason']}.")

    # Per workload tables
    add("")
    add("## All results (median seconds)")
    for wk, info in wl.items():
        st = info["stats"]
        cands = [c for c in CANDIDATES if any((wk, pk, c) in med for pk in path_keys)]
        if not cands:
            continue
        add("")
        add(f"### {wk}: {info['title']}")
        add("")
        add(
            f"{plural(st['files'], 'file')}, {plural(st['dirs'], 'dir')}, "
            f"{fmt_bytes(st['bytes'])}; "
            f"{plural(info['rounds'], 'round')}; source built in {info['build_s']:.0f}s."
        )
        add("")
        add("| path | " + " | ".join(CANDIDATE_LABELS[c] for c in cands) + " |")
        add("|---|" + "---:|" * len(cands))
        for pk in info["paths"]:
            row = []
            for cnd in cands:
                x = med.get((wk, pk, cnd))
                cell = fmt_s(x["median"]) if x else "-"
                if x and x["n"] > 1 and x["max"] > 1.5 * x["min"] and x["min"] > 0.01:
                    cell += f" ({fmt_s(x['min'])}-{fmt_s(x['max'])})"
                row.append(cell)
            if any(c != "-" for c in row):
                add(f"| {path_label(data, pk)} | " + " | ".join(row) + " |")
        skipped = [s for s in data["skips"] if s["workload"] == wk and s["candidate"] == "*"]
        for s in skipped:
            add("")
            add(f"Skipped {path_label(data, s['path'])}: {s['reason']}.")
    add("")
    add("A range (min-max) is shown where the slowest round took over 1.5x the fastest.")

    # Space
    space = {
        (s["path"], s["candidate"]): s["space_used_bytes"]
        for s in data["samples"]
        if s["section"] == "main" and s["workload"] == "corpus" and "space_used_bytes" in s
    }
    if space:
        cands = [c for c in CANDIDATES if any(c == k[1] for k in space)]
        add("")
        add("## Space used by one corpus copy")
        add("")
        add(
            "Growth of the destination filesystem's used blocks (`statvfs`, after `sync`) "
            "from one first-round run: a clone or hard link shares the data blocks."
        )
        add("")
        add("| path | " + " | ".join(CANDIDATE_LABELS[c] for c in cands) + " |")
        add("|---|" + "---:|" * len(cands))
        for pk in path_keys:
            cells = [f"{space[(pk, c)] / MiB:.0f} MiB" if (pk, c) in space else "-" for c in cands]
            if any(c != "-" for c in cells):
                add(f"| {path_label(data, pk)} | " + " | ".join(cells) + " |")

    # Threads
    if tmed:
        add("")
        add("## Threads (corpus)")
        add("")
        tpaths = sorted({k[1] for k in tmed}, key=path_keys.index)
        threads = sorted({k[2] for k in tmed})
        add("| threads | " + " | ".join(path_label(data, pk) for pk in tpaths) + " |")
        add("|---:|" + "---:|" * len(tpaths))
        best = {
            pk: min((tmed[(w, p, t)]["median"], t) for (w, p, t) in tmed if p == pk)[1]
            for pk in tpaths
        }
        for t in threads:
            cells = []
            for pk in tpaths:
                x = tmed.get(("corpus", pk, t))
                s = fmt_s(x["median"]) if x else "-"
                cells.append(f"**{s}**" if best[pk] == t else s)
            mark = " (default)" if t == cfg["fastlink_default_threads"] else ""
            add(f"| {t}{mark} | " + " | ".join(cells) + " |")
        add("")
        add(
            f"Median seconds of `clone_or_copy(..., threads=N)`, "
            f"{plural(cfg['thread_rounds'], 'round')}; fastest in bold."
        )

    # RSS
    if data["rss"]:
        add("")
        add("## Peak memory")
        add("")
        r0 = data["rss"][0]
        add(
            f"Peak RSS of a fresh process making one call on the {r0['workload']} tree "
            f"({r0['files']:,} files), measured with {r0.get('measured_by', 'wait4')}."
        )
        add("")
        add("| process | peak RSS | wall (s) |")
        add("|---|---:|---:|")
        for r in data["rss"]:
            add(f"| {r['what']} | {r['maxrss_kib'] / 1024:.1f} MiB | {r['wall_s']:.2f} |")

    # Scaling
    synth = [wk for wk, info in wl.items() if info["kind"] in SCALING_KINDS]
    if synth:
        add("")
        add("## Scaling: time per file (µs)")
        add("")
        cols = [
            ("xfs-reflink", "fastlink"),
            ("xfs-btrfs-copy", "fastlink"),
            ("xfs-reflink", "floor"),
            ("xfs-btrfs-copy", "floor"),
            ("xfs-reflink", "cp"),
            ("xfs-btrfs-copy", "cp"),
        ]
        cols = [c for c in cols if any((wk, *c) in med for wk in synth)]
        add(
            "| files | "
            + " | ".join(f"{CANDIDATE_LABELS[c]} {path_label(data, pk)}" for pk, c in cols)
            + " |"
        )
        add("|---:|" + "---:|" * len(cols))
        for wk in sorted(synth, key=lambda k: wl[k]["stats"]["files"]):
            n = wl[wk]["stats"]["files"]
            cells = []
            for pk, c in cols:
                x = med.get((wk, pk, c))
                cells.append(f"{x['median'] / n * 1e6:.1f}" if x else "-")
            add(f"| {n:,} | " + " | ".join(cells) + " |")

    # Problems, skips, notes
    add("")
    add("## Checks")
    add("")
    bad = [x for x in data["verification"] if not x["ok"]]
    add(
        f"{len(data['verification'])} first-round outputs verified, "
        f"{len(bad)} failed. {len(data['problems'])} problem(s) recorded."
    )
    for pr in data["problems"][:40]:
        add(f"- {pr}")
    uv_out = sorted(
        {
            line
            for s in data["samples"]
            if s["candidate"] == "uv"
            for line in s.get("info", {}).get("uv_output", [])
        }
    )
    if uv_out:
        add("")
        add("uv printed:")
        add("")
        for line in uv_out[:10]:
            add(f"    {line}")
    for note in data.get("notes", []):
        add(f"- {note}")
    add("")
    add("## How to rerun")
    add("")
    add(
        "`make bench` (as root or with sudo: installs the `bench` extra, builds "
        f"benches/floor, runs `benches/run_benchmarks.py`; {data['wall_s'] / 60:.0f} min "
        "here); "
        "`python benches/run_benchmarks.py --report-only` re-renders this file and the chart "
        "from `benches/results/bench.json`."
    )
    add("")
    return "\n".join(L)


CHART_COLORS = {
    "fastlink": "#d62728",
    "fastlink-install": "#ff9896",
    "cp": "#1f77b4",
    "copytree": "#7f7f7f",
    "floor": "#2ca02c",
    "uv": "#9467bd",
}


def render_chart(data: dict[str, Any], out: Path) -> str:
    """Grouped bars of the corpus medians per path -> "ok", "no matplotlib" or "no corpus"."""
    med = medians(data)
    paths = [p for p in data["paths"] if ("corpus", p["key"], "fastlink") in med]
    if not paths:
        return "no corpus"
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "no matplotlib"
    cands = [c for c in CANDIDATES if any(("corpus", p["key"], c) in med for p in paths)]
    fig, ax = plt.subplots(figsize=(12, 5.2), dpi=110)
    width = 0.8 / len(cands)
    for i, c in enumerate(cands):
        xs, ys = [], []
        for j, p in enumerate(paths):
            x = med.get(("corpus", p["key"], c))
            if x:
                xs.append(j - 0.4 + width * (i + 0.5))
                ys.append(x["median"])
        bars = ax.bar(xs, ys, width * 0.92, label=CANDIDATE_LABELS[c], color=CHART_COLORS[c])
        for b, y in zip(bars, ys):
            ax.text(
                b.get_x() + b.get_width() / 2,
                y,
                f"{y:.2f}" if y >= 0.1 else f"{y:.3f}",
                ha="center",
                va="bottom",
                fontsize=6.5,
                rotation=90,
            )
    ax.set_xticks(range(len(paths)))
    ax.set_xticklabels([p["label"].replace(" ", "\n", 1) for p in paths], fontsize=9)
    ax.set_ylabel("median seconds (lower is better)")
    st = data["workloads"]["corpus"]["stats"]
    ax.set_title(
        f"Placing the 6-wheel corpus ({st['files']:,} files, {st['bytes'] / 1e6:.0f} MB): "
        f"fastlink vs cp, copytree, the floor and uv"
        + (" — SMOKE RUN" if data["mode"] == "smoke" else ""),
        fontsize=11,
    )
    ax.set_ylim(0, ax.get_ylim()[1] * 1.12)
    ax.legend(ncol=len(cands), fontsize=9, loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    m = data["machine"]
    fig.text(
        0.99,
        0.01,
        f"{m['cores']} cores, Linux {m['kernel']}, {data['started'][:10]}",
        ha="right",
        fontsize=7,
        color="#555",
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return "ok"


def write_outputs(data: dict[str, Any], out_dir: Path, markdown: Path | None) -> None:
    """Render BENCHMARKS.md and the chart from *data* (bench.json).

    Only a complete full run in the default results dir is published: BENCHMARKS.md at
    the repo root and the chart copied to docs/. Anything else (smoke, aborted, another
    --out-dir) keeps both next to its bench.json.
    """
    smoke = data["mode"] == "smoke"
    publish = not smoke and not data.get("aborted") and out_dir.resolve() == RESULTS_DIR.resolve()
    chart = out_dir / "chart.png"
    drawn = render_chart(data, chart)
    if drawn == "ok":
        log(f"wrote {chart}")
        if publish:
            DOCS_CHART.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(chart, DOCS_CHART)
            log(f"copied to {DOCS_CHART}")
    elif drawn == "no matplotlib" and not smoke:
        raise SystemExit("matplotlib is needed for the chart: pip install matplotlib")
    else:
        log(f"chart skipped: {drawn}")
    if markdown is None:
        markdown = REPO_DIR / "BENCHMARKS.md" if publish else out_dir / "BENCHMARKS.md"
    markdown.write_text(render_markdown(data, chart_link=publish))
    log(f"wrote {markdown}")


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny trees, 1 round, no uv download")
    ap.add_argument("--report-only", action="store_true", help="re-render from bench.json")
    ap.add_argument("--out-dir", type=Path, help="bench.json + chart.png (default benches/results)")
    ap.add_argument("--markdown", type=Path, help="where to write BENCHMARKS.md")
    ap.add_argument("--rounds", type=int, help="rounds of the small workloads (default 5)")
    ap.add_argument(
        "--rounds-large", type=int, help="rounds of the 100k tree (default 1) and 4 GiB file (2)"
    )
    ap.add_argument("--thread-rounds", type=int, help="rounds of the thread sweep (default 3)")
    ap.add_argument("--threads-list", default="1,2,4,8,16")
    ap.add_argument("--workloads", help="comma list of workload keys to run")
    ap.add_argument("--paths", help=f"comma list of: {','.join(PATH_BY_KEY)}")
    ap.add_argument("--candidates", help=f"comma list of: {','.join(CANDIDATES)}")
    ap.add_argument("--no-floor", action="store_true", help="measure without the floor program")
    ap.add_argument("--no-uv", action="store_true", help="measure without uv")
    ap.add_argument("--skip-threads", action="store_true")
    ap.add_argument("--skip-rss", action="store_true")
    ap.add_argument("--workdir", help="where the temp dir with images goes (default $TMPDIR)")
    ap.add_argument(
        "--image-size",
        action="append",
        metavar="FS=SIZE",
        help="override an image/tmpfs size, e.g. xfs=20G (repeatable)",
    )
    ap.add_argument("--cache-dir", type=Path, default=corpus.DEFAULT_CACHE_DIR)
    ap.add_argument("--print-requirements", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.thread_rounds = args.thread_rounds or (1 if args.smoke else 3)
    if args.smoke and args.threads_list == "1,2,4,8,16":
        args.threads_list = "1,4"
    sizes = {}
    for item in args.image_size or []:
        fs, _, size = item.partition("=")
        if fs not in FS_NAMES:
            ap.error(f"--image-size: unknown filesystem {fs!r}")
        sizes[fs] = parse_size(size)
    args.image_size = sizes
    if args.paths:
        bad = set(args.paths.split(",")) - set(PATH_BY_KEY)
        if bad:
            ap.error(f"unknown path(s): {', '.join(sorted(bad))}")
    if args.out_dir is None:
        args.out_dir = SMOKE_RESULTS_DIR if args.smoke else RESULTS_DIR
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.print_requirements:
        print("\n".join(bench_requirements()))
        return 0
    json_path = args.out_dir / "bench.json"
    if args.report_only:
        data = json.loads(json_path.read_text())
        write_outputs(data, args.out_dir, args.markdown)
        return 0
    if os.geteuid() != 0:
        print("run_benchmarks.py must run as root (it loop-mounts filesystems)", file=sys.stderr)
        return 2
    missing = [
        t for t in ("mkfs.xfs", "mkfs.btrfs", "mkfs.ext4", "mount", "cp") if not shutil.which(t)
    ]
    if missing:
        print(f"missing tools: {', '.join(missing)}", file=sys.stderr)
        return 2
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))  # copytree on the deep tree

    def on_signal(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)  # unwinds through the finally below

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    h = Harness(args)
    aborted: str | None = None
    try:
        h.run()
    except BaseException as e:
        aborted = f"{type(e).__name__}: {e}"
        raise
    finally:
        try:
            h.close()
        finally:
            data = h.result(aborted)
            args.out_dir.mkdir(parents=True, exist_ok=True)
            target = json_path if not aborted else args.out_dir / "bench.aborted.json"
            target.write_text(json.dumps(data, indent=1, default=str) + "\n")
            log(f"wrote {target}")
    write_outputs(data, args.out_dir, args.markdown)
    log(f"done in {data['wall_s'] / 60:.1f} min; {len(data['problems'])} problem(s)")
    return 1 if data["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
