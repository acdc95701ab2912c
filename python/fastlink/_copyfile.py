"""`fastlink.copy2` and `fastlink.copyfile`: `shutil`'s, on fastlink's single-file path."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import sys
import threading
from typing import Literal, TypeVar, Union

from fastlink._fastlink import clone_or_copy

_StrPathT = TypeVar("_StrPathT", bound=Union[str, "os.PathLike[str]"])
_StrOrBytesPathT = TypeVar(
    "_StrOrBytesPathT", bound=Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
)
_StrPath = Union[str, "os.PathLike[str]"]
_StrOrBytesPath = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

# shutil's own functions, as they were when fastlink was imported: what a case
# fastlink does not do itself is handed to (a caller may later put
# fastlink's in shutil's place; these never call back into fastlink's).
_shutil_copyfile = shutil.copyfile
_shutil_copystat = shutil.copystat

# Never "hardlink": a copy must not share its inode with the source. The
# FASTLINK_METHODS environment variable is not read, for the same reason.
_METHODS: tuple[Literal["reflink", "copy"], ...] = ("reflink", "copy")

# The engine places a file with the source's permission bits and sticky bit;
# setuid and setgid are cleared (a copy2 puts them back, as copystat does).
_NOT_PLACED = stat.S_ISUID | stat.S_ISGID


def copyfile(
    src: _StrOrBytesPath, dst: _StrOrBytesPathT, *, follow_symlinks: bool = True
) -> _StrOrBytesPathT:
    """Copy the data of the file `src` to the file `dst` and return `dst`:
    `shutil.copyfile`, made by a clone (reflink) where the filesystem can,
    else by an in-kernel copy.

    As `shutil.copyfile`:

    - Data only. A new `dst` gets the mode a new file gets (0o666 less the
      umask); an existing one keeps its mode. Times are those of the copy.
    - `dst` is the file's full name: an existing directory there is an
      `IsADirectoryError`; a missing parent directory a `FileNotFoundError`
      (none is made).
    - An existing file at `dst` is replaced.
    - `src` and `dst` the same file (by a hard link or a symlink too) is a
      `shutil.SameFileError`; a named pipe at either is a
      `shutil.SpecialFileError`; a directory `src` an `IsADirectoryError`.
    - `follow_symlinks=False` with a symlink `src` makes a symlink at `dst`
      with the same target (and, as `shutil`, a `FileExistsError` if `dst`
      exists).
    - Raises the `shutil.copyfile` audit event.

    Where it differs from `shutil.copyfile`, on purpose:

    - An existing `dst` is replaced by a new file, renamed into place
      (atomically), not truncated and rewritten: at no moment does `dst`
      hold part of the data, but other hard links to the old file keep the
      old data, and the new file's owner is the caller, its extended
      attributes and ACL those of a new file; its mode is set to the old
      one's just after the rename. A symlink at `dst` is replaced by the
      file (it keeps the mode of the file it named, or a new file's if it
      dangled); `shutil` writes through it.
    - A `dst` that is not writable (0o444, not root) is a `PermissionError`
      before anything is written, as `shutil` raises it.

    Handed to `shutil.copyfile` itself, so exactly as it does: a source
    that is not a regular file (a symlink not followed, a device, a
    socket: `shutil` opens and reads it), a `dst` that is not a regular
    file or a symlink, a new `dst` in a directory with a default ACL, and
    the error cases above. The environment variable `FASTLINK_METHODS` is
    not read: the file is cloned or copied, never hard-linked.
    """
    placed = _prepare(src, dst, follow_symlinks, keep_mode=True)
    if placed is None:
        return _shutil_copyfile(src, dst, follow_symlinks=follow_symlinks)
    _src_st, mode = placed
    sys.audit("shutil.copyfile", src, dst)
    clone_or_copy(src, dst, methods=_METHODS, overwrite=True, preserve_times=False)
    if mode != stat.S_IMODE(_src_st.st_mode) & ~_NOT_PLACED:
        os.chmod(dst, mode)
    return dst


def copy2(src: _StrPath, dst: _StrPathT, *, follow_symlinks: bool = True) -> _StrPathT | str:
    """Copy the file `src` to `dst` with its metadata and return the file's
    destination: `shutil.copy2`, made by a clone (reflink) where the
    filesystem can, else by an in-kernel copy.

    As `shutil.copy2`:

    - `dst` may be a directory (a symlink to one too): the file is copied
      into it, under `src`'s name, and that path is returned; otherwise
      `dst` is returned as given.
    - Data, permission bits (setuid, setgid and sticky included), access
      and modification times (to the nanosecond) and extended attributes,
      as `shutil.copystat` copies them (those it cannot set, such as
      `trusted.*` when not root, are left out as it leaves them).
    - An existing file at the destination is replaced.
    - The same file (by a hard link or a symlink too) is a
      `shutil.SameFileError`; a named pipe a `shutil.SpecialFileError`; a
      directory `src` an `IsADirectoryError`; a missing parent directory of
      the destination a `FileNotFoundError` (none is made).
    - `follow_symlinks=False` with a symlink `src` makes a symlink with the
      same target and copies the link's own times.
    - Raises the `shutil.copyfile` and `shutil.copystat` audit events.

    Where it differs from `shutil.copy2`, on purpose:

    - An existing destination is replaced by a new file, renamed into place
      (atomically), not truncated and rewritten: at no moment does it hold
      part of the data, but other hard links to the old file keep the old
      data, and the new file belongs to the caller. A symlink at the
      destination is replaced by the file; `shutil` writes through it. One
      that is not writable (0o444, not root) is a `PermissionError`, as
      `shutil` raises it.
    - The times and permission bits are on the file when its name appears;
      extended attributes, setuid and setgid are set just after (`shutil`
      sets everything after writing the data).

    Handed to `shutil.copyfile` and `shutil.copystat` themselves, so exactly
    as they do: a source that is not a regular file (a symlink not
    followed, a device, a socket), a destination that is not a regular file
    or a symlink, and the error cases above. `FASTLINK_METHODS` is not read:
    the file is cloned or copied, never hard-linked.
    """
    target: _StrPathT | str = dst
    if os.path.isdir(dst):
        target = os.path.join(dst, os.path.basename(src))
    placed = _prepare(src, target, follow_symlinks, keep_mode=False)
    if placed is None:
        _shutil_copyfile(src, target, follow_symlinks=follow_symlinks)
        _shutil_copystat(src, target, follow_symlinks=follow_symlinks)
        return target
    src_st, _mode = placed
    sys.audit("shutil.copyfile", src, target)
    report = clone_or_copy(src, target, methods=_METHODS, overwrite=True, preserve_times=True)
    sys.audit("shutil.copystat", src, target)
    if report.copied:
        # The copy read the source, which may have moved its access time on:
        # copystat, after the read, gives the new one.
        now = os.stat(src) if follow_symlinks else os.lstat(src)
        if now.st_atime_ns != src_st.st_atime_ns:
            os.utime(target, ns=(now.st_atime_ns, now.st_mtime_ns))
    if _copy_xattrs(src, target) or src_st.st_mode & _NOT_PLACED:
        # After the attributes, as copystat: an ACL's sets the mode again.
        os.chmod(target, stat.S_IMODE(src_st.st_mode))
    return target


def _prepare(
    src: _StrOrBytesPath, dst: _StrOrBytesPath, follow_symlinks: bool, *, keep_mode: bool
) -> tuple[os.stat_result, int] | None:
    """The source's stat and the mode `copyfile` gives the destination (0 for
    `copy2`, which keeps the source's), when fastlink places the file
    itself; None where `shutil`'s own function is to do it, its errors
    included (same file, named pipe, a directory, a missing parent...)."""
    try:
        src_st = os.stat(src) if follow_symlinks else os.lstat(src)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(src_st.st_mode):
        return None
    try:
        dst_st = os.lstat(dst)
    except FileNotFoundError:
        # shutil makes no parent directory (the engine would): a missing one,
        # or a name ending in a slash, is shutil's error.
        parent = os.path.dirname(dst)
        if (parent and not os.path.isdir(parent)) or not os.fspath(dst):
            return None
        return _new_file_mode(src_st, parent) if keep_mode else (src_st, 0)
    except (OSError, ValueError):
        return None
    if stat.S_ISLNK(dst_st.st_mode):
        try:
            dst_st = os.stat(dst)  # what shutil would write into
        except FileNotFoundError:  # dangling: shutil would make a new file
            parent = os.path.dirname(dst)
            return _new_file_mode(src_st, parent) if keep_mode else (src_st, 0)
        except (OSError, ValueError):
            return None
    elif not os.access(dst, os.W_OK, effective_ids=_EFFECTIVE_IDS):
        return None  # shutil's PermissionError
    if not stat.S_ISREG(dst_st.st_mode) or os.path.samestat(src_st, dst_st):
        return None
    return src_st, stat.S_IMODE(dst_st.st_mode) if keep_mode else 0


_EFFECTIVE_IDS = os.access in os.supports_effective_ids


def _new_file_mode(
    src_st: os.stat_result, parent: _StrOrBytesPath
) -> tuple[os.stat_result, int] | None:
    """The mode `open(dst, "wb")` gives a new file: 0o666 less the umask; None
    (shutil's function does it) under a default ACL, which decides instead."""
    if hasattr(os, "getxattr"):
        try:
            os.getxattr(parent or ".", "system.posix_acl_default")
            return None
        except OSError as e:
            if e.errno not in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP):
                return None
    return src_st, 0o666 & ~_umask()


_umask_lock = threading.Lock()
_last_umask: int | None = None


def _umask() -> int:
    """The process's umask. The first time from /proc/self/status where there
    is one; after that (and without /proc) by setting it, which is the only
    other way to read it: set to the value last seen, it does not change at
    all unless it was changed since, and then it is put back at once."""
    global _last_umask
    with _umask_lock:
        if _last_umask is None:
            _last_umask = _proc_umask()
        if _last_umask is not None:
            current = os.umask(_last_umask)
            if current != _last_umask:
                os.umask(current)
        else:
            current = os.umask(0o022)
            os.umask(current)
        _last_umask = current
        return current


def _proc_umask() -> int | None:
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _copy_xattrs(src: _StrOrBytesPath, dst: _StrOrBytesPath) -> bool:
    """`shutil._copyxattr`: every extended attribute, leaving out those the
    destination refuses as it does. Whether `src` had any."""
    if not hasattr(os, "listxattr"):
        return False
    try:
        names = os.listxattr(src)
    except OSError as e:
        if e.errno not in (errno.ENOTSUP, errno.ENODATA, errno.EINVAL):
            raise
        return False
    for name in names:
        try:
            os.setxattr(dst, name, os.getxattr(src, name))
        except OSError as e:
            if e.errno not in (
                errno.EPERM,
                errno.ENOTSUP,
                errno.ENODATA,
                errno.EINVAL,
                errno.EACCES,
            ):
                raise
    return bool(names)
