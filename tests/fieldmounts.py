"""Mounts that installers meet in the field (issue 9), as context managers.

Aliases of one directory (a bind mount; one btrfs subvolume mounted twice
with `subvol=`), XFS without reflink, read-only images (squashfs, erofs),
FUSE filesystems (bindfs, exfat-fuse and the fault-injecting `faultfs.py`),
overlayfs and a btrfs subvolume under a qgroup limit.

Every helper mounts under its own tempfile.mkdtemp() directory, waits for
the mount deterministically (the mount command returned, or for a FUSE
server: os.path.ismount polled against a deadline, failing early if the
server died) and always unmounts in `finally` (`umount`/`fusermount -u`,
lazily as a last resort), removing only the directories it created and
never deleting through a mount point. Loop filesystems that faultutil's
small_mount can make are built on it. A missing tool or no root is
skip_or_fail (fails under CI=1).
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

from faultutil import require_root, small_mount
from treeutil import skip_or_fail

FAULTFS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "faultfs.py")
SYSTEM_PYTHON = "/usr/bin/python3"  # has Debian's python3-fusepy; the venv has not
MOUNT_DEADLINE_S = 20.0


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _check(argv: list[str]) -> str:
    r = _run(argv)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({r.returncode}): {r.stdout.strip()}")
    return r.stdout


def require_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        skip_or_fail(f"not installed: {', '.join(missing)}")


def _mount_or_skip(argv: list[str]) -> None:
    r = _run(argv)
    if r.returncode != 0:
        skip_or_fail(f"{' '.join(argv)} failed: {r.stdout.strip()}")


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


def _unmount(mnt: str, *, fuse: bool = False) -> None:
    """fusermount -u (FUSE) or umount; umount -l if it is still busy."""
    if not is_mount_point(mnt):
        return
    if fuse and shutil.which("fusermount") and _run(["fusermount", "-u", mnt]).returncode == 0:
        return
    if _run(["umount", mnt]).returncode != 0:
        _run(["umount", "-l", mnt])


def _rmdir_quiet(path: str) -> None:
    with contextlib.suppress(OSError):
        os.rmdir(path)


@contextlib.contextmanager
def _scratch(prefix: str) -> Iterator[str]:
    """A private temp dir for mount points, images and logs. At the end its
    files are removed and its directories only if empty: never recursively."""
    base = tempfile.mkdtemp(prefix=f"fastlink-field-{prefix}-")
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


def _stop_fuse_server(mnt: str, proc: subprocess.Popen | None) -> None:
    _unmount(mnt, fuse=True)
    if proc is not None:
        try:
            proc.wait(timeout=MOUNT_DEADLINE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------
# Aliases of one directory
# --------------------------------------------------------------------------


@contextlib.contextmanager
def bind_mount(directory: str | os.PathLike) -> Iterator[Path]:
    """`mount --bind directory <new mount point>`: the same directory (same
    st_dev, st_ino) under a second path that realpath() cannot see through."""
    require_root("a bind mount")
    with _scratch("bind") as base:
        mnt = os.path.join(base, "alias")
        os.mkdir(mnt)
        _mount_or_skip(["mount", "--bind", os.fspath(directory), mnt])
        try:
            yield Path(mnt)
        finally:
            _unmount(mnt)


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
    with small_mount("btrfs", size_mib) as top, _scratch("subvol") as base:
        _check(["btrfs", "-q", "subvolume", "create", os.fspath(top / name)])
        device = _mount_source(top)
        mounted: list[str] = []
        try:
            for alias in ("a", "b"):
                mnt = os.path.join(base, alias)
                os.mkdir(mnt)
                _mount_or_skip(["mount", "-t", "btrfs", "-o", f"subvol={name}", device, mnt])
                mounted.append(mnt)
            yield Path(mounted[0]), Path(mounted[1])
        finally:
            for mnt in reversed(mounted):
                _unmount(mnt)


# --------------------------------------------------------------------------
# Loop filesystems small_mount does not make
# --------------------------------------------------------------------------


@contextlib.contextmanager
def xfs_without_reflink(size_mib: int = 320) -> Iterator[Path]:
    """XFS made with `-m reflink=0`: FICLONE is EOPNOTSUPP. (320 MiB sparse:
    mkfs.xfs refuses filesystems below 300 MB.)"""
    require_root("a loop XFS")
    require_tools("mkfs.xfs")
    with _scratch("xfs-noreflink") as base:
        image, mnt = os.path.join(base, "fs.img"), os.path.join(base, "mnt")
        os.mkdir(mnt)
        with open(image, "wb") as f:
            f.truncate(size_mib << 20)
        _check(["mkfs.xfs", "-q", "-f", "-m", "reflink=0", image])
        _mount_or_skip(["mount", "-o", "loop", image, mnt])
        try:
            yield Path(mnt)
        finally:
            _unmount(mnt)


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
        image, mnt = os.path.join(base, f"{kind}.img"), os.path.join(base, "mnt")
        argv = build(os.fspath(content), image)
        require_tools(argv[0])
        os.mkdir(mnt)
        _check(argv)
        _mount_or_skip(["mount", "-t", kind, "-o", "loop,ro", image, mnt])
        try:
            yield Path(mnt)
        finally:
            _unmount(mnt)


@contextlib.contextmanager
def btrfs_qgroup_limited(limit_mib: int, size_mib: int = 256) -> Iterator[Path]:
    """A btrfs subvolume whose qgroup limits referenced data to limit_mib:
    writing more fails with EDQUOT. Yields the subvolume's directory."""
    require_tools("mkfs.btrfs", "btrfs")
    with small_mount("btrfs", size_mib) as top:
        subvol = os.fspath(top / "quota")
        _check(["btrfs", "quota", "enable", os.fspath(top)])
        _check(["btrfs", "-q", "subvolume", "create", subvol])
        _check(["btrfs", "quota", "rescan", "-w", os.fspath(top)])
        _check(["btrfs", "qgroup", "limit", f"{limit_mib}M", subvol])
        yield Path(subvol)


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
        mnt = os.path.join(base, "merged")
        os.mkdir(mnt)
        opts = f"lowerdir={os.fspath(lower)},upperdir={upper},workdir={work}"
        _mount_or_skip(["mount", "-t", "overlay", "overlay", "-o", opts, mnt])
        try:
            yield Path(mnt)
        finally:
            _unmount(mnt)


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
        mnt = os.path.join(base, "mnt")
        os.mkdir(mnt)
        proc = subprocess.Popen(
            ["bindfs", "-f", os.fspath(directory), mnt],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_mounted(mnt, proc)
            yield Path(mnt)
        finally:
            _stop_fuse_server(mnt, proc)


@contextlib.contextmanager
def exfat_fuse(size_mib: int = 64) -> Iterator[Path]:
    """A fresh exFAT image (mkfs.exfat, exfatprogs) mounted with exfat-fuse
    through a loop device (as root, exfat-fuse needs a block device). exFAT
    has no symlinks, no permission bits and no owners."""
    require_root("an exfat-fuse mount")
    require_tools("mkfs.exfat", "mount.exfat-fuse", "losetup")
    with _scratch("exfat") as base:
        image, mnt = os.path.join(base, "exfat.img"), os.path.join(base, "mnt")
        os.mkdir(mnt)
        with open(image, "wb") as f:
            f.truncate(size_mib << 20)
        _check(["mkfs.exfat", image])
        loop = _check(["losetup", "-f", "--show", image]).strip()
        try:
            _mount_or_skip(["mount.exfat-fuse", loop, mnt])
            try:
                wait_mounted(mnt)
                yield Path(mnt)
            finally:
                _stop_fuse_server(mnt, None)
        finally:
            # Deferred (autoclear) if the exiting server still holds it.
            _run(["losetup", "-d", loop])


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
        mnt = os.path.join(base, "mnt")
        log = os.path.join(base, "server.log")
        os.mkdir(mnt)
        with open(log, "wb") as log_f:
            proc = subprocess.Popen(
                [SYSTEM_PYTHON, FAULTFS, os.fspath(backing), mnt, json.dumps(config)],
                stdout=subprocess.PIPE,
                stderr=log_f,
            )
        try:
            wait_mounted(mnt, proc)
            yield FaultMount(Path(mnt), proc, log)
        finally:
            _stop_fuse_server(mnt, proc)
            if proc.stdout is not None:
                proc.stdout.close()
