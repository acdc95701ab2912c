"""clone_or_copy(..., progress=callback) reports how far a call has got.

The callback runs on the thread that called clone_or_copy, with the GIL
held, at most once per 50 ms poll and only when the counts changed, plus one
final call after success. It receives a frozen fastlink.Progress (files_done,
files_total, bytes_done, bytes_total; totals are 0 until the source has been
walked). An exception raised in it cancels the call, which rolls back like a
Ctrl-C does, and that same exception propagates.

Every call here runs in a helper thread joined with a timeout, so a hang is a
test failure rather than a hung suite, and "the calling thread" is a thread
of the test's own rather than the main thread.

The long copies go from XFS to btrfs with threads=1: a real copy (no reflink
across filesystems) of a few thousand files that takes over a second, so
there are many polls to observe.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import fastlink
import pytest
from faultutil import STAGING_PREFIX
from fdwalk import fastlink_entries, make_fresh_dir, regular_files, remove_tree
from snapshots import assert_trees_equal, snapshot, tree_counts
from treespec import File, make_tree, sample_spec

# A call that has not returned by then is reported as a hang.
HANG_TIMEOUT_S = 60

# The long copy: files of LONG_FILE_SIZE spread over LONG_DIRS directories.
# If copying LONG_BATCH files takes under MIN_LONG_COPY_S on this machine the
# tree is doubled (at most MAX_GROWTHS times), so the throttling check always
# looks at a copy that lasted long enough to poll many times.
LONG_BATCH = 6000
LONG_FILE_SIZE = 16 * 1024
LONG_DIRS = 40
MIN_LONG_COPY_S = 1.0
MAX_GROWTHS = 2

POLL_S = 0.05
# Two consecutive calls before the final one are a full poll apart; allow
# for jitter in how soon after its poll each call was entered.
MIN_GAP_S = 0.035


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


class CallbackError(Exception):
    """What the test's callbacks raise (an ordinary Exception)."""


class CallbackAbort(BaseException):
    """A BaseException that is not an Exception, like KeyboardInterrupt."""


@dataclass
class Call:
    progress: fastlink._fastlink.Progress
    thread: int
    at: float  # time.monotonic() when the callback was entered

    @property
    def counts(self) -> tuple[int, int, int, int]:
        p = self.progress
        return (p.files_done, p.files_total, p.bytes_done, p.bytes_total)


@dataclass
class Recorder:
    """A progress callback that records every call (Python work under the
    GIL while the workers run) and then runs an optional hook."""

    hook: Callable[[int, Call], None] | None = None
    calls: list[Call] = field(default_factory=list)

    def __call__(self, progress: fastlink._fastlink.Progress) -> None:
        call = Call(progress, threading.get_ident(), time.monotonic())
        self.calls.append(call)
        if self.hook is not None:
            self.hook(len(self.calls), call)


def raise_at_call(n: int, exc: BaseException) -> Callable[[int, Call], None]:
    def hook(index: int, _call: Call) -> None:
        if index == n:
            raise exc

    return hook


@dataclass
class Outcome:
    thread: int
    elapsed: float
    report: fastlink.Report | None = None
    error: BaseException | None = None


def call_in_thread(src: os.PathLike, dst: os.PathLike, **kwargs) -> Outcome:
    """clone_or_copy(src, dst, **kwargs) on a new thread; fail if it hangs."""
    result: dict = {}

    def target() -> None:
        result["thread"] = threading.get_ident()
        started = time.monotonic()
        try:
            result["report"] = fastlink.clone_or_copy(src, dst, **kwargs)
        except BaseException as e:
            result["error"] = e
        result["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=target, name="clone_or_copy-caller", daemon=True)
    thread.start()
    thread.join(HANG_TIMEOUT_S)
    if thread.is_alive():
        pytest.fail(f"clone_or_copy did not return within {HANG_TIMEOUT_S}s: it hangs")
    return Outcome(**result)


def expect_report(outcome: Outcome) -> fastlink.Report:
    if outcome.error is not None:
        raise AssertionError(f"clone_or_copy raised {outcome.error!r}") from outcome.error
    assert outcome.report is not None
    return outcome.report


def assert_monotonic(calls: list[Call]) -> None:
    for field_index, name in enumerate(["files_done", "files_total", "bytes_done", "bytes_total"]):
        values = [c.counts[field_index] for c in calls]
        assert values == sorted(values), f"{name} decreased: {values}"


# --------------------------------------------------------------------------
# The long source tree and one recorded long copy, shared by the module
# --------------------------------------------------------------------------


class LongTree:
    """LONG_BATCH (or more) files on XFS; `baseline` is its snapshot(identity=True)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.files = 0
        self.baseline: dict = {}

    @property
    def bytes(self) -> int:
        return self.files * LONG_FILE_SIZE

    def grow(self, count: int) -> None:
        chunk = os.urandom(LONG_FILE_SIZE)
        for i in range(self.files, self.files + count):
            sub = self.path / f"d{i % LONG_DIRS:02d}"
            if i < LONG_DIRS:
                sub.mkdir(parents=True)
            fd = os.open(sub / f"f{i:05d}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                os.write(fd, chunk)
            finally:
                os.close(fd)
        self.files += count
        self.baseline = snapshot(self.path, identity=True)


@pytest.fixture(scope="module")
def long_src(xfs):
    base = make_fresh_dir(xfs, "progress-src-")
    tree = LongTree(base / "src")
    tree.grow(LONG_BATCH)
    yield tree
    remove_tree(base)


@dataclass
class LongCopy:
    calls: list[Call]
    outcome: Outcome
    report: fastlink.Report
    files: int
    bytes: int
    dst_files: int


@pytest.fixture(scope="module")
def long_copy(long_src, btrfs) -> LongCopy:
    """One copy of the long tree with a recording callback (threads=1)."""
    base = make_fresh_dir(btrfs, "progress-dst-")
    try:
        for attempt in range(MAX_GROWTHS + 1):
            dst = base / f"dst{attempt}"
            recorder = Recorder()
            outcome = call_in_thread(
                long_src.path, dst, methods="copy", threads=1, progress=recorder
            )
            report = expect_report(outcome)
            dst_files = len(regular_files(dst))
            # The filesystems are small and shared: free the space now.
            remove_tree(dst)
            if outcome.elapsed >= MIN_LONG_COPY_S or attempt == MAX_GROWTHS:
                return LongCopy(
                    recorder.calls, outcome, report, long_src.files, long_src.bytes, dst_files
                )
            long_src.grow(long_src.files)
        raise AssertionError("unreachable")
    finally:
        remove_tree(base)


# --------------------------------------------------------------------------
# What a long copy reports
# --------------------------------------------------------------------------


def test_long_copy_lasted_long_enough_and_completed(long_copy):
    # Precondition of the throttling tests below, and the copy itself is whole.
    assert long_copy.outcome.elapsed >= MIN_LONG_COPY_S, (
        f"copying {long_copy.files} files took only {long_copy.outcome.elapsed:.2f}s "
        f"even after growing the tree {MAX_GROWTHS} times"
    )
    assert long_copy.report.method == "copy"
    assert long_copy.report.files == long_copy.dst_files == long_copy.files
    assert long_copy.report.bytes == long_copy.bytes


def test_callback_runs_on_the_calling_thread(long_copy):
    caller = long_copy.outcome.thread
    assert caller != threading.main_thread().ident
    assert {c.thread for c in long_copy.calls} == {caller}


def test_callback_receives_frozen_progress_objects_with_int_counts(long_copy):
    for call in long_copy.calls:
        p = call.progress
        assert type(p) is fastlink._fastlink.Progress
        assert all(type(v) is int for v in call.counts), p
    p = long_copy.calls[-1].progress
    with pytest.raises(AttributeError):
        p.files_done = 0  # type: ignore[misc]
    assert repr(p) == (
        f"Progress(files_done={p.files_done}, files_total={p.files_total}, "
        f"bytes_done={p.bytes_done}, bytes_total={p.bytes_total})"
    )


def test_counts_never_decrease(long_copy):
    assert_monotonic(long_copy.calls)


def test_totals_are_zero_until_the_walk_then_fixed_and_never_exceeded(long_copy):
    for call in long_copy.calls:
        done_files, total_files, done_bytes, total_bytes = call.counts
        assert (total_files, total_bytes) in {(0, 0), (long_copy.files, long_copy.bytes)}, call
        if total_files == 0:
            assert (done_files, done_bytes) == (0, 0), call
        assert done_files <= total_files and done_bytes <= total_bytes, call


def test_final_call_reports_the_totals_of_the_report(long_copy):
    report = long_copy.report
    assert long_copy.calls[-1].counts == (report.files, report.files, report.bytes, report.bytes)


def test_intermediate_calls_report_partial_progress(long_copy):
    partial = [c for c in long_copy.calls if 0 < c.progress.files_done < c.progress.files_total]
    assert partial, [c.counts for c in long_copy.calls]


def test_calls_are_throttled_to_one_per_poll(long_copy):
    calls, elapsed = long_copy.calls, long_copy.outcome.elapsed
    assert len(calls) <= elapsed / POLL_S + 2, (len(calls), elapsed)
    # Every call but the final one is made at a poll, a full poll apart.
    polled = [c.at for c in calls[:-1]]
    gaps = [b - a for a, b in zip(polled, polled[1:])]
    assert not gaps or min(gaps) >= MIN_GAP_S, gaps


def test_callback_is_called_only_when_the_counts_changed(long_copy):
    polled = [c.counts for c in long_copy.calls[:-1]]
    repeats = [a for a, b in zip(polled, polled[1:]) if a == b]
    assert repeats == []


# --------------------------------------------------------------------------
# The callback holds the GIL; the workers don't need it
# --------------------------------------------------------------------------


def _files_placed(parent: Path, dst_name: str) -> int:
    """Regular files created so far in the staging tree beside dst, or in
    dst once the tree has been renamed into place."""
    count = 0
    for name in os.listdir(parent):
        if name == dst_name or name.startswith(STAGING_PREFIX):
            # os.walk skips what vanishes meanwhile (the staging tree is renamed).
            for _dirpath, _dirnames, filenames in os.walk(parent / name):
                count += sum(not f.startswith(".fastlink-") for f in filenames)
    return count


def test_workers_keep_going_while_the_callback_runs_python_code(long_src, btrfs, fresh_dir):
    parent = fresh_dir(btrfs)
    dst = parent / "dst"
    seen: dict = {}

    def spin_until_every_file_is_placed(index: int, call: Call) -> None:
        # Pure Python work, holding the GIL (a directory walk now and then),
        # until the workers have created every file of the tree: they can
        # only get there if they never need the GIL.
        if index != 1:
            return
        seen["first"] = call.counts
        deadline = time.monotonic() + HANG_TIMEOUT_S / 3
        while time.monotonic() < deadline:
            for _ in range(20):
                sum(range(1000))
            seen["placed"] = _files_placed(parent, dst.name)
            if seen["placed"] == long_src.files:
                return

    recorder = Recorder(spin_until_every_file_is_placed)
    report = expect_report(call_in_thread(long_src.path, dst, methods="copy", progress=recorder))

    assert seen["first"][0] < long_src.files // 2, "too far along at the first poll to tell"
    assert seen["placed"] == long_src.files, (
        f"only {seen['placed']} of {long_src.files} files were placed while the callback ran"
    )
    assert recorder.calls[-1].counts == (
        long_src.files,
        long_src.files,
        long_src.bytes,
        long_src.bytes,
    )
    assert report.files == long_src.files


# --------------------------------------------------------------------------
# An exception in the callback cancels and rolls back
# --------------------------------------------------------------------------


@pytest.mark.parametrize("exc_type", [CallbackError, CallbackAbort])
def test_exception_in_callback_propagates_and_leaves_no_destination(
    long_src, btrfs, fresh_dir, exc_type
):
    parent = fresh_dir(btrfs)
    dst = parent / "out" / "dst"
    raised = exc_type("stop now")
    recorder = Recorder(raise_at_call(2, raised))

    outcome = call_in_thread(long_src.path, dst, methods="copy", threads=1, progress=recorder)

    assert outcome.error is raised, outcome
    assert len(recorder.calls) == 2, "the callback was called again after it raised"
    interrupted = recorder.calls[1].progress
    assert interrupted.files_done < interrupted.files_total, "raised too late to test a rollback"
    assert not os.path.lexists(dst)
    assert fastlink_entries(parent) == []
    assert os.listdir(parent) == [], "the missing parent of dst was created and left behind"
    assert snapshot(long_src.path, identity=True) == long_src.baseline


def test_exception_from_a_slow_callback_rolls_back_even_after_every_file_was_placed(
    long_src, btrfs, fresh_dir
):
    # The workers finish filling while the callback still runs; the commit
    # waits for it, so its exception still means "rolled back", never
    # "raised, yet dst is complete".
    parent = fresh_dir(btrfs)
    dst = parent / "dst"
    raised = CallbackError("stop after the fill")
    placed: list[int] = []

    def wait_for_every_file_then_raise(index: int, _call: Call) -> None:
        deadline = time.monotonic() + HANG_TIMEOUT_S / 3
        while _files_placed(parent, dst.name) < long_src.files:
            if time.monotonic() > deadline:
                return
            time.sleep(0.01)
        placed.append(_files_placed(parent, dst.name))
        time.sleep(0.5)  # ample time to commit, were the commit not held back
        raise raised

    outcome = call_in_thread(
        long_src.path, dst, methods="copy", progress=Recorder(wait_for_every_file_then_raise)
    )

    assert placed == [long_src.files], "the callback gave up waiting for the fill"
    assert outcome.error is raised, outcome
    assert not os.path.lexists(dst)
    assert fastlink_entries(parent) == []


def _existing_dst(dst: Path, *, collisions: bool) -> None:
    """Pre-existing content: files of its own, directories the source also
    has (d00, d01: its files go in as temp file + rename), a directory the
    source lacks, and with `collisions` files at names the source also has
    (replaced by rename under overwrite=True), early and late in the tree."""
    spec: dict = {
        "keep.txt": b"installed earlier\n",
        "private.bin": File(os.urandom(100_000), 0o600),
        "d00": {"mine.txt": b"mine\n"},
        "d01": {"old.py": b"old\n"},
        "untouched-dir": {"x": b"x"},
    }
    if collisions:
        spec["d00"]["f00000"] = b"old f00000\n"
        spec["d01"]["f00001"] = File(b"old f00001\n", 0o600)
        spec["d39"] = {f"f{LONG_BATCH - 1:05d}": b"old last\n"}
    make_tree(dst, spec)


@pytest.mark.parametrize("overwrite", [False, True], ids=["merge", "merge-overwrite"])
def test_exception_in_callback_rolls_a_merge_back(long_src, btrfs, fresh_dir, overwrite):
    parent = fresh_dir(btrfs)
    dst = parent / "dst"
    _existing_dst(dst, collisions=overwrite)
    before = snapshot(dst)
    raised = CallbackError("stop the merge")
    recorder = Recorder(raise_at_call(2, raised))

    outcome = call_in_thread(
        long_src.path,
        dst,
        methods="copy",
        threads=1,
        dirs_exist_ok=True,
        overwrite=overwrite,
        progress=recorder,
    )

    assert outcome.error is raised, outcome
    assert len(recorder.calls) == 2
    interrupted = recorder.calls[1].progress
    assert interrupted.files_done < interrupted.files_total, "raised too late to test a rollback"
    assert_trees_equal(before, dst, modes="exact", dir_times=False, what="pre-existing dst")
    assert fastlink_entries(parent) == []
    assert os.listdir(parent) == ["dst"]
    assert snapshot(long_src.path, identity=True) == long_src.baseline


def test_exception_in_the_final_call_propagates_after_the_copy_completed(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src_snap = make_tree(src, sample_spec())
    counts = tree_counts(src_snap)
    raised = CallbackError("too late to cancel")

    def raise_when_complete(_index: int, call: Call) -> None:
        if call.progress.files_done == call.progress.files_total > 0:
            raise raised

    recorder = Recorder(raise_when_complete)
    outcome = call_in_thread(src, dst, methods="copy", progress=recorder)

    assert outcome.error is raised, outcome
    # A tiny tree is done long before the first 50 ms poll, so the only call
    # is the final one, made after success.
    assert [c.counts for c in recorder.calls] == [
        (counts["files"], counts["files"], counts["bytes"], counts["bytes"])
    ]
    assert_trees_equal(src_snap, dst)
    assert fastlink_entries(tmp_path) == []


# --------------------------------------------------------------------------
# Other sources and methods; bad arguments
# --------------------------------------------------------------------------


def test_reflink_clone_reports_progress_ending_at_the_totals(xfs, fresh_dir):
    base = fresh_dir(xfs)
    src, dst = base / "src", base / "dst"
    counts = tree_counts(make_tree(src, sample_spec()))
    recorder = Recorder()

    report = expect_report(call_in_thread(src, dst, methods="reflink", progress=recorder))

    assert report.method == "reflink" and report.reflinked == counts["files"]
    assert recorder.calls, "no final call"
    assert_monotonic(recorder.calls)
    assert recorder.calls[-1].counts == (
        counts["files"],
        counts["files"],
        counts["bytes"],
        counts["bytes"],
    )


def test_single_file_source_counts_one_file(xfs, btrfs, fresh_dir):
    size = 32 << 20
    src = fresh_dir(xfs) / "one.bin"
    dst = fresh_dir(btrfs) / "one.bin"
    make_tree(src.parent, {"one.bin": File(os.urandom(1 << 20) * (size >> 20))})
    recorder = Recorder()

    report = expect_report(call_in_thread(src, dst, methods="copy", progress=recorder))

    assert report.files == 1 and report.bytes == size
    assert_monotonic(recorder.calls)
    assert {c.progress.files_total for c in recorder.calls} <= {0, 1}
    assert recorder.calls[-1].counts == (1, 1, size, size)
    assert os.path.getsize(dst) == size


def test_failed_call_makes_no_final_call(xfs, btrfs, fresh_dir):
    src = fresh_dir(xfs) / "src"
    make_tree(src, sample_spec())
    dst = fresh_dir(btrfs) / "dst"
    recorder = Recorder()

    outcome = call_in_thread(src, dst, methods="reflink", progress=recorder)

    assert isinstance(outcome.error, fastlink.CrossDeviceError), outcome
    assert all(c.progress.files_done == 0 for c in recorder.calls), recorder.calls
    assert not os.path.lexists(dst)


@pytest.mark.parametrize("progress", [42, "progress", object()], ids=["int", "str", "object"])
@pytest.mark.parametrize("merge", [False, True], ids=["new-dst", "merge"])
def test_non_callable_progress_raises_type_error_and_writes_nothing(tmp_path, progress, merge):
    src = tmp_path / "src"
    make_tree(src, {"f": b"data", "sub": {"g": b"more"}})
    dst = tmp_path / "dst"
    if merge:
        make_tree(dst, {"existing": b"keep"})
    before = snapshot(tmp_path)

    with pytest.raises(TypeError, match="progress"):
        fastlink.clone_or_copy(src, dst, dirs_exist_ok=merge, progress=progress)

    # Not even a directory's mtime changed.
    assert_trees_equal(before, tmp_path, modes="exact", what=str(tmp_path))
