"""clone_or_copy releases the GIL while it works, so other Python threads
keep running during a long copy."""

import os
import sys
import threading
import time

import fastlink
from treespec import File, make_tree

MIB = 1 << 20


def _large_file_size(src_mount, dst_mount):
    # As large as comfortably fits on both (xfs is only 512 MiB): <= 256 MiB.
    free = min(os.statvfs(m).f_bavail * os.statvfs(m).f_frsize for m in (src_mount, dst_mount))
    return max(32 * MIB, min(256 * MIB, (free * 3 // 5) // MIB * MIB))


def test_other_python_threads_run_during_a_large_copy(tmpfs, xfs, fresh_dir):
    size = _large_file_size(tmpfs, xfs)
    src = fresh_dir(tmpfs) / "big.bin"
    dst = fresh_dir(xfs) / "big.bin"
    # Non-zero, cheap content (a repeated random block) so nothing is sparse.
    make_tree(src.parent, {"big.bin": File(os.urandom(MIB) * (size // MIB))})

    counter = [0]
    running = threading.Event()
    stop = threading.Event()

    def spin():
        running.set()
        while not stop.is_set():
            counter[0] += 1
            if counter[0] % 1000 == 0:
                # Yield now and then so the main thread gets the GIL back
                # promptly despite the very long switch interval below.
                time.sleep(0)

    # With a switch interval far longer than the call, the interpreter never
    # forces a GIL handover during (or right after) the call: the spinner can
    # only advance while clone_or_copy runs if fastlink releases the GIL.
    # (With the default 5 ms interval a GIL-holding call would still be
    # preempted once on return, letting the spinner run and the test pass.)
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(30.0)
    thread = threading.Thread(target=spin, daemon=True)
    try:
        thread.start()
        assert running.wait(10)
        before = counter[0]
        started = time.monotonic()
        report = fastlink.clone_or_copy(src, dst)
        duration = time.monotonic() - started
        after = counter[0]
    finally:
        stop.set()
        sys.setswitchinterval(old_interval)
        thread.join(10)

    assert duration < 30.0, "copy slower than the switch interval: the GIL check is not meaningful"
    assert after - before >= 20, (
        f"background thread advanced only {after - before} times during a {duration:.2f}s copy"
    )
    assert report.bytes == size
    assert os.path.getsize(dst) == size
