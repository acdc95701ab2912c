"""The walk reads each directory with getdents64 until a read returns
nothing. A short read is not the end on any filesystem: the kernel's
filldir64 stops filling a read early when the reading thread has a signal
pending, and a FUSE or NFS server may answer short. So:
- a directory too large for one read is listed whole on every filesystem
  here, FUSE included;
- it is listed whole while signals rain on the workers that read it (a
  profiler's timer, SIGCHLD, an alarm).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import fastlink
import pytest
from mounts import bindfs

# Names of 120 bytes: 136-byte records, so some 240 to a 32 KiB read and
# this many take 9 reads.
ENTRIES = 2000
# Reads of 32 KiB hold some 500 of these names: each directory takes a few.
DIRS_UNDER_SIGNALS = 20
FILES_UNDER_SIGNALS = 1000


def _big_dir(root: Path) -> set[str]:
    big = root / "big"
    big.mkdir(parents=True)
    names = {f"{i:05d}-" + "n" * 114 for i in range(ENTRIES)}
    for name in names:
        (big / name).write_bytes(b"x")
    (root / "small").mkdir()
    (root / "small" / "one.py").write_bytes(b"")
    return names


@pytest.mark.parametrize("fs", ["xfs", "btrfs", "ext4", "tmpfs"])
def test_a_directory_larger_than_one_read_is_listed_whole(request, fresh_dir, fs):
    mount = request.getfixturevalue(fs)
    src = fresh_dir(mount, "list-src-") / "tree"
    names = _big_dir(src)
    dst = fresh_dir(mount, "list-dst-") / "out"
    report = fastlink.clone_or_copy(src, dst)
    assert report.files == ENTRIES + 1
    assert set(os.listdir(dst / "big")) == names


def test_a_directory_larger_than_one_read_is_listed_whole_on_fuse(xfs, fresh_dir):
    backing = fresh_dir(xfs, "list-fuse-")
    names = _big_dir(backing / "tree")
    dst = fresh_dir(xfs, "list-dst-") / "out"
    with bindfs(backing) as mnt:
        report = fastlink.clone_or_copy(mnt / "tree", dst, methods="copy")
    assert report.files == ENTRIES + 1
    assert set(os.listdir(dst / "big")) == names


SIGNAL_CHILD = textwrap.dedent(
    """
    import ctypes, os, signal, sys, threading, fastlink
    signal.signal(signal.SIGUSR1, lambda *_: None)
    libc = ctypes.CDLL(None, use_errno=True)
    SYS_TGKILL = 234  # x86_64
    src, dst = sys.argv[1], sys.argv[2]
    fastlink.clone_or_copy(src, dst + "-warm", methods="copy", threads=2)  # the workers exist
    tasks = "/proc/self/task"
    workers = [
        int(tid) for tid in os.listdir(tasks)
        if open(f"{tasks}/{tid}/comm").read().startswith("fastlink")
    ]
    stop = threading.Event()

    def storm():
        while not stop.is_set():
            for tid in workers:
                libc.syscall(SYS_TGKILL, os.getpid(), tid, signal.SIGUSR1)

    sender = threading.Thread(target=storm)
    sender.start()
    try:
        files = fastlink.clone_or_copy(src, dst, methods="copy", threads=2).files
    finally:
        stop.set()
        sender.join()
    print(len(workers), files)
    """
)


def test_a_directory_is_listed_whole_while_signals_interrupt_its_reads(tmpfs, fresh_dir):
    src = fresh_dir(tmpfs, "list-src-") / "tree"
    names = {}
    for d in range(DIRS_UNDER_SIGNALS):
        names[f"d{d:02d}"] = {f"{i:05d}-" + "n" * 40 for i in range(FILES_UNDER_SIGNALS)}
        (src / f"d{d:02d}").mkdir(parents=True)
        for name in names[f"d{d:02d}"]:
            (src / f"d{d:02d}" / name).write_bytes(b"")
    dst = fresh_dir(tmpfs, "list-dst-") / "out"
    argv = [sys.executable, "-c", SIGNAL_CHILD, os.fspath(src), os.fspath(dst)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    workers, files = map(int, proc.stdout.split())
    assert workers == 2
    assert files == DIRS_UNDER_SIGNALS * FILES_UNDER_SIGNALS
    for d, expected in names.items():
        assert set(os.listdir(dst / d)) == expected
