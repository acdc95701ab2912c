"""Gates that make a race window in a test deterministic, so no test has to
guess a timing: the kernel holds the call at the chosen step until the test
lets it go on.

- `OpenGate`: fanotify open-permission events (root only) hold each open() of
  a file directly inside chosen directories; the copy advances exactly as far
  as the test allows.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import select
import struct
import threading
from pathlib import Path

_JOIN_TIMEOUT = 60


FAN_CLOEXEC = 0x1
FAN_NONBLOCK = 0x2
FAN_CLASS_CONTENT = 0x4
FAN_MARK_ADD = 0x1
FAN_OPEN_PERM = 0x10000
FAN_EVENT_ON_CHILD = 0x08000000
FAN_ALLOW = 0x1
AT_FDCWD = -100
# struct fanotify_event_metadata and struct fanotify_response
EVENT = struct.Struct("=IBBHQii")
RESPONSE = struct.Struct("=iI")


class OpenGate:
    """Holds each open() of a file directly inside one of `dirs` until the test
    lets it through: `allow(n)` lets the first n opens pass, `open_wide()` all.

    The kernel suspends the opening thread until this listener answers its
    FAN_OPEN_PERM event, so the copy advances exactly as far as allowed.
    `close()` (or leaving the `with` block) lets everything through for good.
    """

    def __init__(self, dirs: list[Path]) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.fanotify_init.argtypes = [ctypes.c_uint, ctypes.c_uint]
        libc.fanotify_init.restype = ctypes.c_int
        libc.fanotify_mark.argtypes = [
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint64,
            ctypes.c_int,
            ctypes.c_char_p,
        ]
        libc.fanotify_mark.restype = ctypes.c_int
        event_flags = os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_LARGEFILE", 0)
        fd = libc.fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK, event_flags)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"fanotify_init: {os.strerror(err)}")
        self._fd = fd
        try:
            for d in dirs:
                mask = FAN_OPEN_PERM | FAN_EVENT_ON_CHILD
                if libc.fanotify_mark(fd, FAN_MARK_ADD, mask, AT_FDCWD, os.fsencode(d)) < 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"fanotify_mark: {os.strerror(err)}", os.fspath(d))
        except BaseException:
            os.close(fd)
            raise
        self._cond = threading.Condition()
        self._budget: float = 0
        self._granted = 0
        self._closed = False
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._serve, name="open-gate", daemon=True)
        self._thread.start()

    def __enter__(self) -> OpenGate:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def allow(self, opens: float) -> None:
        """Let the first `opens` opens (in total, since the start) through."""
        with self._cond:
            self._budget = max(self._budget, opens)
            self._cond.notify_all()

    def allow_one_more(self) -> None:
        """Let one more open through than have passed so far (not cumulative)."""
        with self._cond:
            self._budget = max(self._budget, self._granted + 1)
            self._cond.notify_all()

    def open_wide(self) -> None:
        self.allow(math.inf)

    def close(self) -> None:
        if self._closed:
            return
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        os.write(self._wake_w, b"x")
        self._thread.join(_JOIN_TIMEOUT)
        # Closing the group answers every event still queued with "allow".
        os.close(self._fd)
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _serve(self) -> None:
        while True:
            ready, _, _ = select.select([self._fd, self._wake_r], [], [])
            if self._wake_r in ready:
                return
            try:
                data = os.read(self._fd, 64 * 1024)
            except BlockingIOError:
                continue
            offset = 0
            while offset + EVENT.size <= len(data):
                length, _vers, _reserved, _meta_len, mask, fd, _pid = EVENT.unpack_from(
                    data, offset
                )
                offset += length
                if fd < 0:
                    continue  # queue overflow: nothing to answer
                try:
                    if mask & FAN_OPEN_PERM:
                        with self._cond:
                            while not self._closed and self._granted >= self._budget:
                                self._cond.wait()
                            self._granted += 1
                        with contextlib.suppress(OSError):  # the opener was killed
                            os.write(self._fd, RESPONSE.pack(fd, FAN_ALLOW))
                finally:
                    os.close(fd)
