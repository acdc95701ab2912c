"""What happened to the names in a directory during a call: inotify.

`watching(dir)` records every event inotify reports for the directory and
the entries in it (through ctypes: the standard library has no inotify).
The kernel queues the events as they happen, so a name that existed for a
microsecond (a staging entry renamed away) is seen as surely as one that
stays, with no polling race. A file made with O_TMPFILE shows as
"#<inode>" until it is linked in: it has no name in the directory.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from skips import skip_or_fail

IN_ACCESS = 0x1
IN_MODIFY = 0x2
IN_ATTRIB = 0x4
IN_CLOSE_WRITE = 0x8
IN_CLOSE_NOWRITE = 0x10
IN_OPEN = 0x20
IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_ALL_EVENTS = 0xFFF
IN_Q_OVERFLOW = 0x4000

# Events that change a name or what is stored under it.
CHANGES = IN_MODIFY | IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
NAMELESS = re.compile(rb"#\d+\Z")  # an O_TMPFILE inode not linked in (yet)

_EVENT = struct.Struct("iIII")


@dataclass
class Watch:
    fd: int
    events: list[tuple[int, bytes]] = field(default_factory=list)

    def read(self) -> list[tuple[int, bytes]]:
        """Drain what is queued into `events` (mask, name); return all so far
        (after the watch ended: what it saw)."""
        while self.fd >= 0:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return self.events
            offset = 0
            while offset < len(data):
                _, mask, _, length = _EVENT.unpack_from(data, offset)
                assert not mask & IN_Q_OVERFLOW, "inotify queue overflowed: events were lost"
                start = offset + _EVENT.size
                self.events.append((mask, data[start : start + length].rstrip(b"\0")))
                offset = start + length
        return self.events

    def names(self, mask: int = IN_ALL_EVENTS) -> set[bytes]:
        """Every name that had one of the events in `mask`."""
        return {name for m, name in self.read() if m & mask and name}

    def named_changes(self) -> list[tuple[int, bytes]]:
        """The changes of entries that have a name (nameless O_TMPFILE files left out)."""
        return [(m, n) for m, n in self.read() if m & CHANGES and n and not NAMELESS.match(n)]


@contextlib.contextmanager
def watching(directory: str | os.PathLike) -> Iterator[Watch]:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    if fd < 0:
        skip_or_fail(f"inotify_init1: {os.strerror(ctypes.get_errno())}")
    try:
        path = os.fsencode(os.fspath(directory))
        if libc.inotify_add_watch(fd, path, IN_ALL_EVENTS) < 0:
            err = ctypes.get_errno()
            raise OSError(err or errno.EINVAL, os.strerror(err), directory)
        watch = Watch(fd)
        try:
            yield watch
            watch.read()
        finally:
            watch.fd = -1
    finally:
        os.close(fd)
