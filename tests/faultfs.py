"""A small fault-injecting FUSE filesystem: a passthrough of a backing dir.

Run it with Debian's /usr/bin/python3 (python3-fusepy provides `fusepy`; the
test venv does not have it), in the foreground, as a child process:

    /usr/bin/python3 tests/faultfs.py BACKING MOUNTPOINT CONFIG_JSON

CONFIG_JSON (all keys optional):

    {"read_eio":  [{"name": "big.bin", "offset": 3145745}],
     "write_eio": [{"name": "big.bin", "offset": 2097157}],
     "read_rate": 1048576,
     "notify":    [{"name": "big.bin", "offset": 1048576}]}

- read_eio: a read request of a file with that name that covers the byte at
  `offset` fails with EIO (every time, so a retry fails too).
- write_eio: the same for write requests. A file matches its name, or a
  hidden work name ending in "." + name (fastlink's `.fastlink-tmp.<pid>.<n>.<name>`).
- read_rate: every read is throttled, all files together, to this many bytes
  per second (reads are served one at a time while throttled).
- notify: the first time a read of that file reaches `offset` or beyond, one
  line `reached <name> <offset>` is printed on stdout (flushed), so a test can
  act at that moment without guessing from timing.

Everything else is passed through to the backing directory, times in
nanoseconds. Unmount with `fusermount -u MOUNTPOINT`; the process then exits.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import threading
import time

from fusepy import FUSE, FuseOSError, Operations

_NO_ID = 0xFFFFFFFF  # (uid_t)-1 from chown(2): "leave unchanged"


def _matches(path: str, name: str) -> bool:
    base = os.path.basename(path)
    return base == name or base.endswith("." + name)


def _covers(offset: int, size: int, point: int) -> bool:
    return offset <= point < offset + size


class FaultFS(Operations):
    use_ns = True  # times as integer nanoseconds

    def __init__(self, root: str, config: dict) -> None:
        self.root = os.path.realpath(root)
        self.read_eio = config.get("read_eio", [])
        self.write_eio = config.get("write_eio", [])
        self.read_rate = config.get("read_rate")
        self.notify = [dict(rule, done=False) for rule in config.get("notify", [])]
        self._throttle = threading.Lock()
        self._notify_lock = threading.Lock()

    def _full(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    # -- metadata ------------------------------------------------------------

    def getattr(self, path, fh=None):
        st = os.lstat(self._full(path))
        attrs = {
            key: getattr(st, key)
            for key in (
                "st_mode",
                "st_ino",
                "st_nlink",
                "st_uid",
                "st_gid",
                "st_size",
                "st_blocks",
                "st_blksize",
                "st_rdev",
            )
        }
        attrs.update(st_atime=st.st_atime_ns, st_mtime=st.st_mtime_ns, st_ctime=st.st_ctime_ns)
        return attrs

    def access(self, path, amode):
        if not os.access(self._full(path), amode, follow_symlinks=False):
            raise FuseOSError(errno.EACCES)
        return 0

    def chmod(self, path, mode):
        os.chmod(self._full(path), mode)
        return 0

    def chown(self, path, uid, gid):
        os.lchown(self._full(path), -1 if uid == _NO_ID else uid, -1 if gid == _NO_ID else gid)
        return 0

    def utimens(self, path, times=None):
        os.utime(self._full(path), ns=times, follow_symlinks=False)
        return 0

    def statfs(self, path):
        sv = os.statvfs(self._full(path))
        return {
            key: getattr(sv, key)
            for key in (
                "f_bavail",
                "f_bfree",
                "f_blocks",
                "f_bsize",
                "f_favail",
                "f_ffree",
                "f_files",
                "f_flag",
                "f_frsize",
                "f_namemax",
            )
        }

    # -- names ---------------------------------------------------------------

    def readdir(self, path, fh):
        return [".", "..", *os.listdir(self._full(path))]

    def readlink(self, path):
        return os.readlink(self._full(path))

    def mknod(self, path, mode, dev):
        os.mknod(self._full(path), mode, dev)
        return 0

    def mkdir(self, path, mode):
        os.mkdir(self._full(path), mode)
        return 0

    def rmdir(self, path):
        os.rmdir(self._full(path))
        return 0

    def unlink(self, path):
        os.unlink(self._full(path))
        return 0

    def symlink(self, target, source):
        # fusepy: "creates a symlink `target -> source`" (ln -s source target)
        os.symlink(source, self._full(target))
        return 0

    def link(self, target, source):
        # fusepy: "creates a hard link `target -> source`" (ln source target)
        os.link(self._full(source), self._full(target), follow_symlinks=False)
        return 0

    def rename(self, old, new):
        os.rename(self._full(old), self._full(new))
        return 0

    # -- data ----------------------------------------------------------------

    def open(self, path, flags):
        return os.open(self._full(path), flags)

    def create(self, path, mode, fi=None):
        return os.open(self._full(path), os.O_RDWR | os.O_CREAT | os.O_EXCL, mode)

    def read(self, path, size, offset, fh):
        for rule in self.read_eio:
            if _matches(path, rule["name"]) and _covers(offset, size, rule["offset"]):
                raise FuseOSError(errno.EIO)
        if self.read_rate:
            with self._throttle:
                time.sleep(size / self.read_rate)
                data = os.pread(fh, size, offset)
        else:
            data = os.pread(fh, size, offset)
        self._notify_read(path, offset + len(data))
        return data

    def _notify_read(self, path: str, end: int) -> None:
        for rule in self.notify:
            if rule["done"] or not _matches(path, rule["name"]) or end <= rule["offset"]:
                continue
            with self._notify_lock:
                if not rule["done"]:
                    rule["done"] = True
                    print(f"reached {rule['name']} {rule['offset']}", flush=True)

    def write(self, path, data, offset, fh):
        for rule in self.write_eio:
            if _matches(path, rule["name"]) and _covers(offset, len(data), rule["offset"]):
                raise FuseOSError(errno.EIO)
        return os.pwrite(fh, data, offset)

    def truncate(self, path, length, fh=None):
        if fh is not None:
            os.ftruncate(fh, length)
        else:
            os.truncate(self._full(path), length)
        return 0

    def flush(self, path, fh):
        return 0

    def fsync(self, path, datasync, fh):
        if datasync:
            os.fdatasync(fh)
        else:
            os.fsync(fh)
        return 0

    def release(self, path, fh):
        os.close(fh)
        return 0


def main() -> None:
    backing, mountpoint, config = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    # The kernel has already applied the caller's umask to create/mkdir
    # modes; applying ours on top would change what the caller asked for.
    os.umask(0)
    FUSE(
        FaultFS(backing, config),
        mountpoint,
        foreground=True,
        nothreads=False,
        use_ino=True,
        big_writes=True,
        max_read=128 * 1024,
        max_write=128 * 1024,
        fsname="faultfs",
        subtype="faultfs",
    )


if __name__ == "__main__":
    main()
