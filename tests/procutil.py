"""Running a command from a test: its output, or the test fails showing the tail of it."""

from __future__ import annotations

import os
import subprocess
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
