"""The `fastlink` command in a real pseudo-terminal: the live progress bar,
the run without rich, --quiet, and Ctrl-C.

A copy of a few thousand files takes well under a second on a fast machine,
too quick to be sure of seeing the bar redraw. So the copy is paced instead of
timed: an `OpenGate` (fanotify permission events, root only) holds every
open() of a source file until the test lets it through. The test lets a third
of the files through, waits until the bar shows them, lets the next third
through, waits again, then lets the rest go. The bar must have been drawn at
both stops and at 100%, however fast or slow the machine is.
"""

from __future__ import annotations

import importlib.util
import io
import os
import random
import re
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import fastlink
import pexpect
import pytest
from fdwalk import fastlink_entries, make_fresh_dir, remove_tree
from gates import OpenGate
from guardhooks import guard_source
from skips import skip_or_fail
from snapshots import assert_trees_equal, tree_counts
from treespec import make_tree, sample_spec

# Generous per-step timeout (seconds): a noisy 2-core VM may stall, but no
# test may hang.
TIMEOUT = 60
ROWS, COLS = 24, 120

# The big tree: enough files that a third of them is a real intermediate state.
BIG_FILES = 1500
BIG_DIRS = 30

_AMBIENT_ENV = (
    "FASTLINK_METHODS",
    "COLUMNS",
    "LINES",
    "JUPYTER_COLUMNS",
    "JUPYTER_LINES",
    "NO_COLOR",
    "FORCE_COLOR",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "COLORTERM",
)

ANSI_CSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
# One frame of the bar once the totals are known, e.g.
# "fastlink ━━━━━━━━━╸━━━━━━━━  33% 500/1,500 files 17.4/52.3 MB 401.2 MB/s 0:00:01"
FRAME = re.compile(
    r"fastlink (?P<bar>[━╸╺ ]+?) +(?P<pct>\d+)% (?P<done>[\d,]+)/(?P<total>[\d,]+) files "
    r"(?P<bytes>[\d.]+/[\d.]+ (?:bytes|kB|MB|GB)) (?P<rate>\?|[\d.]+ (?:bytes|kB|MB|GB)/s) "
    r"(?P<eta>-:--:--|\d+:\d\d:\d\d)"
)


@dataclass(frozen=True)
class Frame:
    pct: int
    done: int
    total: int
    rate: str
    eta: str


def frames_of(transcript: str) -> list[Frame]:
    """Every complete bar frame in a terminal transcript, in order."""
    plain = ANSI_CSI.sub("", transcript)
    frames = []
    for piece in re.split(r"[\r\n]", plain):
        m = FRAME.search(piece)
        if m:
            frames.append(
                Frame(
                    pct=int(m["pct"]),
                    done=int(m["done"].replace(",", "")),
                    total=int(m["total"].replace(",", "")),
                    rate=m["rate"],
                    eta=m["eta"],
                )
            )
    return frames


def plain_lines(transcript: str) -> list[str]:
    """The transcript as a terminal user would read its lines (redraws collapsed)."""
    plain = ANSI_CSI.sub("", transcript)
    return [line.rsplit("\r", 1)[-1] for line in plain.split("\r\n")]


def terminal_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _AMBIENT_ENV}
    env["TERM"] = "xterm-256color"
    env.update(overrides)
    return env


def spawn(argv: list[str], **env: str) -> pexpect.spawn:
    """Run argv in a fresh pseudo-terminal of a fixed size; everything it
    writes (stdout and stderr both go to the terminal) is kept in .logfile_read."""
    child = pexpect.spawn(
        argv[0],
        argv[1:],
        env=terminal_env(**env),
        dimensions=(ROWS, COLS),
        timeout=TIMEOUT,
    )
    child.logfile_read = io.BytesIO()
    return child


def finish(child: pexpect.spawn) -> tuple[str, int | None]:
    """Wait for the end of output and the exit; (transcript, exit status)."""
    child.expect(pexpect.EOF)
    child.close()
    transcript = child.logfile_read.getvalue().decode("utf-8", "replace")
    assert child.signalstatus is None, f"killed by signal {child.signalstatus}:\n{transcript}"
    return transcript, child.exitstatus


def wait_for_frame(child: pexpect.spawn, total: int, condition: Callable[[int], bool]) -> int:
    """Read the terminal until the bar shows a files count meeting `condition`."""
    pattern = re.compile(rb"([\d,]+)/" + re.escape(f"{total:,}".encode()) + rb" files")
    deadline = time.monotonic() + 2 * TIMEOUT
    while True:
        assert time.monotonic() < deadline, "the bar never showed the expected progress"
        child.expect(pattern)
        done = int(child.match.group(1).replace(b",", b""))
        if condition(done):
            return done


@dataclass(frozen=True)
class BigTree:
    src: Path
    dirs: list[Path]
    files: int


@pytest.fixture(scope="module")
def big_tree(tmpfs) -> Iterator[BigTree]:
    """BIG_FILES files of 20-50 kB in BIG_DIRS directories on tmpfs, written
    directly (not make_tree: no per-test source guard exists at module scope;
    each test guards it with guard_source)."""
    root = make_fresh_dir(tmpfs, "cli-big-")
    try:
        src = root / "src"
        rng = random.Random(1234)
        block = rng.randbytes(50_000)
        dirs = [src / f"d{i:02d}" for i in range(BIG_DIRS)]
        for d in dirs:
            d.mkdir(parents=True)
        for i in range(BIG_FILES):
            size = rng.randrange(20_000, 50_001)
            (dirs[i % BIG_DIRS] / f"f{i:05d}.bin").write_bytes(block[:size])
        yield BigTree(src, dirs, BIG_FILES)
    finally:
        remove_tree(root)


@pytest.fixture
def gate_for(big_tree):
    """Factory: an OpenGate on the big tree (skipped/failed where fanotify
    permission events are unavailable); closed after the test at the latest."""
    gates: list[OpenGate] = []

    def factory() -> OpenGate:
        try:
            gate = OpenGate(big_tree.dirs)
        except OSError as e:
            skip_or_fail(f"fanotify permission events unavailable: {e}")
        gates.append(gate)
        return gate

    yield factory
    for gate in gates:
        gate.close()


def fastlink_argv(*args: object) -> list[str]:
    return [sys.executable, "-m", "fastlink", *(str(a) for a in args)]


# --------------------------------------------------------------------------
# The bar
# --------------------------------------------------------------------------


def test_terminal_run_draws_a_live_bar_that_ends_at_100_percent_then_the_summary(
    big_tree, gate_for, ext4, fresh_dir
):
    assert importlib.util.find_spec("rich") is not None, "rich (the cli extra) is needed"
    guard_source(big_tree.src)
    dst = fresh_dir(ext4) / "dst"
    n, third = big_tree.files, big_tree.files // 3
    gate = gate_for()
    gate.allow(third)
    child = spawn(fastlink_argv("--threads", "1", big_tree.src, dst))
    try:
        # The copy stops at about a third; the bar must show it on its way there...
        first = wait_for_frame(child, n, lambda done: done >= third // 2)
        gate.allow(2 * third)
        # ...and, redrawn, at about two thirds.
        second = wait_for_frame(child, n, lambda done: done >= third + third // 2)
        gate.open_wide()
        transcript, status = finish(child)
    finally:
        gate.close()
        child.close(force=True)

    assert status == 0, transcript
    assert "Traceback" not in transcript
    assert "━" in transcript
    frames = frames_of(transcript)
    assert frames, f"no complete bar frame in:\n{transcript!r}"
    assert all(f.total == n for f in frames), frames
    intermediate = [f for f in frames if 0 < f.done < n and f.pct < 100]
    assert {first, second} <= {f.done for f in intermediate}, (first, second, frames)
    assert len({f.pct for f in intermediate}) >= 2, f"the bar never redrew: {frames}"
    assert [f.done for f in frames] == sorted(f.done for f in frames), "went backwards"
    assert any(f.rate != "?" for f in frames), f"no transfer rate shown: {frames}"
    assert any(f.eta != "-:--:--" for f in intermediate), f"no ETA shown: {frames}"
    assert (frames[-1].pct, frames[-1].done) == (100, n), frames[-1]

    # The summary is the last line, after the finished bar.
    lines = [line for line in plain_lines(transcript) if line.strip()]
    assert FRAME.search(lines[-2]) and "100%" in lines[-2], lines[-2:]
    summary = lines[-1]
    assert summary.startswith(f"copied {n:,} files, {len(big_tree.dirs) + 1} dirs ("), summary
    assert summary.endswith(
        "; reflink not possible: source and destination are on different filesystems "
        "or mounts (EXDEV); copied instead"
    ), summary
    assert_trees_equal(big_tree.src, dst)


def test_json_redirected_to_a_file_keeps_the_bar_on_the_terminal(tmp_path):
    src, dst, out = tmp_path / "src", tmp_path / "dst", tmp_path / "report.json"
    snap = make_tree(src, sample_spec())
    command = " ".join(shlex.quote(a) for a in fastlink_argv("--json", src, dst))
    child = spawn(["/bin/sh", "-c", f"exec {command} > {shlex.quote(str(out))}"])
    transcript, status = finish(child)
    assert status == 0, transcript
    assert "━" in transcript and "files" in transcript, transcript
    report = out.read_text()
    assert "\x1b" not in report
    assert '"files": ' + str(tree_counts(snap)["files"]) in report
    assert_trees_equal(snap, dst)


@pytest.mark.parametrize("empty_files", [0, 3], ids=["empty-tree", "only-empty-files"])
def test_bar_ends_at_100_percent_when_there_are_no_bytes(tmp_path, empty_files):
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "sub").mkdir(parents=True)
    for i in range(empty_files):
        (src / "sub" / f"empty{i}").touch()
    transcript, status = finish(spawn(fastlink_argv(src, dst)))
    assert status == 0, transcript
    frames = frames_of(transcript)
    assert frames, transcript
    assert (frames[-1].pct, frames[-1].done, frames[-1].total) == (100, empty_files, empty_files)


# --------------------------------------------------------------------------
# No bar: without rich, with --quiet
# --------------------------------------------------------------------------

WITHOUT_RICH = (
    "import sys; sys.modules['rich'] = None; "
    "from fastlink._cli import main; raise SystemExit(main())"
)


def test_terminal_run_without_rich_draws_no_bar_and_prints_the_summary(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    snap = make_tree(src, sample_spec())
    child = spawn([sys.executable, "-c", WITHOUT_RICH, str(src), str(dst)])
    transcript, status = finish(child)
    assert status == 0, transcript
    assert "\x1b" not in transcript and "━" not in transcript, repr(transcript)
    lines = transcript.splitlines()
    assert len(lines) == 1, lines
    counts = tree_counts(snap)
    assert re.match(rf"(cloned|copied) {counts['files']} files, {counts['dirs']} dirs, ", lines[0])
    assert_trees_equal(snap, dst)


def test_terminal_run_with_quiet_prints_nothing(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    snap = make_tree(src, sample_spec())
    transcript, status = finish(spawn(fastlink_argv("--quiet", src, dst)))
    assert status == 0, transcript
    assert transcript == ""
    assert_trees_equal(snap, dst)


# --------------------------------------------------------------------------
# Ctrl-C
# --------------------------------------------------------------------------


def test_ctrl_c_mid_copy_exits_130_says_interrupted_and_leaves_no_dst(
    big_tree, gate_for, ext4, fresh_dir
):
    guard_source(big_tree.src)
    dst = fresh_dir(ext4) / "out" / "dst"
    n, third = big_tree.files, big_tree.files // 3
    gate = gate_for()
    gate.allow(third)
    child = spawn(fastlink_argv("--threads", "1", big_tree.src, dst))
    try:
        wait_for_frame(child, n, lambda done: done >= third // 2)
        child.sendcontrol("c")
        # The worker is held at an open(); let files through one at a time,
        # so that the copy cannot finish before the interrupt is noticed
        # (within 50 ms), however long that takes on a busy machine.
        deadline = time.monotonic() + 4 * TIMEOUT
        while child.expect([pexpect.EOF, pexpect.TIMEOUT], timeout=0.05) == 1:
            assert time.monotonic() < deadline, "the copy neither finished nor stopped"
            gate.allow_one_more()
        transcript, status = finish(child)
    finally:
        gate.close()
        child.close(force=True)

    assert "Traceback" not in transcript, transcript
    assert status == 130, transcript
    lines = [line for line in plain_lines(transcript) if line.strip()]
    assert lines[-1] == "fastlink: interrupted; the call was rolled back", lines[-3:]
    assert frames_of(transcript), "the bar was never drawn"
    assert not os.path.lexists(dst)
    assert not os.path.lexists(dst.parent), "the parent fastlink created was not removed"
    assert fastlink_entries(dst.parent.parent) == []


# --------------------------------------------------------------------------
# While the source is walked (issue 20, friction 7)
# --------------------------------------------------------------------------


class _Terminal(io.StringIO):
    """What rich draws a live bar on: a stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_bar_says_scanning_until_the_source_is_walked_then_shows_the_counts():
    from fastlink._cli_output import progress_bar

    assert importlib.util.find_spec("rich") is not None, "rich (the cli extra) is needed"
    screen = _Terminal()

    def wait_until_drawn(text: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while text not in ANSI_CSI.sub("", screen.getvalue()):
            assert time.monotonic() < deadline, f"never drew {text!r}: {screen.getvalue()!r}"
            time.sleep(0.02)

    with progress_bar(True, screen) as on_progress:
        assert on_progress is not None
        on_progress(fastlink.Progress())  # the walk has not ended: no totals yet
        wait_until_drawn("scanning the source")
        assert "0/0 files" not in ANSI_CSI.sub("", screen.getvalue())
        on_progress(fastlink.Progress(files_done=1, files_total=3, bytes_done=5, bytes_total=30))
        wait_until_drawn("1/3 files")
        on_progress(fastlink.Progress(files_done=3, files_total=3, bytes_done=30, bytes_total=30))
    assert "3/3 files" in ANSI_CSI.sub("", screen.getvalue())


def test_an_empty_source_ends_at_zero_of_zero_files_not_scanning():
    from fastlink._cli_output import progress_bar

    screen = _Terminal()
    with progress_bar(True, screen) as on_progress:
        assert on_progress is not None
        on_progress(fastlink.Progress())  # the final call of an empty tree
    last_frame = ANSI_CSI.sub("", screen.getvalue()).rstrip().splitlines()[-1]
    assert "0/0 files" in last_frame and "scanning" not in last_frame, last_frame
