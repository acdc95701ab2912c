"""One tree per call, on every filesystem pair: fastlink.clone_or_copy against
`cp -a --reflink=auto` (`cp -al` for hard links), shutil.copytree and the floor.

fastlink and copytree are timed in-process, cp as a process. The floor (benches/floor:
a getdents64 walk, mkdirat, and per file FICLONE / linkat / copy_file_range on N
threads; no metadata, checks, staging or rollback) is the lower bound, recorded by the
seconds it reports itself: walk, mkdirs and file work, process start excluded.
The first round's outputs are checked: counts and bytes, fastlink's entry by entry.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import corpus
import fastlink
import pytest
import trees
from fs_pairs import PAIRS

ROUNDS = 5
CANDIDATES = ("fastlink", "cp", "copytree", "floor")
PLACEMENTS = [
    pytest.param(p, c, id=f"{p.key}-{c}")
    for p in PAIRS.values()
    for c in CANDIDATES
    if not (c == "copytree" and p.op == "hardlink")  # copytree cannot hard-link
]


@pytest.mark.parametrize(("pair", "candidate"), PLACEMENTS)
@pytest.mark.parametrize("workload", list(trees.WORKLOADS))
def test_tree(workload, pair, candidate, round_, sources, mount, timed_round, benchmark, request):
    if candidate == "floor":
        request.getfixturevalue("floor")  # skips (fails under CI) when it is not built
    src = sources.tree(workload, pair.src_fs)
    dst = mount(pair.dst_fs) / "dst" / f"{workload}.{pair.key}.{candidate}"
    dst.parent.mkdir(exist_ok=True)

    def run_floor() -> None:
        out = subprocess.run(pair.floor_argv(src, dst), capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        benchmark.extra_info["seconds"] = json.loads(out.stdout.splitlines()[-1])["seconds"]

    target = {
        "fastlink": lambda: fastlink.clone_or_copy(src, dst, methods=pair.methods),
        "cp": lambda: subprocess.run([*pair.cp_argv, src, dst], check=True),
        "copytree": lambda: shutil.copytree(src, dst, symlinks=True),
        "floor": run_floor,
    }[candidate]
    stats = sources.stats[workload]
    result = timed_round(
        target,
        clean=dst,
        group=f"trees {workload} {pair.key}",
        part="trees",
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
        check_copy(src, dst, pair.op, result if candidate == "fastlink" else None)


def check_copy(src: Path, dst: Path, op: str, report: fastlink.Report | None) -> None:
    """*dst* holds what *src* does; fastlink's copy also entry by entry (kind, mode, size,
    mtime), with its report adding up and the method the pair is about."""
    expected = corpus.tree_stats(src)
    assert corpus.tree_stats(dst) == expected
    if report is not None:
        assert report.method == op
        assert (report.files, report.bytes) == (expected.files, expected.bytes)
        assert corpus.tree_manifest(dst) == corpus.tree_manifest(src)
    if op == "hardlink":
        first = next(p for p in dst.rglob("*") if p.is_file() and not p.is_symlink())
        assert os.stat(first).st_nlink >= 2
