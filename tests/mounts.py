"""Every mount the tests make, made one way.

- filesystem(kind, size_mib): a private, freshly made loop filesystem
  (xfs, xfs-noreflink, btrfs, ext4) or tmpfs that a test may fill up or
  remount read-only (remounted_read_only()).
- Mounts: the session's shared filesystems behind conftest's `xfs`,
  `btrfs`, `ext4`, `tmpfs` and `tiny_tmpfs` fixtures, each mounted the
  first time a test asks for it and unmounted at the end of the session.
- The mounts installers meet in the field (issue 9): aliases of one
  directory (bind_mount; btrfs_subvolume_mounted_twice), read-only images
  (squashfs, erofs), a tmpfs on a directory inside a destination
  (tmpfs_at), overlayfs, a btrfs subvolume under a qgroup limit and FUSE
  filesystems (bindfs, exfat-fuse, fusefat and the fault-injecting
  `faultfs.py`).

Every helper mounts under its own tempfile.mkdtemp() directory (private to
root: mode 0700), waits for the mount deterministically (the mount command
returned, or for a FUSE server: os.path.ismount polled against a deadline,
failing early if the server died, wait_mounted()) and always unmounts in
`finally` with unmount() (`umount`/`fusermount -u`, lazily as a last
resort), removing only the files and directories it created and never
deleting through a mount point. No root, a missing tool or a failing
mkfs/mount is skip_or_fail (fails under CI=1).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from faultutil import require_root
from skips import skip_or_fail

FAULTFS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "faultfs.py")
SYSTEM_PYTHON = "/usr/bin/python3"  # has Debian's python3-fusepy; the venv has not
MOUNT_DEADLINE_S = 20.0

# kind -> mkfs argv (the image path is appended).
_MKFS = {
    "xfs": ["mkfs.xfs", "-q", "-f", "-m", "reflink=1"],
    # FICLONE is EOPNOTSUPP here.
    "xfs-noreflink": ["mkfs.xfs", "-q", "-f", "-m", "reflink=0"],
    "btrfs": ["mkfs.btrfs", "-q", "-f"],
    # Force 256-byte inodes: mke2fs's "small" profile may choose 128-byte
    # inodes, which have no room for nanosecond timestamps.
    "ext4": ["mkfs.ext4", "-q", "-F", "-I", "256", "-b", "4096"],
    "exfat": ["mkfs.exfat"],
    "vfat": ["mkfs.vfat"],
}
# xfsprogs >= 5.19 refuses filesystems below 300 MB unless it believes it
# runs under fstests; these variables are its documented escape hatch.
_MKFS_ENV = {"TEST_DIR": "1", "TEST_DEV": "1", "QA_CHECK_FS": "1"}


def _run(argv: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )


def _check(argv: list[str]) -> str:
    r = _run(argv)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({r.returncode}): {r.stdout.strip()}")
    return r.stdout


def require_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        skip_or_fail(f"not installed: {', '.join(missing)}")


def _unescape_mountinfo(field: str) -> str:
    # /proc/self/mountinfo escapes space, tab, newline and backslash as \ooo.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def is_mount_point(path: str | os.PathLike) -> bool:
    """True if something is mounted on `path`, bind mounts of a directory of
    the same filesystem included (os.path.ismount cannot see those: same
    st_dev as the parent)."""
    p = os.path.abspath(os.fspath(path))
    if os.path.ismount(p):
        return True
    with open("/proc/self/mountinfo") as f:
        return any(_unescape_mountinfo(line.split()[4]) == p for line in f)


def unmount(mnt: str | os.PathLike, *, fuse: bool = False) -> None:
    """fusermount -u (FUSE) or umount; umount -l if it is still busy (e.g. a
    hung test thread holds it: detached lazily, the kernel frees it when
    released). Nothing if nothing is mounted there (any more)."""
    mnt = os.fspath(mnt)
    if not is_mount_point(mnt):
        return
    if fuse and shutil.which("fusermount") and _run(["fusermount", "-u", mnt]).returncode == 0:
        return
    if _run(["umount", mnt]).returncode != 0:
        _run(["umount", "-l", mnt])


def _remount(mnt: os.PathLike | str, mode: str) -> None:
    r = _run(["mount", "-o", f"remount,{mode}", os.fspath(mnt)])
    if r.returncode != 0:
        raise RuntimeError(f"remount,{mode} {mnt} failed: {r.stdout.strip()}")


@contextlib.contextmanager
def remounted_read_only(mnt: os.PathLike | str) -> Iterator[None]:
    """`mount -o remount,ro` for the duration (callers sync first); read-write
    again afterwards, before the mount is unmounted (either works; be tidy)."""
    _remount(mnt, "ro")
    try:
        yield
    finally:
        with contextlib.suppress(RuntimeError):
            _remount(mnt, "rw")


def _rmdir_quiet(path: str) -> None:
    with contextlib.suppress(OSError):
        os.rmdir(path)


@contextlib.contextmanager
def _scratch(what: str) -> Iterator[str]:
    """A private temp dir for mount points, images and logs. At the end its
    files are removed and its directories only if empty (unmounted): never
    recursively."""
    base = tempfile.mkdtemp(prefix=f"fastlink-mount-{what}-")
    try:
        yield base
    finally:
        for name in os.listdir(base):
            p = os.path.join(base, name)
            if os.path.isdir(p) and not os.path.islink(p):
                _rmdir_quiet(p)  # a mount point: only if empty (unmounted)
            else:
                os.remove(p)  # an image or a log we wrote
        _rmdir_quiet(base)


def _mount_point(base: str, name: str = "mnt") -> str:
    mnt = os.path.join(base, name)
    os.mkdir(mnt)
    return mnt


def _formatted_image(kind: str, base: str, size_mib: int) -> str:
    """A sparse image of size_mib MiB in `base` (costs only what is written),
    formatted as `kind`."""
    mkfs = _MKFS[kind]
    require_tools(mkfs[0])
    image = os.path.join(base, f"{kind}.img")
    with open(image, "wb") as f:
        f.truncate(size_mib << 20)
    r = _run([*mkfs, image], env={**os.environ, **_MKFS_ENV})
    if r.returncode != 0:
        skip_or_fail(f"{' '.join(mkfs)} failed: {r.stdout.strip()}")
    return image


@contextlib.contextmanager
def _mounted(argv: list[str], mnt: str, *, fuse: bool = False) -> Iterator[Path]:
    """Run the mount command `argv` (mounting on mnt); unmount() on exit."""
    r = _run(argv)
    if r.returncode != 0:
        skip_or_fail(f"{' '.join(argv)} failed: {r.stdout.strip()}")
    try:
        yield Path(mnt)
    finally:
        unmount(mnt, fuse=fuse)


def wait_mounted(mnt: str | os.PathLike, proc: subprocess.Popen | None = None) -> None:
    """Poll os.path.ismount(mnt) until it is true or MOUNT_DEADLINE_S passed;
    fail at once if the server process `proc` exited."""
    deadline = time.monotonic() + MOUNT_DEADLINE_S
    while not os.path.ismount(mnt):
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"FUSE server for {mnt} exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{mnt} was not mounted within {MOUNT_DEADLINE_S} s")
        time.sleep(0.01)


@contextlib.contextmanager
def _fuse_server(argv: list[str], mnt: str, **popen) -> Iterator[subprocess.Popen]:
    """Run the foreground FUSE server `argv` serving mnt and wait for the
    mount; on exit unmount it and reap the server (killed if it hangs)."""
    proc = subprocess.Popen(argv, **popen)
    try:
        wait_mounted(mnt, proc)
        yield proc
    finally:
        unmount(mnt, fuse=True)
        try:
            proc.wait(timeout=MOUNT_DEADLINE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


# --------------------------------------------------------------------------
# Fresh filesystems: private ones, and the session's shared ones
# --------------------------------------------------------------------------


@contextlib.contextmanager
def filesystem(kind: str, size_mib: int) -> Iterator[Path]:
    """Mount a private `kind` filesystem of size_mib MiB: "tmpfs", or a
    sparse loop image made by mkfs (see _MKFS; "xfs-noreflink" is XFS made
    with `-m reflink=0`). Unmount and delete everything on exit (lazy
    unmount if something still holds it)."""
    require_root(f"mounting a {size_mib} MiB {kind}")
    with _scratch(kind) as base:
        mnt = _mount_point(base)
        if kind == "tmpfs":
            argv = ["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", mnt]
        else:
            argv = ["mount", "-o", "loop", _formatted_image(kind, base, size_mib), mnt]
        with _mounted(argv, mnt) as path:
            yield path


# conftest fixture name -> (filesystem kind, size in MiB).
SESSION_FILESYSTEMS = {
    "xfs": ("xfs", 512),
    "btrfs": ("btrfs", 512),
    "ext4": ("ext4", 256),
    "tmpfs": ("tmpfs", 512),
    # Deliberately tiny, to run out of space.
    "tiny_tmpfs": ("tmpfs", 4),
}


class Mounts:
    """Lazily mounts each of SESSION_FILESYSTEMS once per session."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._mounted: dict[str, Path] = {}
        # A mount that could not be made is not retried: every test that
        # asks for it skips (fails under CI) with the same reason.
        self._failed: dict[str, BaseException] = {}

    def get(self, name: str) -> Path:
        if name not in self._mounted:
            if name in self._failed:
                raise self._failed[name].with_traceback(None)
            try:
                self._mounted[name] = self._stack.enter_context(
                    filesystem(*SESSION_FILESYSTEMS[name])
                )
            except (pytest.skip.Exception, pytest.fail.Exception) as e:  # skip_or_fail
                self._failed[name] = e
                raise
        return self._mounted[name]

    def close(self) -> None:
        """Unmount everything (in reverse order), cleaning up the rest even
        if one fails."""
        self._mounted.clear()
        self._stack.close()


# --------------------------------------------------------------------------
# Aliases of one directory
# --------------------------------------------------------------------------


@contextlib.contextmanager
def bind_mount(directory: str | os.PathLike) -> Iterator[Path]:
    """`mount --bind directory <new mount point>`: the same directory (same
    st_dev, st_ino) under a second path that realpath() cannot see through."""
    require_root("a bind mount")
    with _scratch("bind") as base:
        mnt = _mount_point(base, "alias")
        with _mounted(["mount", "--bind", os.fspath(directory), mnt], mnt) as path:
            yield path


def _mount_source(mnt: str | os.PathLike) -> str:
    """The device a mount point is mounted from (no btrfs [/subvol] suffix)."""
    return _check(["findmnt", "-n", "--nofsroot", "-o", "SOURCE", "--mountpoint", mnt]).strip()


@contextlib.contextmanager
def btrfs_subvolume_mounted_twice(
    name: str = "cache", size_mib: int = 256
) -> Iterator[tuple[Path, Path]]:
    """A btrfs subvolume `name` on a private loop btrfs, mounted twice with
    `-o subvol=name`: yields the two mount points (one directory, two paths)."""
    require_tools("mkfs.btrfs", "btrfs", "findmnt")
    with filesystem("btrfs", size_mib) as top, _scratch("subvol") as base:
        _check(["btrfs", "-q", "subvolume", "create", os.fspath(top / name)])
        device = _mount_source(top)
        with contextlib.ExitStack() as stack:
            mounted = []
            for alias in ("a", "b"):
                mnt = _mount_point(base, alias)
                argv = ["mount", "-t", "btrfs", "-o", f"subvol={name}", device, mnt]
                mounted.append(stack.enter_context(_mounted(argv, mnt)))
            yield mounted[0], mounted[1]


# --------------------------------------------------------------------------
# Read-only images, overlayfs, a tmpfs inside a tree, a qgroup limit
# --------------------------------------------------------------------------

_IMAGE_BUILDERS = {
    # -all-root is not used: the content is owned by root already.
    "squashfs": lambda src, img: ["mksquashfs", src, img, "-noappend", "-quiet", "-no-progress"],
    "erofs": lambda src, img: ["mkfs.erofs", "--quiet", img, src],
}


@contextlib.contextmanager
def read_only_image(kind: str, content: str | os.PathLike) -> Iterator[Path]:
    """A squashfs or erofs image built from the directory `content`, loop
    mounted read-only. Compare against snapshot() of the mount, not of
    `content`: the image keeps what its format can (squashfs: mtimes in whole
    seconds)."""
    require_root(f"a {kind} loop mount")
    build = _IMAGE_BUILDERS[kind]
    with _scratch(kind) as base:
        image = os.path.join(base, f"{kind}.img")
        argv = build(os.fspath(content), image)
        require_tools(argv[0])
        mnt = _mount_point(base)
        _check(argv)
        with _mounted(["mount", "-t", kind, "-o", "loop,ro", image, mnt], mnt) as path:
            yield path


@contextlib.contextmanager
def overlay(lower: str | os.PathLike, upper_parent: str | os.PathLike) -> Iterator[Path]:
    """overlayfs with `lower` as its lower dir and upper/work created in
    `upper_parent` (another directory, possibly another filesystem). Yields
    the merged mount point; the upper dir is `<upper_parent>/upper`."""
    require_root("an overlayfs mount")
    upper = os.path.join(os.fspath(upper_parent), "upper")
    work = os.path.join(os.fspath(upper_parent), "work")
    os.makedirs(upper, exist_ok=True)
    os.makedirs(work, exist_ok=True)
    with _scratch("overlay") as base:
        mnt = _mount_point(base, "merged")
        opts = f"lowerdir={os.fspath(lower)},upperdir={upper},workdir={work}"
        with _mounted(["mount", "-t", "overlay", "overlay", "-o", opts, mnt], mnt) as path:
            yield path


@contextlib.contextmanager
def tmpfs_at(directory: str | os.PathLike) -> Iterator[Path]:
    """A small tmpfs (16 MiB, root mode 0755) mounted on the existing
    `directory` (e.g. a mount point inside a destination), unmounted
    afterwards."""
    require_root("a tmpfs mount")
    mnt = os.fspath(directory)
    argv = ["mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", mnt]
    with _mounted(argv, mnt) as path:
        yield path


@contextlib.contextmanager
def btrfs_qgroup_limited(limit_mib: int, size_mib: int = 256) -> Iterator[Path]:
    """A btrfs subvolume whose qgroup limits referenced data to limit_mib:
    writing more fails with EDQUOT. Yields the subvolume's directory."""
    require_tools("mkfs.btrfs", "btrfs")
    with filesystem("btrfs", size_mib) as top:
        subvol = os.fspath(top / "quota")
        _check(["btrfs", "quota", "enable", os.fspath(top)])
        _check(["btrfs", "-q", "subvolume", "create", subvol])
        _check(["btrfs", "quota", "rescan", "-w", os.fspath(top)])
        _check(["btrfs", "qgroup", "limit", f"{limit_mib}M", subvol])
        yield Path(subvol)


# --------------------------------------------------------------------------
# FUSE
# --------------------------------------------------------------------------


@contextlib.contextmanager
def bindfs(directory: str | os.PathLike) -> Iterator[Path]:
    """bindfs (FUSE) mirroring `directory`, served by a foreground bindfs
    process this helper owns."""
    require_root("a bindfs mount")
    require_tools("bindfs", "fusermount")
    with _scratch("bindfs") as base:
        mnt = _mount_point(base)
        argv = ["bindfs", "-f", os.fspath(directory), mnt]
        with _fuse_server(argv, mnt, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
            yield Path(mnt)


@contextlib.contextmanager
def exfat_fuse(size_mib: int = 64) -> Iterator[Path]:
    """A fresh exFAT image (mkfs.exfat, exfatprogs) mounted with exfat-fuse
    through a loop device (as root, exfat-fuse needs a block device). exFAT
    has no symlinks, no permission bits and no owners."""
    require_root("an exfat-fuse mount")
    require_tools("mkfs.exfat", "mount.exfat-fuse", "losetup")
    with _scratch("exfat") as base:
        mnt = _mount_point(base)
        loop = _check(["losetup", "-f", "--show", _formatted_image("exfat", base, size_mib)])
        loop = loop.strip()
        try:
            with _mounted(["mount.exfat-fuse", loop, mnt], mnt, fuse=True) as path:
                wait_mounted(mnt)
                yield path
        finally:
            # Deferred (autoclear) if the exiting server still holds it.
            _run(["losetup", "-d", loop])


@contextlib.contextmanager
def fusefat(size_mib: int = 32) -> Iterator[Path]:
    """A fresh FAT image (mkfs.vfat, dosfstools) served read-write by a
    foreground fusefat process this helper owns. FAT stores no modes, owners,
    symlinks or hard links: fusefat answers chmod and symlink(2) with ENOSYS,
    link(2) with EPERM and O_TMPFILE with EOPNOTSUPP; utimes work."""
    require_root("a fusefat mount")
    require_tools("fusefat", "mkfs.vfat", "fusermount")
    with _scratch("fusefat") as base:
        mnt = _mount_point(base)
        image = _formatted_image("vfat", base, size_mib)
        argv = ["fusefat", "-f", "-o", "rw+", image, mnt]
        with _fuse_server(argv, mnt, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
            yield Path(mnt)


class FaultMount:
    """A running faultfs: `path` is the mount point; `wait_for(line)` blocks
    until the server printed that line (see faultfs.py's `notify`)."""

    def __init__(self, path: Path, proc: subprocess.Popen, log: str) -> None:
        self.path = path
        self.proc = proc
        self._log = log
        self._buffer = b""

    def wait_for(self, line: str, timeout: float = 60.0) -> None:
        assert self.proc.stdout is not None
        want = line.encode()
        deadline = time.monotonic() + timeout
        while True:
            lines = self._buffer.split(b"\n")
            self._buffer = lines.pop()
            if want in lines:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"faultfs never printed {line!r}; log: {self.log()}")
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    raise AssertionError(f"faultfs exited before {line!r}; log: {self.log()}")
                self._buffer += chunk

    def log(self) -> str:
        with open(self._log, errors="replace") as f:
            return f.read()[-4000:]


@contextlib.contextmanager
def faultfs(
    backing: str | os.PathLike,
    *,
    read_eio: Sequence[tuple[str, int]] = (),
    write_eio: Sequence[tuple[str, int]] = (),
    read_rate: int | None = None,
    notify: Sequence[tuple[str, int]] = (),
) -> Iterator[FaultMount]:
    """Mount tests/faultfs.py over `backing`: EIO for reads/writes of the
    named file covering the given offset, reads throttled to read_rate
    bytes/s, and `reached <name> <offset>` lines for FaultMount.wait_for."""
    require_root("a FUSE mount")
    require_tools("fusermount")
    if not os.path.exists(SYSTEM_PYTHON) or _run([SYSTEM_PYTHON, "-c", "import fusepy"]).returncode:
        skip_or_fail(f"{SYSTEM_PYTHON} cannot import fusepy (Debian package python3-fusepy)")
    config = {
        "read_eio": [{"name": n, "offset": o} for n, o in read_eio],
        "write_eio": [{"name": n, "offset": o} for n, o in write_eio],
        "read_rate": read_rate,
        "notify": [{"name": n, "offset": o} for n, o in notify],
    }
    with _scratch("faultfs") as base:
        mnt = _mount_point(base)
        log = os.path.join(base, "server.log")
        argv = [SYSTEM_PYTHON, FAULTFS, os.fspath(backing), mnt, json.dumps(config)]
        with open(log, "wb") as log_f:
            server = _fuse_server(argv, mnt, stdout=subprocess.PIPE, stderr=log_f)
            with server as proc:
                yield FaultMount(Path(mnt), proc, log)
