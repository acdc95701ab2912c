"""`fastlink.copytree` against `shutil.copytree`, the call it stands in for: both with
their defaults (symlinks=False, copy_function=shutil.copy2), in-process, one tree per
call, on the pairs a copytree caller meets: a clone within XFS or btrfs, a copy across
filesystems. The first round's outputs are checked against the source (counts and
bytes)."""

from __future__ import annotations

import shutil

import corpus
import fastlink
import pytest
from fs_pairs import PAIRS

ROUNDS = 7
CANDIDATES = ("fastlink", "copytree")
COPYTREE_PAIRS = ("xfs-reflink", "btrfs-reflink", "xfs-btrfs-copy")
WORKLOADS = ("corpus", "synth-10k", "deep-1000")


@pytest.mark.parametrize("candidate", CANDIDATES)
@pytest.mark.parametrize("pair", [PAIRS[k] for k in COPYTREE_PAIRS], ids=COPYTREE_PAIRS)
@pytest.mark.parametrize("workload", WORKLOADS)
def test_copytree(workload, pair, candidate, round_, sources, mount, timed_round):
    src = sources.tree(workload, pair.src_fs)
    dst = mount(pair.dst_fs) / "dst" / f"{workload}.{pair.key}.copytree-{candidate}"
    dst.parent.mkdir(exist_ok=True)
    target = {
        "fastlink": lambda: fastlink.copytree(src, dst),
        "copytree": lambda: shutil.copytree(src, dst),
    }[candidate]
    stats = sources.stats[workload]
    returned = timed_round(
        target,
        clean=dst,
        group=f"copytree {workload} {pair.key}",
        part="copytree",
        workload=workload,
        title=sources.title(workload),
        pair=pair.key,
        candidate=candidate,
        round=round_,
        files=stats.files,
        dirs=stats.dirs,
        bytes=stats.bytes,
    )
    if round_ == 0:
        assert returned == dst
        assert corpus.tree_stats(dst) == corpus.tree_stats(src)
