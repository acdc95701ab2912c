"""Walking and removing trees through directory fds (no PATH_MAX limit,
no atime updates), scratch directories, and fastlink's work entries."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
from pathlib import Path

from digests import content_digest_fd, open_quiet
from paths import PathLike, fsbytes

# --------------------------------------------------------------------------
# Scratch directories
# --------------------------------------------------------------------------


def make_fresh_dir(mount: PathLike, prefix: str = "t-") -> Path:
    """A new unique directory inside `mount` (the caller removes it)."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=os.fspath(mount)))


def remove_tree(path: PathLike) -> None:
    """Remove a file or tree; copes with read-only dirs when not root."""

    def onerror(func, p, exc_info):
        try:
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
        except OSError:
            pass
        func(p)

    if not os.path.lexists(path):
        return
    if os.path.isdir(path) and not os.path.islink(path):
        try:
            shutil.rmtree(path, onerror=onerror)
        except RecursionError:
            # shutil.rmtree recurses once per level: trees thousands of
            # levels deep need the iterative, fd-relative removal.
            remove_tree_fd(path)
    else:
        os.remove(path)


def fastlink_entries(*roots: PathLike) -> list[bytes]:
    """Every entry at or under any of `roots` (each a directory; a missing one
    is skipped) named like fastlink's hidden work entries, `.fastlink-*`:
    staging directories, temp files, probes, and look-alikes. Bytes paths,
    each joined to its root; the walk is by fd, so any depth."""
    found = []
    for root in roots:
        root_b = fsbytes(os.fspath(root))
        if not os.path.isdir(root_b):
            continue
        for rel in walk_tree(root_b):
            if os.path.basename(rel).startswith(b".fastlink-"):
                found.append(os.path.join(root_b, rel))
    return sorted(found)


def regular_files(root: PathLike) -> list[bytes]:
    """Absolute bytes paths of every regular file under root."""
    root_b = fsbytes(os.fspath(root))
    out = []
    for dirpath, _dirnames, filenames in os.walk(root_b):
        for name in filenames:
            p = os.path.join(dirpath, name)
            if stat.S_ISREG(os.lstat(p).st_mode):
                out.append(p)
    return sorted(out)


# --------------------------------------------------------------------------


# The key of a tree's root in a walk (and a snapshot).
ROOT_KEY = b"."
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def _fd_describe(st: os.stat_result, identity: bool) -> dict:
    info: dict = {"mode": stat.S_IMODE(st.st_mode), "mtime_ns": st.st_mtime_ns}
    if identity:
        info["ino"] = st.st_ino
    fmt = stat.S_IFMT(st.st_mode)
    if fmt == stat.S_IFREG:
        info.update(type="file", size=st.st_size)
    elif fmt == stat.S_IFDIR:
        info.update(type="dir")
    elif fmt == stat.S_IFLNK:
        # Symlink modes are always 0o777 on Linux; keep them anyway.
        info.update(type="symlink")
    else:  # fifo, socket, device: described, never opened
        info.update(type=f"other({fmt:o})")
    return info


def _fd_describe_file(name: bytes, dir_fd: int, info: dict) -> None:
    # O_NONBLOCK: should a fifo replace the file after our lstat, opening it
    # must not hang; O_NOFOLLOW: nor may a symlink send us elsewhere.
    fd = open_quiet(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd)
    try:
        info["digest"] = content_digest_fd(fd)
    finally:
        os.close(fd)


def _listdir_fd(fd: int) -> list[bytes]:
    # os.listdir(fd) gives str (surrogateescape); fsencode restores the bytes.
    return sorted(os.fsencode(n) for n in os.listdir(fd))


def walk_tree(
    root: PathLike, *, identity: bool = False, tolerate_vanishing: bool = False
) -> dict[bytes, dict]:
    """The walk behind snapshot() (see there), without its side effect on
    the source guard. tolerate_vanishing=True leaves out entries that
    disappear (or change type) while the walk runs, e.g. a concurrent
    call's temporary files.
    """
    root_b = fsbytes(os.fspath(root))
    st = os.stat(root_b)
    info = _fd_describe(st, identity)
    if info["type"] == "file":
        fd = open_quiet(root_b, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            info["digest"] = content_digest_fd(fd)
        finally:
            os.close(fd)
    if info["type"] != "dir":
        return {ROOT_KEY: info}

    result: dict[bytes, dict] = {ROOT_KEY: info}
    dir_fd = open_quiet(root_b, _DIR_FLAGS)
    try:
        # Each frame: [relative path, sorted child names, next index].
        stack: list[list] = [[b"", _listdir_fd(dir_fd), 0]]
        while stack:
            frame = stack[-1]
            rel, names, index = frame
            if index == len(names):
                stack.pop()
                if stack:
                    parent = open_quiet(b"..", _DIR_FLAGS, dir_fd)
                    os.close(dir_fd)
                    dir_fd = parent
                continue
            frame[2] = index + 1
            name = names[index]
            child_rel = rel + b"/" + name if rel else name
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                info = _fd_describe(st, identity)
                if info["type"] == "file":
                    _fd_describe_file(name, dir_fd, info)
                elif info["type"] == "symlink":
                    info["target"] = os.readlink(name, dir_fd=dir_fd)
                elif info["type"] == "dir":
                    child = open_quiet(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd)
                    try:
                        names_below = _listdir_fd(child)
                    except OSError:
                        os.close(child)
                        raise
            except OSError as e:
                vanished = e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EINVAL)
                if tolerate_vanishing and vanished:
                    continue
                raise
            result[child_rel] = info
            if info["type"] == "dir":
                os.close(dir_fd)
                dir_fd = child
                stack.append([child_rel, names_below, 0])
    finally:
        os.close(dir_fd)
    return result


def remove_tree_fd(path: PathLike) -> None:
    """Remove a directory tree of any depth, fd-relative and iteratively.

    Descends into one non-empty subdirectory at a time and climbs back with
    "..", so neither PATH_MAX nor the recursion limit nor the fd limit matter.
    """
    path_b = fsbytes(os.fspath(path))
    cur = os.open(path_b, _DIR_FLAGS | os.O_NOFOLLOW)
    depth = 0
    try:
        while True:
            descend_into = None
            for name in _listdir_fd(cur):
                st = os.stat(name, dir_fd=cur, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode):
                    os.unlink(name, dir_fd=cur)
                    continue
                try:
                    os.rmdir(name, dir_fd=cur)
                except OSError as e:
                    if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                        raise
                    descend_into = name
                    break
            if descend_into is not None:
                if os.geteuid() != 0:  # a read-only dir must become writable
                    os.chmod(descend_into, 0o700, dir_fd=cur)
                child = os.open(descend_into, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=cur)
                os.close(cur)
                cur = child
                depth += 1
                continue
            if depth == 0:
                break
            parent = os.open(b"..", _DIR_FLAGS, dir_fd=cur)
            os.close(cur)
            cur = parent
            depth -= 1
    finally:
        os.close(cur)
    os.rmdir(path_b)
