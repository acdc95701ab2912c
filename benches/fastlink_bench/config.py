"""What is measured where: the filesystems, the source-destination paths, the workloads
and the candidates of the main comparison, and where the outputs go."""

from __future__ import annotations

import dataclasses
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
BENCH_DIR = PACKAGE_DIR.parent
REPO_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
SMOKE_RESULTS_DIR = RESULTS_DIR / "smoke"
DOCS_CHART = REPO_DIR / "docs" / "benchmarks.png"
FLOOR_DIR = BENCH_DIR / "floor"
FLOOR_MANIFEST = FLOOR_DIR / "Cargo.toml"
FLOOR_BIN = FLOOR_DIR / "target" / "release" / "fastlink-floor"
KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
SEED = 20240601
SCHEMA = 1

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

CANDIDATES = ("fastlink", "cp", "copytree", "floor")
CANDIDATE_LABELS = {
    "fastlink": "fastlink",
    "cp": "cp -a",
    "copytree": "copytree",
    "floor": "floor",
}
CANDIDATE_DESCRIPTIONS = {
    "fastlink": '`fastlink.clone_or_copy(src, dst)` (`methods="hardlink"` on the hardlink '
    "path), timed in-process",
    "cp": "`cp -a --reflink=auto` (`cp -al` on the hardlink path), process included",
    "copytree": "`shutil.copytree(src, dst, symlinks=True)` (not on the hardlink path)",
    "floor": "benches/floor, the lower bound: a Rust program doing only a getdents64 walk, "
    "mkdirat, and per file FICLONE / linkat / copy_file_range (sendfile across filesystem "
    "types) on N threads; no metadata (modes, times), no checks, no staging or rollback; "
    "timed by its own reported seconds (walk + mkdir + file work, process start excluded)",
}
PEERS = ("cp", "copytree", "floor")
