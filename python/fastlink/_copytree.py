"""`fastlink.copytree`: `shutil.copytree`'s signature and behaviour, on fastlink's engine."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable, Iterable
from typing import Any, Literal, TypeVar, Union

from fastlink._copyfile import copy2 as _fastlink_copy2
from fastlink._fastlink import (
    DestinationInsideSourceError,
    SpecialFileError,
    clone_or_copy,
)

_StrPath = Union[str, "os.PathLike[str]"]
_DstT = TypeVar("_DstT", bound=Union[str, "os.PathLike[str]"])
_Ignore = Callable[[str, list[str]], Iterable[str]]
_CopyFunction = Callable[[str, str], object]

# Never "hardlink": a copy must not share its inode with the source. The
# FASTLINK_METHODS environment variable is not read here for the same reason.
_METHODS: tuple[Literal["reflink", "copy"], ...] = ("reflink", "copy")

# A file's identity: (st_dev, st_ino).
_Identity = tuple[int, int]


class _FollowLinks(Exception):
    """Raised from the engine's `ignore` hook: a symlink to follow
    (`symlinks=False`), which the engine never does; the call has written
    nothing, and the tree is copied by the walk instead."""


def copytree(
    src: _StrPath,
    dst: _DstT,
    symlinks: bool = False,
    ignore: _Ignore | None = None,
    copy_function: _CopyFunction = shutil.copy2,
    ignore_dangling_symlinks: bool = False,
    dirs_exist_ok: bool = False,
) -> _DstT:
    """Recursively copy the directory tree `src` to `dst` and return `dst`:
    `shutil.copytree`, with its signature and behaviour, made by clones
    (reflinks) where the filesystem can, else by a parallel in-kernel copy.

    `from fastlink import copytree` is meant to change nothing else:

    - `symlinks=False` (the default) follows symlinks: a link to a file or
      a directory becomes a copy of what it names. A dangling link is an
      error, unless `ignore_dangling_symlinks=True` leaves it out.
      `symlinks=True` recreates links as links (dangling ones too).
    - `ignore(dir, names) -> names to skip` is called once per directory
      copied, with `shutil`'s arguments; `shutil.ignore_patterns` works.
    - `copy_function` is called once per file, as `shutil.copytree` calls
      it (`copy_function(src_path, dst_path)`), except that
      `shutil.copy2` (the default), `fastlink.copy2` and `shutil.copy` are
      not called but done by fastlink: `copy2` keeps permission bits and times, `copy`
      permission bits only (files get the time of the copy; directories
      keep theirs, as with `shutil`).
    - `dirs_exist_ok=True` merges into an existing `dst`, replacing files
      of the same name; otherwise an existing `dst` is a
      `FileExistsError`. Missing parents of `dst` are made.
    - `dst` may be inside `src` (as `shutil` allows since Python 3.8): the
      source is copied as it was listed, `dst` itself and the directories
      made for it left out.
    - Errors met on entries are collected and raised together as one
      `shutil.Error` carrying `shutil`'s list of `(src, dst, why)`; a named
      pipe is "`path` is a named pipe", as `shutil` says. A missing or
      non-directory `src`, or an existing `dst` without `dirs_exist_ok`,
      raise the plain `OSError` `shutil` raises. An exception from
      `ignore` propagates as it was raised.

    Where fastlink does better than `shutil.copytree`:

    - A new tree is all or nothing. Where `shutil` raises `shutil.Error`
      and leaves a partial tree at `dst`, this raises the same error and
      leaves nothing at `dst` (the missing parents it made stay, as with
      `shutil`). A merge made by the engine (the default `copy_function`)
      is rolled back too; a merge made by calling a custom `copy_function`
      leaves what was copied, as `shutil` does.
    - Nothing is written through a symlink in the destination: in a merge
      an existing link at a file's name is replaced, not written through.
    - The source is never changed (other than by `dst` made inside it).
    - Fifos, sockets and devices are never opened: each is an entry of
      the `shutil.Error` (`shutil` would read a device's data).
    - A `dst` inside `src` any number of levels down works; `shutil` only
      leaves out a `dst` that did not exist when `src` was listed.
    - A link is dangling when what it names, from the link's directory,
      does not exist; `shutil` (`ignore_dangling_symlinks=True`) looks for
      a relative target from the current directory.

    What is not kept (`shutil.copy2` keeps it): extended attributes, but
    those of the top directory, which `shutil.copystat` copies as
    `shutil.copytree` does as its last step; setuid and setgid bits,
    which are cleared; and in a merge, the mode and times of directories
    below `dst` that existed already (they keep their own). Hard links
    within `src` become separate files, as with `shutil`. The environment
    variable `FASTLINK_METHODS` is not read: `copytree` clones or copies,
    and never hard-links.
    """
    with os.scandir(src) as listing:  # shutil's first step, and its errors
        entries = list(listing)
    _copytree(
        entries,
        src,
        dst,
        symlinks=symlinks,
        ignore=None if ignore is None else _once_per_directory(ignore),
        copy_function=copy_function,
        ignore_dangling_symlinks=ignore_dangling_symlinks,
        dirs_exist_ok=dirs_exist_ok,
        exclude=set(),
        top=True,
    )
    return dst


def _copytree(
    entries: list[os.DirEntry[str]],
    src: _StrPath,
    dst: _StrPath,
    *,
    symlinks: bool,
    ignore: _Ignore | None,
    copy_function: _CopyFunction,
    ignore_dangling_symlinks: bool,
    dirs_exist_ok: bool,
    exclude: set[_Identity],
    top: bool,
) -> None:
    """One directory: by the engine when it can serve it exactly, else by a
    walk that does what `shutil.copytree` does, entry by entry."""
    preserve_times = _fast_times(copy_function)
    if preserve_times is not None:
        try:
            _engine_copytree(src, dst, symlinks, ignore, preserve_times, dirs_exist_ok)
            return
        except (_FollowLinks, SpecialFileError, DestinationInsideSourceError):
            pass  # nothing was written: the walk collects what shutil would
    _walk_copytree(
        entries,
        src,
        dst,
        symlinks=symlinks,
        ignore=ignore,
        copy_function=copy_function,
        ignore_dangling_symlinks=ignore_dangling_symlinks,
        dirs_exist_ok=dirs_exist_ok,
        exclude=exclude,
        top=top,
    )


def _once_per_directory(ignore: _Ignore) -> _Ignore:
    """`ignore`, called once per directory as `shutil` calls it. A directory
    the engine has listed may be listed again: the engine gives a tree with
    a link to follow back to the walk, which tries the engine again on each
    subdirectory; the later calls get the first one's answer."""
    answers: dict[str, Iterable[str]] = {}

    def once(directory: str, names: list[str]) -> Iterable[str]:
        if directory not in answers:
            answers[directory] = ignore(directory, names)
        return answers[directory]

    return once


def _fast_times(copy_function: _CopyFunction) -> bool | None:
    """`preserve_times` for a copy function fastlink does itself, or None."""
    if copy_function is shutil.copy2 or copy_function is _fastlink_copy2:
        return True
    if copy_function is shutil.copy:
        return False
    return None


def _engine_copytree(
    src: _StrPath,
    dst: _StrPath,
    symlinks: bool,
    ignore: _Ignore | None,
    preserve_times: bool,
    dirs_exist_ok: bool,
) -> None:
    """The whole tree in one call of the engine (parallel, all or nothing),
    then the top directory's metadata by `shutil.copystat`, shutil's last
    step. Raises _FollowLinks, SpecialFileError or
    DestinationInsideSourceError having written nothing."""

    def refuse_links(directory: str, names: list[str]) -> Iterable[str]:
        skipped = ignore(directory, names) if ignore is not None else ()
        with os.scandir(directory) as listing:
            for entry in listing:
                if entry.is_symlink() and entry.name not in skipped:
                    raise _FollowLinks
        return skipped

    new = not os.path.lexists(dst)
    try:
        clone_or_copy(
            src,
            dst,
            methods=_METHODS,
            dirs_exist_ok=dirs_exist_ok,
            overwrite=dirs_exist_ok,
            preserve_times=preserve_times,
            ignore=ignore if symlinks else refuse_links,
        )
    except (_FollowLinks, SpecialFileError, DestinationInsideSourceError):
        raise
    except OSError as why:
        # An entry's error is an entry of shutil.Error; one about dst itself
        # or its parents is raised as shutil's os.makedirs raises it.
        if why.filename2 is not None and _strictly_below(why.filename2, dst):
            raise shutil.Error([(why.filename, why.filename2, str(why))]) from None
        raise
    made = _identity(dst) if new else None
    try:
        if not preserve_times:
            _copy_directory_times(src, dst)
        shutil.copystat(src, dst)
    except OSError as why:
        if made is not None and _identity(dst) == made:
            shutil.rmtree(dst, ignore_errors=True)
        raise shutil.Error([(os.fspath(src), os.fspath(dst), str(why))]) from None


def _copy_directory_times(src: _StrPath, dst: _StrPath) -> None:
    """Directories' times from the source's, as `shutil.copytree` gives them
    whatever its `copy_function` (the engine without preserve_times leaves
    them as made). Never follows a symlink in `dst`."""
    stack = [(os.fspath(src), os.fspath(dst))]
    while stack:
        src_dir, dst_dir = stack.pop()
        with os.scandir(dst_dir) as listing:
            for entry in listing:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((os.path.join(src_dir, entry.name), entry.path))
        if dst_dir != os.fspath(dst):
            st = os.stat(src_dir)
            os.utime(dst_dir, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _walk_copytree(
    entries: list[os.DirEntry[str]],
    src: _StrPath,
    dst: _StrPath,
    *,
    symlinks: bool,
    ignore: _Ignore | None,
    copy_function: _CopyFunction,
    ignore_dangling_symlinks: bool,
    dirs_exist_ok: bool,
    exclude: set[_Identity],
    top: bool,
) -> None:
    """shutil's `_copytree`, entry by entry, with fastlink's file copy for
    `copy2`/`copy` and subdirectories tried by the engine first. A new
    `dst` is removed again when an error is raised (at the top only: the
    removal takes everything below)."""
    ignored_names: Iterable[str] = ()
    if ignore is not None:
        ignored_names = ignore(os.fspath(src), [entry.name for entry in entries])
    if top:
        missing = _missing_dirs(dst)
    if dirs_exist_ok:
        os.makedirs(dst, exist_ok=True)
    else:
        os.makedirs(dst)
    if top:
        # Made for this call: never copied into itself when inside src.
        exclude = exclude | {_identity(path) for path in [os.fspath(dst), *missing]}
    made = _identity(dst) if top and missing else None
    try:
        _walk_entries(
            entries,
            ignored_names,
            src,
            dst,
            symlinks=symlinks,
            ignore=ignore,
            copy_function=copy_function,
            ignore_dangling_symlinks=ignore_dangling_symlinks,
            dirs_exist_ok=dirs_exist_ok,
            exclude=exclude,
        )
    except BaseException:
        if made is not None and _identity(dst) == made:
            shutil.rmtree(dst, ignore_errors=True)
        raise


def _walk_entries(
    entries: list[os.DirEntry[str]],
    ignored_names: Iterable[str],
    src: _StrPath,
    dst: _StrPath,
    *,
    symlinks: bool,
    ignore: _Ignore | None,
    copy_function: _CopyFunction,
    ignore_dangling_symlinks: bool,
    dirs_exist_ok: bool,
    exclude: set[_Identity],
) -> None:
    preserve_times = _fast_times(copy_function)
    errors: list[Any] = []

    def subtree(src_dir: str, dst_dir: str) -> None:
        with os.scandir(src_dir) as listing:
            sub_entries = list(listing)
        _copytree(
            sub_entries,
            src_dir,
            dst_dir,
            symlinks=symlinks,
            ignore=ignore,
            copy_function=copy_function,
            ignore_dangling_symlinks=ignore_dangling_symlinks,
            dirs_exist_ok=dirs_exist_ok,
            exclude=exclude,
            top=False,
        )

    for entry in entries:
        if entry.name in ignored_names:
            continue
        srcname = os.path.join(src, entry.name)
        dstname = os.path.join(dst, entry.name)
        try:
            is_link = entry.is_symlink()
            if (not is_link or not symlinks) and entry.is_dir() and _identity(srcname) in exclude:
                continue  # dst, or a directory made for it, inside src
            if is_link:
                linkto = os.readlink(srcname)
                if symlinks:
                    os.symlink(linkto, dstname)
                    shutil.copystat(srcname, dstname, follow_symlinks=False)
                    continue
                # Dangling: what the link names, from the link's directory.
                if ignore_dangling_symlinks and not os.path.exists(srcname):
                    continue
                if entry.is_dir():
                    subtree(srcname, dstname)
                    continue
            elif entry.is_dir():
                subtree(srcname, dstname)
                continue
            if preserve_times is None:
                copy_function(srcname, dstname)
            else:
                _copy_file(srcname, dstname, preserve_times)
        except shutil.Error as err:
            errors.extend(err.args[0])
        except OSError as why:
            errors.append((srcname, dstname, str(why)))
    try:
        shutil.copystat(src, dst)
    except OSError as why:
        errors.append((os.fspath(src), os.fspath(dst), str(why)))
    if errors:
        raise shutil.Error(errors)


def _copy_file(src: str, dst: str, preserve_times: bool) -> None:
    """One file as `shutil.copy2` (times) or `shutil.copy` copies it, links
    followed, by fastlink: a clone, else a copy; an existing file or symlink
    at `dst` is replaced, never written through."""
    st = os.stat(src)
    if stat.S_ISFIFO(st.st_mode):
        raise shutil.SpecialFileError(f"`{src}` is a named pipe")
    clone_or_copy(src, dst, methods=_METHODS, overwrite=True, preserve_times=preserve_times)


def _identity(path: _StrPath) -> _Identity:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _missing_dirs(path: _StrPath) -> list[str]:
    """`path` and its parents that do not exist yet, deepest first."""
    missing = []
    current = os.path.abspath(os.fspath(path))
    while not os.path.lexists(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return missing


def _strictly_below(path: Any, root: _StrPath) -> bool:
    """`path` lies below `root`, by name (the engine names entries as
    `root` joined with their relative path)."""
    path_b = os.fsencode(path)
    root_b = os.fsencode(root).rstrip(b"/")
    return path_b.startswith(root_b + b"/") and path_b.rstrip(b"/") != root_b
