"""Ctrl-C during a long copy raises KeyboardInterrupt promptly and leaves no destination."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

CHILD = textwrap.dedent(
    """
    import sys, fastlink
    print("started", flush=True)
    try:
        fastlink.clone_or_copy(sys.argv[1], sys.argv[2], methods="copy", threads=1)
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
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(src), str(dst)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "started"
    time.sleep(0.3)
    child.send_signal(signal.SIGINT)
    try:
        out, _ = child.communicate(timeout=20)
    finally:
        child.kill()
    assert child.returncode == 3, out
    assert "interrupted" in out
    assert not (tmp_path / "out").exists()
