"""Running things from a test under a deadline: a command (its output, or the
test fails showing the tail of it), or a call in a thread (a hang fails the
test instead of hanging the suite)."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Union

import pytest

StrPath = Union[str, "os.PathLike[str]"]


def run_or_fail(
    argv: Sequence[StrPath],
    *,
    env: Mapping[str, str],
    timeout: float,
    cwd: StrPath | Path | None = None,
    tail_lines: int = 60,
) -> str:
    """Run `argv` (stdin closed, stderr merged into stdout) and return its output."""
    args = [os.fspath(a) for a in argv]
    proc = subprocess.run(
        args,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-tail_lines:])
        pytest.fail(f"`{' '.join(args)}` exited {proc.returncode}:\n{tail}", pytrace=False)
    return proc.stdout


def call_with_deadline(fn, *args, deadline_s: float, on_hang=None, **kwargs):
    """Run fn(*args, **kwargs) in a daemon thread; return ("result" | "error",
    value). Fails the test if it has not returned within `deadline_s` (after
    calling on_hang(), which may unblock the thread)."""
    outcome: dict = {}

    def target():
        try:
            outcome["result"] = fn(*args, **kwargs)
        except BaseException as e:
            outcome["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(deadline_s)
    if t.is_alive():
        if on_hang is not None:
            on_hang()
        pytest.fail(f"{getattr(fn, '__name__', fn)} did not return within {deadline_s}s: it hangs")
    ((kind, value),) = outcome.items()
    return kind, value
