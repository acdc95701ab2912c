"""Data written moments ago takes the fastest route (issue 19, items 1-3).

On XFS a clone waits for the source's dirty data to be written back, so a
file changed within the kernel's writeback window takes the next allowed
method instead (a copy under the default), and the report says so with
errno NOT_WRITTEN_BACK (0). On btrfs the clone stays. `methods="reflink"`
always clones. The decision is pinned here, never its speed (that is in
benches/test_fresh_trees.py).

conftest.py sets FASTLINK_WRITEBACK_SECONDS=0 for the rest of the suite;
each test here sets its own window, or removes the variable for the
kernel's (read from /proc/sys/vm, 35 s by default, so a tree made by the
test is always within it).
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import fastlink
import pytest
from fdwalk import regular_files
from fiemap import FIEMAP_MIN_SIZE, describe_extents, is_fully_shared
from snapshots import assert_trees_equal
from syscalls import traced
from treespec import File, make_tree, random_bytes, sample_spec

# /proc/sys/vm and XFS are Linux's (`make macos-sim` deselects these).
pytestmark = pytest.mark.linux_backend

ENV = "FASTLINK_WRITEBACK_SECONDS"


@pytest.fixture
def kernel_window(monkeypatch):
    """The kernel's writeback window decides, as in a user's process."""
    monkeypatch.delenv(ENV, raising=False)


def big_files(root: Path) -> list[bytes]:
    return [p for p in regular_files(root) if os.path.getsize(p) >= FIEMAP_MIN_SIZE]


def assert_every_big_file(root: Path, shared: bool) -> None:
    files = big_files(root)
    assert len(files) >= 5
    for f in files:
        assert is_fully_shared(f) == shared, describe_extents(f)


def test_a_tree_written_moments_ago_on_xfs_is_copied_and_the_report_says_why(
    kernel_window, xfs, fresh_dir
):
    base = fresh_dir(xfs)
    snapshot = make_tree(base / "src", sample_spec())

    report = fastlink.clone_or_copy(base / "src", base / "dst")

    assert (report.method, report.copied, report.reflinked) == ("copy", report.files, 0)
    assert report.skipped == ()
    [(method, errno_, files, message)] = report.fallbacks
    assert (method, errno_, files) == ("reflink", fastlink.NOT_WRITTEN_BACK, report.files)
    assert fastlink.NOT_WRITTEN_BACK == 0 and errno_ not in (errno.EXDEV, errno.EOPNOTSUPP)
    assert "not yet written back" in message
    assert_every_big_file(base / "dst", shared=False)
    assert_trees_equal(snapshot, base / "dst", times=True)


def test_a_tree_older_than_the_window_still_clones_and_a_new_file_in_it_does_not(
    monkeypatch, xfs, fresh_dir
):
    monkeypatch.setenv(ENV, "1")
    base = fresh_dir(xfs)
    make_tree(base / "src", sample_spec())
    os.sync()
    time.sleep(1.2)  # every file's ctime is now older than the window
    (base / "src" / "new.bin").write_bytes(random_bytes(FIEMAP_MIN_SIZE, 9))

    report = fastlink.clone_or_copy(base / "src", base / "dst")

    assert (report.reflinked, report.copied) == (report.files - 1, 1)
    assert report.fallbacks == (("reflink", fastlink.NOT_WRITTEN_BACK, 1, report.fallbacks[0][3]),)
    assert not is_fully_shared(base / "dst" / "new.bin")
    shared = [f for f in big_files(base / "dst") if not f.endswith(b"new.bin")]
    assert shared and all(is_fully_shared(f) for f in shared)


def test_methods_reflink_clones_fresh_data_all_the_same(kernel_window, xfs, fresh_dir):
    base = fresh_dir(xfs)
    make_tree(base / "src", sample_spec())

    report = fastlink.clone_or_copy(base / "src", base / "dst", methods="reflink")

    assert (report.reflinked, report.fallbacks) == (report.files, ())
    assert_every_big_file(base / "dst", shared=True)


def test_fresh_data_on_btrfs_is_cloned(kernel_window, btrfs, fresh_dir):
    base = fresh_dir(btrfs)
    make_tree(base / "src", sample_spec())

    report = fastlink.clone_or_copy(base / "src", base / "dst")

    assert (report.method, report.reflinked, report.fallbacks) == ("reflink", report.files, ())
    assert_every_big_file(base / "dst", shared=True)


def test_a_hard_link_allowed_after_the_clone_is_what_fresh_data_takes(
    kernel_window, xfs, fresh_dir
):
    base = fresh_dir(xfs)
    make_tree(base / "src", {"a.bin": File(random_bytes(FIEMAP_MIN_SIZE, 1)), "b.txt": b"b"})

    report = fastlink.clone_or_copy(
        base / "src", base / "dst", methods=["reflink", "hardlink", "copy"]
    )

    assert (report.hardlinked, report.reflinked, report.copied) == (2, 0, 0)
    assert report.fallbacks[0][:3] == ("reflink", fastlink.NOT_WRITTEN_BACK, 2)
    assert os.stat(base / "dst" / "a.bin").st_ino == os.stat(base / "src" / "a.bin").st_ino


@pytest.mark.parametrize("shape", ["single-file", "file-list"])
def test_single_files_and_file_lists_take_the_same_route(kernel_window, xfs, fresh_dir, shape):
    base = fresh_dir(xfs)
    (base / "src").mkdir()
    (base / "src" / "f.bin").write_bytes(random_bytes(FIEMAP_MIN_SIZE, 2))

    def place(methods):
        dst = base / f"dst-{'-'.join(methods or ['default'])}"
        if shape == "single-file":
            report = fastlink.clone_or_copy(base / "src" / "f.bin", dst, methods=methods)
            return report, dst
        report = fastlink.clone_files(base / "src", dst, ["f.bin"], methods=methods)
        return report, dst / "f.bin"

    report, placed = place(None)
    assert (report.copied, report.fallbacks[0][:3]) == (1, ("reflink", 0, 1))
    assert not is_fully_shared(placed)
    report, placed = place(["reflink"])
    assert (report.reflinked, report.fallbacks) == (1, ())
    assert is_fully_shared(placed)


def test_the_kernels_writeback_window_is_the_default(xfs, fresh_dir):
    """With vm.dirty_expire_centisecs + vm.dirty_writeback_centisecs at 1 s
    (set for the child's start only, then restored), a tree synced and left
    for 1.5 s is past the window, and clones; the default 35 s would copy it."""
    base = fresh_dir(xfs)
    make_tree(base / "src", sample_spec())
    os.sync()
    time.sleep(1.5)
    vm = Path("/proc/sys/vm")
    saved = {
        k: (vm / k).read_text() for k in ("dirty_expire_centisecs", "dirty_writeback_centisecs")
    }
    child = textwrap.dedent(
        """
        import sys, fastlink
        with open(sys.argv[3] + "/fresh.txt", "w") as f:
            f.write("fresh")
        # A fresh file under a clone-first preference: the window is read now.
        fastlink.clone_or_copy(sys.argv[3] + "/fresh.txt", sys.argv[4])
        print("read", flush=True)
        sys.stdin.readline()  # the window is restored by now
        r = fastlink.clone_or_copy(sys.argv[1], sys.argv[2])
        print(r.reflinked, r.files, r.fallbacks)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != ENV}
    (base / "empty").mkdir()
    argv = [sys.executable, "-c", child, str(base / "src"), str(base / "dst")]
    argv += [str(base / "empty"), str(base / "fresh-dst.txt")]
    try:
        for k in saved:
            (vm / k).write_text("50")
        proc = subprocess.Popen(
            argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None and proc.stdout.readline() == "read\n"
    finally:
        for k, v in saved.items():
            (vm / k).write_text(v)
    out, _ = proc.communicate("go\n", timeout=120)
    reflinked, files, fallbacks = out.split(" ", 2)
    assert (reflinked, fallbacks.strip()) == (files, "()")


def test_the_route_costs_no_syscall_per_file_nor_per_call(kernel_window, xfs, fresh_dir):
    """The same fresh tree placed by the route (default methods) and by
    `methods="copy"` makes the same syscalls: the window and whether the
    filesystem's clones wait were learnt once, by the process's first call
    (as the probe's answer was)."""
    base = fresh_dir(xfs)
    spec = {
        f"d{i}": {f"m{j}.py": File(random_bytes(200 + j, j)) for j in range(20)} for i in range(5)
    }
    for name in ("warm", "one", "two"):
        make_tree(base / name, spec)
    code = textwrap.dedent(
        """
        import sys, fastlink
        base = sys.argv[1]
        # The probe, the window and the filesystem's answer, each once per process:
        fastlink.clone_or_copy(base + "/warm", base + "/warm-dst")
        mark("route")
        r = fastlink.clone_or_copy(base + "/one", base + "/one-dst")
        mark("copy")
        c = fastlink.clone_or_copy(base + "/two", base + "/two-dst", methods="copy")
        mark("end")
        print(r.copied, r.fallbacks[0][1], c.copied)
        """
    )
    trace = traced(code, str(base))  # kernel_window: the child inherits no window
    assert trace.stdout.split() == ["100", "0", "100"]
    # Thread scheduling and the hasher's seed come and go between any two calls.
    noise = ("futex", "sched_yield", "getrandom")
    route, copy = (
        Counter({k: v for k, v in trace.names(s).items() if k not in noise})
        for s in ("route", "copy")
    )
    assert route == copy, (trace.describe("route"), trace.describe("copy"))


def test_a_malformed_window_is_a_value_error_before_anything_is_written(
    monkeypatch, xfs, fresh_dir
):
    monkeypatch.setenv(ENV, "soon")
    base = fresh_dir(xfs)
    make_tree(base / "src", {"a": b"a"})

    with pytest.raises(ValueError, match="FASTLINK_WRITEBACK_SECONDS"):
        fastlink.clone_or_copy(base / "src", base / "dst")
    assert not (base / "dst").exists()


def test_the_commands_say_fresh_files_were_not_cloned_and_how_to_clone_them(
    kernel_window, xfs, fresh_dir
):
    """A choice made for speed reads as one, in `fastlink SRC DST`'s summary
    and in `fastlink install`'s (files counted, not "some"), with the way to
    clone anyway; never as files that "fell back"."""
    from test_cli import cli_env, run_cli
    from test_install_wheels import build, make_venv
    from test_install_wheels import run_cli as run_install

    base = fresh_dir(xfs)
    make_tree(base / "src", {"a.bin": File(random_bytes(FIEMAP_MIN_SIZE, 1)), "b.txt": b"b"})
    env = {k: v for k, v in cli_env().items() if k != ENV}
    tree = run_cli(base / "src", base / "dst", env=env)
    assert tree.returncode == 0, tree.stderr
    assert "2 files written moments ago not cloned" in tree.stdout
    assert "--methods reflink clones anyway" in tree.stdout and "fell back" not in tree.stdout

    python = make_venv(base / "venv")
    wheel = build(base / "wheels")
    env = {k: v for k, v in os.environ.items() if k != ENV}
    done = run_install("--python", python, "--cache-dir", base / "cache", wheel, env=env)
    assert done.returncode == 0, done.stderr
    assert "written moments ago not cloned" in done.stdout and "some files" not in done.stdout
