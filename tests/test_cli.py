"""The `fastlink` command without a terminal: summary, --json, --quiet, exit codes.

Each test runs `python -m fastlink` in a child process with pipes (so stderr
is not a TTY and no progress bar may be drawn). The progress bar itself, the
run without rich and Ctrl-C are tested in a real pseudo-terminal in
test_cli_progress_bar.py.
"""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import fastlink
import pytest
from fastlink._cli import errno_name, error_line
from fdwalk import fastlink_entries, regular_files
from guardhooks import forget_source
from snapshots import assert_trees_equal, snapshot, tree_counts
from treespec import make_tree, sample_spec

CLI = [sys.executable, "-m", "fastlink"]
# Generous: a noisy 2-core VM may be slow, but no test may hang.
TIMEOUT = 120

# Variables that would change what the command (or rich) prints; every run
# starts without them and sets what it tests explicitly.
_AMBIENT_ENV = (
    "FASTLINK_METHODS",
    "COLUMNS",
    "LINES",
    "NO_COLOR",
    "FORCE_COLOR",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
)

EXDEV_MESSAGE = (
    "reflink not possible: source and destination are on different filesystems or mounts (EXDEV)"
)
ANSI_ESCAPE = "\x1b"
# The whole summary line: method verb, counts, size, time, then any skips.
SUMMARY = re.compile(
    r"(cloned|hard-linked|copied) [\d,]+ files?(, [\d,]+ dirs?)?(, [\d,]+ symlinks?)? "
    r"\([\d.,]+ (bytes|kB|MB|GB|TB)\) in \d+\.\d\d s"
    r"( \([^)]*\))?"  # files that took another method, e.g. "(2 copied)"
    r"(; [^;]+; (cloned|hard-linked|copied) instead)*"
)
REPORT_KEYS = {
    "fallbacks",
    "unsupported_metadata",
    "src",
    "dst",
    "method",
    "files",
    "dirs",
    "symlinks",
    "bytes",
    "reflinked",
    "hardlinked",
    "copied",
    "skipped",
    "elapsed",
}


def cli_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _AMBIENT_ENV}
    env.update(overrides)
    return env


def run_cli(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *(os.fspath(a) if isinstance(a, os.PathLike) else str(a) for a in args)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        env=cli_env() if env is None else env,
        timeout=TIMEOUT,
    )


def described(r: subprocess.CompletedProcess[str]) -> str:
    return f"exit {r.returncode}\n--- stdout:\n{r.stdout}--- stderr:\n{r.stderr}"


def assert_succeeded(r: subprocess.CompletedProcess[str]) -> None:
    assert r.returncode == 0, described(r)
    assert r.stderr == "", described(r)


def summary_of(r: subprocess.CompletedProcess[str]) -> str:
    """The one summary line a successful run prints, and nothing else."""
    assert_succeeded(r)
    assert r.stdout.endswith("\n") and r.stdout.count("\n") == 1, described(r)
    line = r.stdout[:-1]
    assert SUMMARY.fullmatch(line), f"not a summary line: {line!r}"
    return line


def assert_usage_error(r: subprocess.CompletedProcess[str]) -> str:
    """Exit 2 and exactly one line on stderr, "fastlink: error: ... (see fastlink
    --help)", or the subcommand's own --help ("fastlink probe --help")."""
    assert r.returncode == 2, described(r)
    assert r.stdout == "", described(r)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastlink: error: "), described(r)
    pointer = r" \(see fastlink( install| probe| reclaim)? --help\)$"
    assert re.search(pointer, lines[0]), described(r)
    return lines[0]


def assert_error(r: subprocess.CompletedProcess[str], code: int) -> str:
    """Exit `code`, nothing on stdout, exactly one "fastlink: error:" line on stderr."""
    assert r.returncode == code, described(r)
    assert r.stdout == "", described(r)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastlink: error: "), described(r)
    assert r.stderr.endswith("\n"), described(r)
    return lines[0]


def count_words(snap: dict[bytes, dict]) -> str:
    """E.g. "9 files, 5 dirs, 3 symlinks" for a tree with that many of each."""
    counts = tree_counts(snap)
    return ", ".join(
        f"{counts[kind]:,} {kind if counts[kind] != 1 else kind[:-1]}"
        for kind in ("files", "dirs", "symlinks")
        if counts[kind] or kind == "files"
    )


@pytest.fixture
def sample(tmp_path: Path) -> tuple[Path, Path, dict[bytes, dict]]:
    """(src, dst, snapshot of src): the sample tree on the root filesystem."""
    src, dst = tmp_path / "src", tmp_path / "out" / "dst"
    return src, dst, make_tree(src, sample_spec())


# --------------------------------------------------------------------------
# Output without a terminal
# --------------------------------------------------------------------------


def test_without_a_tty_prints_no_bar_no_escapes_and_exactly_one_summary_line(sample):
    src, dst, snap = sample
    # Even with rich told to force colours and terminal features: the bar
    # depends on stderr being a terminal, and here it is a pipe.
    r = run_cli(src, dst, env=cli_env(FORCE_COLOR="1", TTY_COMPATIBLE="1"))
    line = summary_of(r)
    assert ANSI_ESCAPE not in r.stdout and ANSI_ESCAPE not in r.stderr, described(r)
    assert "━" not in r.stdout + r.stderr
    assert line.split(" (")[0].split(" ", 1)[1] == count_words(snap)
    assert_trees_equal(snap, dst)


def test_quiet_prints_nothing_and_still_copies(sample):
    src, dst, snap = sample
    r = run_cli("--quiet", src, dst)
    assert r.returncode == 0, described(r)
    assert (r.stdout, r.stderr) == ("", "")
    assert_trees_equal(snap, dst)


def test_json_prints_the_report_matching_the_tree_and_the_skipped_reflink(xfs, btrfs, fresh_dir):
    src, dst = fresh_dir(xfs) / "src", fresh_dir(btrfs) / "dst"
    snap = make_tree(src, sample_spec())
    r = run_cli("--json", src, dst)
    assert_succeeded(r)
    report = json.loads(r.stdout)  # the whole of stdout: no summary beside it
    counts = tree_counts(snap)
    assert set(report) == REPORT_KEYS
    assert report["src"] == str(src) and report["dst"] == str(dst)
    assert report["method"] == "copy"
    assert {k: report[k] for k in counts} == counts
    assert (report["copied"], report["reflinked"], report["hardlinked"]) == (counts["files"], 0, 0)
    assert report["skipped"] == [
        {"method": "reflink", "errno": errno.EXDEV, "error": "EXDEV", "message": EXDEV_MESSAGE}
    ]
    assert report["unsupported_metadata"] == []
    assert isinstance(report["elapsed"], float) and report["elapsed"] >= 0
    assert_trees_equal(snap, dst)


def test_json_on_one_xfs_reports_every_file_cloned_and_nothing_skipped(xfs, fresh_dir):
    base = fresh_dir(xfs)
    src, dst = base / "src", base / "dst"
    snap = make_tree(src, sample_spec())
    r = run_cli("--json", src, dst)
    assert_succeeded(r)
    report = json.loads(r.stdout)
    counts = tree_counts(snap)
    assert report["method"] == "reflink"
    assert {k: report[k] for k in counts} == counts
    assert (report["reflinked"], report["copied"], report["hardlinked"]) == (counts["files"], 0, 0)
    assert report["skipped"] == []
    assert_trees_equal(snap, dst)


# --------------------------------------------------------------------------
# The summary line
# --------------------------------------------------------------------------


def test_summary_across_filesystems_says_reflink_was_not_possible_and_copied_instead(
    xfs, btrfs, fresh_dir
):
    src, dst = fresh_dir(xfs) / "src", fresh_dir(btrfs) / "dst"
    snap = make_tree(src, sample_spec())
    line = summary_of(run_cli(src, dst))
    assert line.startswith(f"copied {count_words(snap)} ("), line
    assert line.endswith(f" s; {EXDEV_MESSAGE}; copied instead"), line
    assert_trees_equal(snap, dst)


def test_summary_on_one_xfs_says_cloned_and_nothing_instead(xfs, fresh_dir):
    base = fresh_dir(xfs)
    src, dst = base / "src", base / "dst"
    snap = make_tree(src, sample_spec())
    line = summary_of(run_cli(src, dst))
    assert line.startswith(f"cloned {count_words(snap)} ("), line
    assert "instead" not in line and "not possible" not in line, line
    assert_trees_equal(snap, dst)


def test_summary_of_a_single_file_has_no_dir_count(tmp_path):
    src = tmp_path / "one.bin"
    src.write_bytes(b"x" * 1500)
    line = summary_of(run_cli(src, tmp_path / "copy.bin"))
    assert re.match(r"(cloned|copied) 1 file \(1\.5 kB\) in ", line), line
    assert (tmp_path / "copy.bin").read_bytes() == src.read_bytes()


# --------------------------------------------------------------------------
# Exit codes and error messages
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ([], {}, "the following arguments are required: SRC, DST"),
        (["--methods", "bogus"], {}, 'unknown method "bogus"'),
        (["--methods", "reflink,,copy"], {}, 'unknown method ""'),
        (["--threads", "0"], {}, "threads must be between 1 and 256, not 0"),
        (["--threads", "-2"], {}, "threads must be between 1 and 256, not -2"),
        (["--threads", "1" + "0" * 19], {}, "threads must be between 1 and 256, not 1" + "0" * 19),
        (["--threads", "many"], {}, "argument --threads: invalid int value"),
        (["--overwrite"], {}, "--overwrite only applies to --merge"),
        (["--bogus-flag"], {}, "unrecognized arguments: --bogus-flag"),
        ([], {"FASTLINK_METHODS": "bogus"}, 'FASTLINK_METHODS="bogus": unknown method "bogus"'),
        (["--quiet"], {"FASTLINK_METHODS": "reflink;copy"}, "FASTLINK_METHODS="),
    ],
    ids=[
        "no-arguments",
        "bad-methods",
        "empty-method",
        "threads-0",
        "threads-negative",
        "threads-too-large",
        "threads-not-a-number",
        "overwrite-without-merge",
        "unknown-option",
        "bad-FASTLINK_METHODS",
        "bad-FASTLINK_METHODS-quiet",
    ],
)
def test_usage_errors_exit_2_with_one_error_line_and_write_nothing(sample, args, env, message):
    src, dst, _ = sample
    paths = [src, dst] if args or env else []
    r = run_cli(*args, *paths, env=cli_env(**env))
    line = assert_usage_error(r)
    assert message in line, line
    assert not dst.parent.exists(), "a usage error must not write anything"


def test_reflink_only_across_filesystems_exits_3_and_leaves_no_dst(xfs, btrfs, fresh_dir):
    src, dst = fresh_dir(xfs) / "src", fresh_dir(btrfs) / "dst"
    make_tree(src, sample_spec())
    line = assert_error(run_cli("--methods", "reflink", src, dst), 3)
    assert line == f"fastlink: error: {EXDEV_MESSAGE}: {src} -> {dst}"
    assert not os.path.lexists(dst)
    assert fastlink_entries(dst.parent) == []


@pytest.mark.parametrize("fs", ["ext4", "tmpfs"])
def test_reflink_only_where_the_filesystem_cannot_clone_exits_4_and_leaves_no_dst(
    request, fresh_dir, fs
):
    base = fresh_dir(request.getfixturevalue(fs))
    src, dst = base / "src", base / "dst"
    make_tree(src, sample_spec())
    line = assert_error(run_cli("--methods", "reflink", src, dst), 4)
    assert line.startswith("fastlink: error: reflink not possible: "), line
    assert line.endswith(f"(EOPNOTSUPP): {src} -> {dst}"), line
    assert not os.path.lexists(dst)
    assert fastlink_entries(base) == []


def test_hardlink_only_across_filesystems_exits_3(xfs, btrfs, fresh_dir):
    src, dst = fresh_dir(xfs) / "src", fresh_dir(btrfs) / "dst"
    make_tree(src, sample_spec())
    line = assert_error(run_cli("--methods", "hardlink", src, dst), 3)
    assert "(EXDEV)" in line, line
    assert not os.path.lexists(dst)


def test_existing_dst_without_merge_exits_1_and_is_left_untouched(sample, tmp_path):
    src, _, _ = sample
    dst = tmp_path / "existing"
    # A make_tree root: the source guard checks after the test that it is unchanged.
    before = make_tree(dst, {"mine.txt": b"keep me\n", "sub": {"deep.txt": b"me too\n"}})
    line = assert_error(run_cli(src, dst), 1)
    assert line == f"fastlink: error: File exists (EEXIST): {src} -> {dst}; --merge merges into it"
    assert snapshot(dst) == before
    assert fastlink_entries(tmp_path) == []


def test_missing_source_exits_1_with_enoent(tmp_path):
    src, dst = tmp_path / "no-such-dir", tmp_path / "dst"
    line = assert_error(run_cli(src, dst), 1)
    assert line.startswith("fastlink: error: No such file or directory (ENOENT): "), line
    assert str(src) in line
    assert not os.path.lexists(dst)


def test_special_file_source_exits_1(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    os.mkfifo(src / "pipe")
    line = assert_error(run_cli(src, tmp_path / "dst"), 1)
    assert "(EINVAL)" in line, line
    assert not os.path.lexists(tmp_path / "dst")


def test_closed_stdout_is_one_error_line_not_a_traceback(sample):
    """`fastlink SRC DST | true`: the tree is placed, the lost report is an I/O error."""
    src, dst, snap = sample
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to the pipe now fails with EPIPE
    try:
        r = subprocess.run(
            [*CLI, src, dst],
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=subprocess.PIPE,
            encoding="utf-8",
            env=cli_env(),
            timeout=TIMEOUT,
        )
    finally:
        os.close(write_end)
    assert r.returncode == 1, r.stderr
    assert r.stderr == "fastlink: error: cannot write the report: Broken pipe (EPIPE)\n"
    assert_trees_equal(snap, dst)


def test_errnos_are_named_by_the_extensions_one_table():
    """The command names errnos as fastlink's own messages do: one table, in
    the extension; an errno it does not name is "errno N"."""
    assert errno_name(errno.EXDEV) == fastlink._fastlink._errno_name(errno.EXDEV) == "EXDEV"
    # Linux's one value for ENOTSUP and EOPNOTSUPP, named as the messages name it.
    assert errno_name(errno.EOPNOTSUPP) == "EOPNOTSUPP"
    assert errno_name(4095) == "errno 4095"
    # Any OSError, not only fastlink's, gets the name after its text.
    err = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/a", None, "/b")
    assert error_line(err) == f"{os.strerror(errno.ENOSPC)} (ENOSPC): /a -> /b"


# --------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------


def test_merge_merges_into_an_existing_directory(sample, tmp_path):
    src, _, src_snap = sample
    dst = tmp_path / "merged"
    dst_snap = make_tree(dst, {"keep.txt": b"mine\n", "sub dir": {"also-mine.txt": b"too\n"}})
    forget_source(dst)  # the child process writes into it, on purpose
    summary_of(run_cli("--merge", src, dst))
    # What a merge must get right: entry types, file contents, link targets.
    assert_trees_equal(
        {**dst_snap, **src_snap}, dst, modes="ignore", times=False, include_root=False
    )
    assert fastlink_entries(tmp_path) == []


def test_merge_without_overwrite_refuses_a_conflicting_file_and_changes_nothing(sample, tmp_path):
    src, _, _ = sample
    dst = tmp_path / "merged"
    # Guarded as a source: it must come out exactly as it went in.
    before = make_tree(dst, {"keep.txt": b"mine\n", "small.txt": b"not the source's\n"})
    line = assert_error(run_cli("--merge", src, dst), 1)
    assert line.startswith("fastlink: error: File exists (EEXIST): "), line
    assert snapshot(dst) == before
    assert fastlink_entries(tmp_path) == []


def test_merge_overwrite_replaces_existing_files(sample, tmp_path):
    src, _, src_snap = sample
    dst = tmp_path / "merged"
    dst_snap = make_tree(dst, {"keep.txt": b"mine\n", "small.txt": b"old content\n"})
    forget_source(dst)
    summary_of(run_cli("--merge", "--overwrite", src, dst))
    assert (dst / "small.txt").read_bytes() == (src / "small.txt").read_bytes()
    assert (dst / "keep.txt").read_bytes() == b"mine\n"
    # What a merge must get right: entry types, file contents, link targets.
    assert_trees_equal(
        {**dst_snap, **src_snap}, dst, modes="ignore", times=False, include_root=False
    )


def test_times_are_kept_by_default_and_not_with_no_times(sample, tmp_path):
    src, _, snap = sample
    kept, fresh = tmp_path / "kept", tmp_path / "fresh"
    summary_of(run_cli(src, kept))
    assert_trees_equal(snap, kept, times=True)

    summary_of(run_cli("--no-times", src, fresh))
    assert_trees_equal(snap, fresh, times=False)
    after = snapshot(fresh)
    kept_times = [
        k
        for k, v in after.items()
        if v["type"] != "symlink" and v["mtime_ns"] == snap[k]["mtime_ns"]
    ]
    assert kept_times == [], f"--no-times kept the source mtime of {kept_times!r}"


def test_fastlink_methods_env_sets_the_default_methods(ext4, fresh_dir):
    base = fresh_dir(ext4)
    src, dst = base / "src", base / "dst"
    make_tree(src, sample_spec())
    line = summary_of(run_cli(src, dst, env=cli_env(FASTLINK_METHODS="hardlink,copy")))
    assert line.startswith("hard-linked "), line
    files = regular_files(src)
    assert files
    for s in files:
        d = os.path.join(os.fsencode(dst), os.path.relpath(s, os.fsencode(src)))
        assert os.stat(s).st_ino == os.stat(d).st_ino, f"{d!r} is not a hard link of {s!r}"


def test_methods_option_beats_fastlink_methods_env(ext4, fresh_dir):
    base = fresh_dir(ext4)
    src, dst = base / "src", base / "dst"
    snap = make_tree(src, sample_spec())
    r = run_cli("--json", "--methods", "copy", src, dst, env=cli_env(FASTLINK_METHODS="hardlink"))
    assert_succeeded(r)
    report = json.loads(r.stdout)
    assert (report["method"], report["skipped"]) == ("copy", [])
    assert report["copied"] == tree_counts(snap)["files"]
    for s in regular_files(src):
        d = os.path.join(os.fsencode(dst), os.path.relpath(s, os.fsencode(src)))
        assert os.stat(s).st_ino != os.stat(d).st_ino
    assert_trees_equal(snap, dst)


def test_blank_fastlink_methods_means_the_default(sample):
    src, dst, snap = sample
    line = summary_of(run_cli(src, dst, env=cli_env(FASTLINK_METHODS=" ")))
    assert line.startswith(("cloned ", "copied ")), line
    assert_trees_equal(snap, dst)


def test_threads_option_is_accepted(sample):
    src, dst, snap = sample
    summary_of(run_cli("--threads", "1", src, dst))
    assert_trees_equal(snap, dst)


def test_version_prints_the_package_version():
    r = run_cli("--version")
    assert_succeeded(r)
    assert r.stdout == f"fastlink {fastlink.__version__}\n"


def test_threads_help_gives_the_real_default_as_the_readme_does():
    """Not "default: cores" (issue 20, friction 7): one per core, 2 to 16, as
    the README and docs/api.md say, and what that is on this machine."""
    for command in ([], ["install"]):
        r = run_cli(*command, "--help")
        assert_succeeded(r)
        text = " ".join(r.stdout.split())
        assert "default: cores" not in text
        here = fastlink._fastlink._default_threads()
        assert 2 <= here <= 16
        assert (
            "worker threads, 1 to 256 (default: one per core, at least 2 and at most 16: "
            f"{here} here)"
        ) in text, text


def test_help_documents_the_exit_codes():
    r = run_cli("--help")
    assert_succeeded(r)
    assert r.stdout.startswith("usage: fastlink ")
    for code in ("0", "1", "2", "3", "4", "130"):
        assert re.search(rf"^  {code} +\S", r.stdout, re.MULTILINE), f"exit code {code} missing"


# --------------------------------------------------------------------------
# The installed console script
# --------------------------------------------------------------------------


def test_console_script_next_to_the_interpreter_runs_the_cli(sample):
    """pyproject's [project.scripts] entry; exists once the package is (re)installed."""
    script = Path(sys.executable).parent / "fastlink"
    assert script.is_file(), (
        f"{script} does not exist: reinstall the package (make develop) so that "
        "[project.scripts] fastlink = 'fastlink._cli:main' is installed"
    )
    src, dst, snap = sample
    version = subprocess.run(
        [script, "--version"], capture_output=True, text=True, env=cli_env(), timeout=TIMEOUT
    )
    assert (version.returncode, version.stdout) == (0, f"fastlink {fastlink.__version__}\n")
    r = subprocess.run(
        [script, src, dst],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        encoding="utf-8",
        env=cli_env(),
        timeout=TIMEOUT,
    )
    summary_of(r)
    assert_trees_equal(snap, dst)
