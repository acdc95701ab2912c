"""Ctrl-C during a long copy raises KeyboardInterrupt and leaves no destination."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

# The child interrupts itself from a second Python thread once the copy has
# visibly started (its staging directory exists beside dst). That thread can
# only run because the copy releases the GIL, and it makes the signal land
# mid-copy without relying on how fast this machine copies.
CHILD = textwrap.dedent(
    """
    import os, signal, sys, threading, time
    import fastlink

    src, dst = sys.argv[1], sys.argv[2]

    def interrupt_once_started():
        parent = os.path.dirname(dst)
        while not (
            os.path.isdir(parent)
            and any(n.startswith(".fastlink-staging.") for n in os.listdir(parent))
        ):
            time.sleep(0.0005)
        time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_once_started, daemon=True).start()
    try:
        fastlink.clone_or_copy(src, dst, methods="copy", threads=1)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(3)
    print("finished", flush=True)
    """
)


def make_big_tree(root: Path, files: int = 4000, size: int = 64 * 1024) -> None:
    chunk = os.urandom(size)
    for i in range(files):
        sub = root / f"d{i % 40}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i}").write_bytes(chunk)


def test_sigint_mid_copy_raises_keyboard_interrupt_and_removes_dst(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "out" / "dst"
    make_big_tree(src)
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(src), str(dst)],
        stdout=subprocess.PIPE,
        text=True,
        timeout=60,
    )
    assert child.returncode == 3, child.stdout
    assert child.stdout.strip() == "interrupted"
    assert not (tmp_path / "out").exists()
