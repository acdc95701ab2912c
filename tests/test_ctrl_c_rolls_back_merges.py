"""Ctrl-C during a merge (dirs_exist_ok=True) raises KeyboardInterrupt and
rolls the merge back: pre-existing files are untouched and nothing new is
left, neither final names nor staging/temp entries (ISSUE3 contract,
guarantees 2 and 8).

As in test_ctrl_c_interrupts.py, the child interrupts itself from a second
Python thread once the merge has visibly started, which only works because
the copy releases the GIL, and lands the signal mid-copy however fast this
machine is. "Visibly started" = any entry appeared in dst or in one of its
pre-existing directories that was not there before (a staged subtree, a
temp file, or with an implementation without staging, a final name).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fdwalk import fastlink_entries
from guardhooks import forget_source
from snapshots import assert_trees_equal, snapshot
from treespec import File, make_tree

CHILD = textwrap.dedent(
    """
    import json, os, signal, sys, threading, time
    import fastlink

    src, dst, watch = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    initial = {d: set(os.listdir(d)) for d in watch}

    def interrupt_once_started():
        while True:
            for d in watch:
                try:
                    if set(os.listdir(d)) - initial[d]:
                        os.kill(os.getpid(), signal.SIGINT)
                        return
                except FileNotFoundError:
                    pass
            time.sleep(0.0005)

    threading.Thread(target=interrupt_once_started, daemon=True).start()
    try:
        fastlink.clone_or_copy(src, dst, methods="copy", threads=1, dirs_exist_ok=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(3)
    print("finished", flush=True)
    """
)

FILES = 2400
SIZE = 64 * 1024


def make_src(root: Path, layout: str) -> None:
    """FILES files of SIZE bytes. "existing-dirs": all inside directories
    that already exist in dst (each file is a temp file + rename there);
    "new-dirs": all inside directories new to dst (staged subtrees);
    "mixed": half and half, plus top-level files in dst itself."""
    chunk = os.urandom(SIZE)
    for i in range(FILES):
        if layout == "existing-dirs" or (layout == "mixed" and i % 2 == 0):
            sub = root / "shared" / f"s{i % 4}"
        else:
            sub = root / f"new{i % 40}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i}").write_bytes(chunk)
    if layout == "mixed":
        for i in range(20):
            (root / f"top{i}.bin").write_bytes(chunk)


def make_existing_dst(dst: Path) -> None:
    make_tree(
        dst,
        {
            "keep.txt": b"installed earlier\n",
            "private.bin": File(os.urandom(100_000), 0o600),
            "shared": {
                "mine.txt": b"mine\n",
                **{f"s{k}": {f"old{k}.py": f"old {k}\n".encode()} for k in range(4)},
            },
            "untouched-dir": {"x": b"x"},
        },
    )


@pytest.mark.parametrize("layout", ["existing-dirs", "new-dirs", "mixed"])
def test_sigint_mid_merge_raises_keyboard_interrupt_and_rolls_back(tmp_path, layout):
    src = tmp_path / "src"
    make_src(src, layout)
    src_before = snapshot(src)
    dst = tmp_path / "out" / "dst"
    make_existing_dst(dst)
    # The merge runs in a child process, which conftest's source guard cannot
    # see; this test checks dst itself (directory mtimes may change, nothing
    # else may).
    forget_source(dst)
    before = snapshot(dst)
    watch = [str(dst), str(dst / "shared"), *(str(dst / "shared" / f"s{k}") for k in range(4))]
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(src), str(dst), json.dumps(watch)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 3, (child.returncode, child.stdout, child.stderr)
    assert child.stdout.strip() == "interrupted"
    assert_trees_equal(before, dst, modes="exact", dir_times=False, what="pre-existing dst")
    assert fastlink_entries(tmp_path / "out") == []
    assert sorted(os.listdir(tmp_path / "out")) == ["dst"]
    assert snapshot(src) == src_before, "the source was modified"
