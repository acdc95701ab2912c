"""Data written moments ago: the 6-wheel corpus tree written immediately before the call,
its data still dirty, against the same tree written and then synced; within XFS and
within btrfs, with the default methods and with methods="reflink".

On XFS a clone waits for the source's dirty data to be written back, so the default
("reflink", "copy") copies a file whose ctime is within the kernel's writeback window
(docs/api.md, "Data not yet written back"); methods="reflink" always clones, as the
default did before: "fresh-reflink" is the dirty case as it was, "synced-reflink" a clean
clone. The synced tree was written moments ago too, so on XFS its default call copies
as well (the window cannot see a sync); the clean clone is what the default makes of a
tree written back long ago.

Every round, for every candidate, the source is written afresh, untimed, the same way:
a copy (methods="copy": new blocks, dirty pages) of the corpus tree cached on the same
filesystem; a sync runs before it is written (so nothing else is dirty) and, for the
synced candidates, after. FASTLINK_WRITEBACK_SECONDS and FASTLINK_METHODS are removed
from the environment: the route decides as in a user's process. The first round checks
that the fresh default call on XFS took the route for every file, on btrfs cloned every
file, and that every reflink-only call cloned every file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import corpus
import fastlink
import pytest
from fs_pairs import PAIRS

ROUNDS = 7
CANDIDATES = ("fresh", "fresh-reflink", "synced", "synced-reflink")
FRESH_PAIRS = ("xfs-reflink", "btrfs-reflink")
PLACEMENTS = [pytest.param(PAIRS[p], c, id=f"{p}-{c}") for p in FRESH_PAIRS for c in CANDIDATES]


@pytest.fixture(autouse=True)
def kernel_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel's writeback window decides, and the methods are the default ones."""
    monkeypatch.delenv("FASTLINK_WRITEBACK_SECONDS", raising=False)
    monkeypatch.delenv("FASTLINK_METHODS", raising=False)


def rmtree(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)


def route_files(report: fastlink.Report) -> int:
    """How many files the call copied because their data was not yet written back."""
    return sum(
        n for m, e, n, _ in report.fallbacks if (m, e) == ("reflink", fastlink.NOT_WRITTEN_BACK)
    )


@pytest.mark.parametrize(("pair", "candidate"), PLACEMENTS)
def test_fresh_tree(pair, candidate, round_, sources, mount, timed_round, benchmark):
    cached = sources.tree("corpus", pair.src_fs)
    src = mount(pair.src_fs) / "fresh" / "src"
    dst = mount(pair.dst_fs) / "dst" / f"fresh.{pair.key}.{candidate}"
    src.parent.mkdir(exist_ok=True)
    dst.parent.mkdir(exist_ok=True)
    reflink_only = candidate.endswith("-reflink")

    def clean() -> None:
        rmtree(dst)
        rmtree(src)

    def write_source() -> None:
        fastlink.clone_or_copy(cached, src, methods="copy")

    def target() -> fastlink.Report:
        if reflink_only:
            return fastlink.clone_or_copy(src, dst, methods="reflink")
        return fastlink.clone_or_copy(src, dst)

    stats = sources.stats["corpus"]
    result = timed_round(
        target,
        clean=clean,
        prepare=write_source,
        sync=candidate.startswith("synced"),
        group=f"fresh corpus {pair.key}",
        part="fresh",
        workload="corpus",
        title=sources.title("corpus"),
        pair=pair.key,
        candidate=candidate,
        round=round_,
        files=stats.files,
        dirs=stats.dirs,
        bytes=stats.bytes,
    )
    benchmark.extra_info.update(
        reflinked=result.reflinked, copied=result.copied, not_written_back=route_files(result)
    )
    if round_ == 0:
        check(result, dst, cached, pair.src_fs, candidate)


def check(report: fastlink.Report, dst: Path, cached: Path, fs: str, candidate: str) -> None:
    """The copy is whole, and each call placed its files as the route says it should."""
    expected = corpus.tree_stats(cached)
    assert corpus.tree_stats(dst) == expected
    assert (report.files, report.bytes) == (expected.files, expected.bytes)
    if candidate.endswith("-reflink"):
        assert report.reflinked == report.files, report
        assert report.fallbacks == ()
    elif candidate == "fresh" and fs == "xfs":
        assert report.copied == report.files, report
        [(method, errno, files, _)] = report.fallbacks
        assert (method, errno, files) == ("reflink", fastlink.NOT_WRITTEN_BACK, report.files)
    elif candidate == "fresh":  # btrfs clones dirty data without waiting
        assert report.reflinked == report.files, report
        assert report.fallbacks == ()
