"""Counting the syscalls a piece of Python makes: `strace -f` on a child.

The child runs `code` after a prelude that defines `mark(name)`. A mark is
a failing stat of a path no filesystem has, so it shows in the trace as one
line and costs the child nothing; `traced()` returns the syscalls of every
thread from each mark to the next, by mark name. Counts, never timings: a
bound on syscalls per call holds on a slow machine and a loaded one alike.

A syscall that another thread's output interrupts is printed by strace in
two halves (`... <unfinished ...>` and `<... name resumed> ...`); it is
counted once, in the section where it began, with its two halves joined.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from mounts import require_tools

MARK_PREFIX = "/fastlink-strace-mark-"

PRELUDE = f"""
import os as _os

def mark(name):
    try:
        _os.stat({MARK_PREFIX!r} + name)
    except OSError:
        pass

"""

_START = re.compile(r"^(\d+)\s+(\w+)\((.*)$")
_RESUMED = re.compile(r"^(\d+)\s+<\.\.\. (\w+) resumed>(.*)$")
_MARK = re.compile(re.escape(MARK_PREFIX) + r'([\w-]+)"')

# Syscalls that start a thread or a process.
THREAD_STARTS = frozenset({"clone", "clone3", "fork", "vfork"})


@dataclass
class Syscall:
    pid: int
    name: str
    text: str  # arguments and result as strace printed them

    def __str__(self) -> str:
        return f"{self.pid} {self.name}({self.text}"


@dataclass
class Trace:
    sections: dict[str, list[Syscall]]
    stdout: str

    def names(self, section: str) -> Counter[str]:
        return Counter(call.name for call in self.sections[section])

    def matching(self, section: str, pattern: str) -> list[Syscall]:
        """The calls of `section` whose name or text contains `pattern`."""
        return [c for c in self.sections[section] if pattern in c.name or pattern in c.text]

    def describe(self, section: str) -> str:
        return ", ".join(f"{n} x{c}" for n, c in self.names(section).most_common())


def traced(code: str, *args: str, prefix: Sequence[str] = (), timeout: float = 300) -> Trace:
    """Run `python -c PRELUDE+code args...` under `strace -f` (behind the
    argv `prefix`, e.g. faultutil.unprivileged_prefix()); the child must
    succeed. Its syscalls, split at its marks, and its stdout."""
    require_tools("strace")
    with tempfile.TemporaryDirectory(prefix="fastlink-strace-") as scratch:
        out = os.path.join(scratch, "trace")
        argv = ["strace", "-f", "-qq", "-o", out, *prefix, sys.executable, "-c", PRELUDE + code]
        r = subprocess.run([*argv, *args], capture_output=True, text=True, timeout=timeout)
        assert r.returncode == 0, f"traced child failed: rc={r.returncode}\n{r.stderr[-4000:]}"
        with open(out, errors="replace") as f:
            lines = f.read().splitlines()
    return Trace(_sections(lines), r.stdout)


def _sections(lines: list[str]) -> dict[str, list[Syscall]]:
    sections: dict[str, list[Syscall]] = {}
    current: list[Syscall] | None = None
    pending: dict[int, Syscall] = {}
    for line in lines:
        resumed = _RESUMED.match(line)
        if resumed:
            call = pending.pop(int(resumed.group(1)), None)
            if call is not None:
                call.text += resumed.group(3)
            continue
        start = _START.match(line)
        if not start:
            continue  # signals, exits
        mark = _MARK.search(line)
        if mark and start.group(2) in ("stat", "newfstatat", "statx", "lstat", "fstatat64"):
            current = sections.setdefault(mark.group(1), [])
            continue
        call = Syscall(int(start.group(1)), start.group(2), start.group(3))
        if call.text.endswith("<unfinished ...>"):
            pending[call.pid] = call
        if current is not None:
            current.append(call)
    return sections
