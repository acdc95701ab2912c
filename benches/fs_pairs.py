"""The filesystem pairs a placement is measured on, and what each candidate runs there.

A pair is a source filesystem, a destination filesystem and the operation that pair is
about: a reflink clone within XFS or btrfs, a hard link within XFS, or a copy across
filesystems. Test modules parametrise over these; conftest.py mounts them.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
FLOOR_BIN = BENCH_DIR / "floor" / "target" / "release" / "fastlink-floor"
# What fastlink's `threads=None` means (crates/fastlink-core/src/pool.rs): one per usable
# core, 2 to 16. The floor is given as many.
DEFAULT_THREADS = max(2, min(16, len(os.sched_getaffinity(0))))


@dataclasses.dataclass(frozen=True)
class FsPair:
    key: str
    src_fs: str
    dst_fs: str
    op: str  # "reflink" | "hardlink" | "copy"

    @property
    def label(self) -> str:
        return f"{self.src_fs} → {self.dst_fs} {self.op}"

    @property
    def methods(self) -> str | None:
        """fastlink's `methods=`: None is its default, reflink falling back to copy."""
        return "hardlink" if self.op == "hardlink" else None

    @property
    def cp_argv(self) -> list[str]:
        return ["cp", "-al"] if self.op == "hardlink" else ["cp", "-a", "--reflink=auto"]

    @property
    def floor_mode(self) -> str:
        return {"reflink": "clone", "hardlink": "hardlink", "copy": "copy"}[self.op]

    def floor_argv(self, src: Path, dst: Path, threads: int = DEFAULT_THREADS) -> list[str]:
        return [str(FLOOR_BIN), self.floor_mode, str(src), str(dst), "--threads", str(threads)]

    @property
    def uv_link_mode(self) -> str:
        return {"reflink": "clone", "hardlink": "hardlink", "copy": "copy"}[self.op]


PAIRS = {
    p.key: p
    for p in (
        FsPair("xfs-reflink", "xfs", "xfs", "reflink"),
        FsPair("btrfs-reflink", "btrfs", "btrfs", "reflink"),
        FsPair("xfs-hardlink", "xfs", "xfs", "hardlink"),
        FsPair("xfs-btrfs-copy", "xfs", "btrfs", "copy"),
        FsPair("xfs-tmpfs-copy", "xfs", "tmpfs", "copy"),
        FsPair("xfs-ext4-copy", "xfs", "ext4", "copy"),
    )
}
