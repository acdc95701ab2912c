"""Threads, in-process: fastlink's own thread count on one tree call (the corpus,
`threads=N`), and many packages placed from a Python thread pool into one
site-packages, each worker calling `clone_or_copy(tree, site, dirs_exist_ok=True)` per
unpacked wheel (all calls sharing fastlink's worker pool), against the same pool running
shutil.copytree (os.link as its copy function on the hard-link pair)."""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor

import fastlink
import pytest
from fs_pairs import PAIRS

ROUNDS = 5
THREAD_COUNTS = (1, 2, 4, 8, 16)
POOL_WORKERS = 4


@pytest.mark.parametrize("candidate", THREAD_COUNTS)
@pytest.mark.parametrize("pair_key", ["xfs-reflink", "xfs-btrfs-copy"])
def test_thread_count(pair_key, candidate, round_, sources, mount, timed_round):
    pair = PAIRS[pair_key]
    src = sources.tree("corpus", pair.src_fs)
    dst = mount(pair.dst_fs) / "dst" / f"threads.{pair_key}.{candidate}"
    result = timed_round(
        lambda: fastlink.clone_or_copy(src, dst, methods=pair.methods, threads=candidate),
        clean=dst,
        group=f"threads corpus {pair_key}",
        part="threads",
        workload="corpus",
        pair=pair_key,
        candidate=f"threads={candidate}",
        round=round_,
    )
    assert result.method == pair.op


@pytest.mark.parametrize("candidate", ["fastlink", "copytree"])
@pytest.mark.parametrize("pair_key", ["xfs-reflink", "xfs-hardlink", "xfs-btrfs-copy"])
def test_thread_pool(pair_key, candidate, round_, sources, mount, timed_round):
    pair = PAIRS[pair_key]
    wheel_trees = sources.wheel_trees("packages")
    site = mount(pair.dst_fs) / "dst" / f"pool.{pair_key}.{candidate}"

    def place(tree: os.PathLike) -> object:
        if candidate == "fastlink":
            return fastlink.clone_or_copy(tree, site, methods=pair.methods, dirs_exist_ok=True)
        copy = os.link if pair.op == "hardlink" else shutil.copy2
        return shutil.copytree(tree, site, symlinks=True, dirs_exist_ok=True, copy_function=copy)

    def place_all() -> list[object]:
        with ThreadPoolExecutor(POOL_WORKERS) as pool:
            return list(pool.map(place, wheel_trees))

    results = timed_round(
        place_all,
        clean=site,
        group=f"pool packages {pair_key}",
        part="pool",
        workload="packages",
        title=sources.title("packages"),
        pair=pair_key,
        candidate=candidate,
        round=round_,
        workers=POOL_WORKERS,
    )
    if round_ == 0 and candidate == "fastlink":
        assert {r.method for r in results} == {pair.op}  # type: ignore[attr-defined]
