"""A process that forks after using fastlink (multiprocessing's "fork"
start method, the default on Linux up to Python 3.13) must find fastlink
working in the child: tree calls return, and Ctrl-C still stops them.

The child's calls run in the child; the parent only watches, with a
deadline, and kills a child that hangs (which is the bug these pin: the
child used to hand its work to the parent's worker threads, which a fork
does not copy, and wait for them forever).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import fastlink
import pytest
from fdwalk import make_fresh_dir
from gates import OpenGate
from mounts import faultfs
from snapshots import assert_trees_equal
from treespec import File, make_tree, sample_spec

DEADLINE_S = 30
MiB = 1 << 20
# The calls of the mid-call test, without the source guard's wrapper
# (conftest): the guard reads the source, which the test holds still.
unguarded_clone_or_copy = getattr(fastlink.clone_or_copy, "__wrapped__", fastlink.clone_or_copy)


def fork_child(child: Callable[[], int]) -> int:
    """fork(); the child runs `child` and exits with its code. Returns the pid."""
    with warnings.catch_warnings():
        # 3.12+: DeprecationWarning for fork() in a process with threads.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = child()
        finally:
            os._exit(code)
    return pid


def wait_or_kill(pid: int, deadline_s: float = DEADLINE_S) -> int:
    """The child's exit code; one still running after `deadline_s` is killed
    and the test fails."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"the forked child did not finish within {deadline_s} s")


def fork_and_wait(child: Callable[[], int]) -> int:
    """Run `child` in a fork()ed process and return its exit code."""
    return wait_or_kill(fork_child(child))


def tree_call_succeeds(src: Path, dst: Path, **kwargs: object) -> Callable[[], int]:
    def child() -> int:
        fastlink.clone_or_copy(src, dst, **kwargs)  # type: ignore[arg-type]
        return 0

    return child


@pytest.mark.parametrize("threads", [None, 1, 3])
def test_a_tree_call_in_a_forked_child_completes(xfs: Path, threads: int | None) -> None:
    base = make_fresh_dir(xfs)
    make_tree(base / "src", sample_spec())
    fastlink.clone_or_copy(base / "src", base / "parent", threads=threads)

    code = fork_and_wait(tree_call_succeeds(base / "src", base / "child", threads=threads))

    assert code == 0
    assert_trees_equal(base / "src", base / "child")
    # And the parent still works after its child's calls.
    fastlink.clone_or_copy(base / "src", base / "parent-again", threads=threads)


def test_a_grandchild_works_too(xfs: Path) -> None:
    base = make_fresh_dir(xfs)
    make_tree(base / "src", sample_spec())
    fastlink.clone_or_copy(base / "src", base / "parent")

    def child() -> int:
        fastlink.clone_or_copy(base / "src", base / "child")
        return fork_and_wait(tree_call_succeeds(base / "src", base / "grandchild"))

    assert fork_and_wait(child) == 0
    assert_trees_equal(base / "src", base / "grandchild")


def _multiprocessing_target(src: str, dst: str) -> None:
    fastlink.clone_or_copy(src, dst)


def test_multiprocessing_fork_children_can_call(xfs: Path) -> None:
    base = make_fresh_dir(xfs)
    make_tree(base / "src", sample_spec())
    fastlink.clone_or_copy(base / "src", base / "parent")
    context = multiprocessing.get_context("fork")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        children = [
            context.Process(target=_multiprocessing_target, args=(base / "src", base / f"c{i}"))
            for i in range(3)
        ]
        for process in children:
            process.start()
    for process in children:
        process.join(DEADLINE_S)
    hung = [p for p in children if p.is_alive()]
    for process in hung:
        process.kill()
        process.join()
    assert hung == []
    assert [p.exitcode for p in children] == [0, 0, 0]
    for i in range(3):
        assert_trees_equal(base / "src", base / f"c{i}")


def test_a_fork_while_another_thread_is_mid_call_leaves_the_child_working(xfs: Path) -> None:
    base = make_fresh_dir(xfs)
    make_tree(base / "held", {f"f{i}": File(b"x" * 100) for i in range(20)})
    make_tree(base / "src", sample_spec())
    errors: list[BaseException] = []

    with OpenGate([base / "held"]) as gate:
        gate.allow(2)  # the call in the thread gets going, then waits in open()

        def held_call() -> None:
            try:
                unguarded_clone_or_copy(base / "held", base / "held-dst")
            except BaseException as err:
                errors.append(err)

        thread = threading.Thread(target=held_call)
        thread.start()
        while gate._granted < 2:  # the workers are busy now
            time.sleep(0.01)

        def child() -> int:
            unguarded_clone_or_copy(base / "src", base / "child")
            return 0

        code = fork_and_wait(child)
        gate.open_wide()
        thread.join(DEADLINE_S)
    assert code == 0
    assert_trees_equal(base / "src", base / "child")
    assert not thread.is_alive()
    assert errors == []
    assert_trees_equal(base / "held", base / "held-dst")


def test_ctrl_c_stops_a_call_in_a_forked_child(xfs: Path, tmp_path: Path) -> None:
    base = make_fresh_dir(xfs)
    make_tree(base / "small", sample_spec())
    backing = tmp_path / "backing"
    make_tree(backing, {"big.bin": File(b"x" * (16 * MiB))})
    fastlink.clone_or_copy(base / "small", base / "parent")
    dst = base / "dst"

    # The source reads at 1 MiB/s, and says when the copy has read its first
    # MiB: Ctrl-C then lands mid-copy, never after the call could finish.
    with faultfs(backing, read_rate=MiB, notify=[("big.bin", MiB)]) as slow:

        def child() -> int:
            try:
                unguarded_clone_or_copy(slow.path, dst)
            except KeyboardInterrupt:
                return 0 if not dst.exists() else 2
            return 3  # the copy finished before Ctrl-C came

        pid = fork_child(child)
        slow.wait_for(f"reached big.bin {MiB}")
        sent = time.monotonic()
        os.kill(pid, signal.SIGINT)
        code = wait_or_kill(pid)
        took = time.monotonic() - sent
    assert code == 0
    assert took < 5
