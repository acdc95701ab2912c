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
    - Any depth the filesystem allows: the walk does not recurse (`shutil`
      raises `RecursionError` at about 490 levels).
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
    once = None if ignore is None else _once_per_directory(ignore)
    preserve_times = _fast_times(copy_function)
    if preserve_times is not None:
        try:
            _engine_copytree(src, dst, symlinks, once, preserve_times, dirs_exist_ok)
            return dst
        except (_FollowLinks, SpecialFileError, DestinationInsideSourceError):
            pass  # nothing was written: the walk collects what shutil would
    _Walk(
        symlinks=symlinks,
        ignore=once,
        copy_function=copy_function,
        ignore_dangling_symlinks=ignore_dangling_symlinks,
        dirs_exist_ok=dirs_exist_ok,
    ).copytree(entries, src, dst)
    return dst


def _once_per_directory(ignore: _Ignore) -> Callable[[str, list[str]], set[str]]:
    """`ignore`, called once per directory as `shutil` calls it, answering
    the names it skips (those of `names` that are `in` its answer, as
    `shutil` asks). A directory may be listed more than once: by the
    engine's first try, which gives a tree with a link to follow back to
    the walk, by the walk, and by the engine again for a subtree the walk
    hands to it; the later calls get the first one's answer."""
    answers: dict[str, set[str]] = {}

    def once(directory: str, names: list[str]) -> set[str]:
        if directory not in answers:
            skipped = ignore(directory, names)
            answers[directory] = {name for name in names if name in skipped}
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
        try:
            with os.scandir(directory) as listing:
                links = [entry.name for entry in listing if entry.is_symlink()]
        except OSError:
            # By path, where the engine lists by fd: a directory deeper than
            # PATH_MAX. The walk meets the error and says it as shutil does.
            raise _FollowLinks from None
        if any(name not in skipped for name in links):
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
            _remove_tree(dst)
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


class _Dir:
    """A directory the walk copies entry by entry: its listing, and the
    names it skips (those `ignore` gave, and the directories made for a
    `dst` inside `src`)."""

    __slots__ = ("entries", "excluded", "ignored", "path")

    def __init__(
        self,
        path: _StrPath,
        entries: list[os.DirEntry[str]],
        ignored: set[str],
        excluded: set[str],
    ) -> None:
        self.path = path
        self.entries = entries
        self.ignored = ignored
        self.excluded = excluded

    def skips(self, name: str) -> bool:
        return name in self.ignored or name in self.excluded


class _Frame:
    """A directory being copied: the next entry, and the errors met below it
    (`shutil`'s `errors` of one level of its recursion)."""

    __slots__ = ("dir", "dst", "errors", "next")

    def __init__(self, directory: _Dir, dst: _StrPath) -> None:
        self.dir = directory
        self.dst = dst
        self.next = 0
        self.errors: list[Any] = []


class _Surveyed:
    """A directory being surveyed: the next entry, and whether it is walked."""

    __slots__ = ("dir", "next", "walk")

    def __init__(self, directory: _Dir, *, walk: bool) -> None:
        self.dir = directory
        self.next = 0
        self.walk = walk


class _Walk:
    """`shutil`'s `_copytree`, entry by entry, without recursion: an explicit
    stack of directories, so the depth of a tree is bounded by the
    filesystem (paths as `shutil` builds them), not by Python's stack.

    With `copy2`/`copy` the walk first surveys the tree once (each
    directory listed once, `ignore` called once): a directory whose whole
    subtree the engine can copy exactly (no link to follow, no fifo, socket
    or device, no directory made for `dst`) is handed to the engine in one
    call; the others, the directories above such an entry, are walked with
    their listing from the survey, each file placed by fastlink's
    single-file path. Each file is placed once, and each directory listed
    by the survey once (the engine lists the subtrees it copies again).
    A custom `copy_function` is called for each file, in `shutil`'s order,
    each directory listed as the walk reaches it."""

    def __init__(
        self,
        *,
        symlinks: bool,
        ignore: Callable[[str, list[str]], set[str]] | None,
        copy_function: _CopyFunction,
        ignore_dangling_symlinks: bool,
        dirs_exist_ok: bool,
    ) -> None:
        self.symlinks = symlinks
        self.ignore = ignore
        self.copy_function = copy_function
        self.preserve_times = _fast_times(copy_function)
        self.ignore_dangling_symlinks = ignore_dangling_symlinks
        self.dirs_exist_ok = dirs_exist_ok
        # Directories that are dst, or were made for it, inside src.
        self.exclude: set[_Identity] = set()
        # The survey's directories to walk (or the error listing one gave),
        # by source path; a directory below src not in it goes to the engine.
        self.walked: dict[str, _Dir | OSError] = {}

    def copytree(self, entries: list[os.DirEntry[str]], src: _StrPath, dst: _StrPath) -> None:
        """The top directory, as `shutil` copies it: `ignore`, then `dst`
        made (an error there raised as it is), its entries, its `copystat`,
        and one `shutil.Error` for every error met. A new `dst` is removed
        again when anything is raised."""
        ignored = self._ignored(src, entries)
        missing = _missing_dirs(dst)
        os.makedirs(dst, exist_ok=self.dirs_exist_ok)
        # Made for this call: never copied into itself when inside src.
        self.exclude = {_identity(path) for path in [os.fspath(dst), *missing]}
        made = _identity(dst) if missing else None
        try:
            top = _Dir(src, entries, ignored, self._excluded(src, entries, ignored))
            if self.preserve_times is not None:
                self._survey(top)
            errors = self._walk(top, dst)
            if errors:
                raise shutil.Error(errors)
        except BaseException:
            if made is not None and _identity(dst) == made:
                _remove_tree(dst)
            raise

    def _ignored(self, path: _StrPath, entries: list[os.DirEntry[str]]) -> set[str]:
        if self.ignore is None:
            return set()
        return self.ignore(os.fspath(path), [entry.name for entry in entries])

    def _excluded(
        self, path: _StrPath, entries: list[os.DirEntry[str]], ignored: set[str]
    ) -> set[str]:
        """Names of `path`'s directories that are dst or were made for it
        (a link to one too, unless links are kept as links)."""
        excluded = set()
        for entry in entries:
            if entry.name in ignored:
                continue
            try:
                if (
                    (not self.symlinks or not entry.is_symlink())
                    and entry.is_dir()
                    and _identity(os.path.join(path, entry.name)) in self.exclude
                ):
                    excluded.add(entry.name)
            except OSError:
                pass  # the walk meets it again and says why
        return excluded

    def _listing(self, path: str) -> _Dir:
        """`path` listed, as `shutil` lists a directory it copies."""
        with os.scandir(path) as listing:
            entries = list(listing)
        ignored = self._ignored(path, entries)
        return _Dir(path, entries, ignored, self._excluded(path, entries, ignored))

    def _survey(self, root: _Dir) -> None:
        """Sort the directories below `root` (walked itself) into those the
        engine copies whole and those to walk, in one pass, depth first and
        without recursion: a directory is walked when one of its entries is
        a link to follow, a fifo, socket or device, a directory made for
        `dst`, or a directory that is walked (or cannot be listed). Only the
        listings of those are kept."""
        self.walked[os.fspath(root.path)] = root
        stack = [_Surveyed(root, walk=True)]
        while stack:
            frame = stack[-1]
            directory = frame.dir
            child = None
            while child is None and frame.next < len(directory.entries):
                entry = directory.entries[frame.next]
                frame.next += 1
                if entry.name in directory.ignored:
                    continue
                if entry.name in directory.excluded:
                    frame.walk = True
                    continue
                path = os.path.join(directory.path, entry.name)
                try:
                    if entry.is_symlink():
                        if self.symlinks:
                            continue  # the engine recreates it
                        frame.walk = True
                        if self.ignore_dangling_symlinks and not os.path.exists(path):
                            continue
                        if entry.is_dir():
                            child = path
                    elif entry.is_dir():
                        child = path
                    elif not entry.is_file(follow_symlinks=False):
                        frame.walk = True  # a fifo, socket or device
                except OSError:
                    frame.walk = True  # the walk meets it again, says why
                if child is not None:
                    try:
                        listed = self._listing(child)
                    except OSError as why:
                        self.walked[child] = why
                        frame.walk = True
                        child = None
                        continue
                    stack.append(_Surveyed(listed, walk=bool(listed.excluded)))
            if child is not None:
                continue
            stack.pop()
            if frame.walk:
                self.walked[os.fspath(directory.path)] = directory
                if stack:
                    stack[-1].walk = True

    def _walk(self, top: _Dir, dst: _StrPath) -> list[Any]:
        """The copy, in `shutil`'s order: each directory's entries, a
        subdirectory's whole content at its place among them, then the
        directory's `copystat`; its errors added to its parent's, as
        `shutil`'s recursion raises them and its caller extends its own
        list with them. Returns the top's errors."""
        stack = [_Frame(top, dst)]
        while True:
            frame = stack[-1]
            directory = frame.dir
            if frame.next == len(directory.entries):
                stack.pop()
                try:
                    shutil.copystat(directory.path, frame.dst)
                except OSError as why:
                    frame.errors.append((os.fspath(directory.path), os.fspath(frame.dst), str(why)))
                if not stack:
                    return frame.errors
                stack[-1].errors.extend(frame.errors)
                continue
            entry = directory.entries[frame.next]
            frame.next += 1
            if directory.skips(entry.name):
                continue
            srcname = os.path.join(directory.path, entry.name)
            dstname = os.path.join(frame.dst, entry.name)
            try:
                subdirectory = self._entry(entry, srcname, dstname)
            except shutil.Error as err:
                frame.errors.extend(err.args[0])
            except OSError as why:
                frame.errors.append((srcname, dstname, str(why)))
            else:
                if subdirectory is not None:
                    stack.append(_Frame(subdirectory, dstname))

    def _entry(self, entry: os.DirEntry[str], srcname: str, dstname: str) -> _Dir | None:
        """One entry copied as `shutil` copies it; a directory to walk, made
        at `dstname`, is returned instead."""
        if entry.is_symlink():
            linkto = os.readlink(srcname)
            if self.symlinks:
                os.symlink(linkto, dstname)
                shutil.copystat(srcname, dstname, follow_symlinks=False)
                return None
            # Dangling: what the link names, from the link's directory.
            if self.ignore_dangling_symlinks and not os.path.exists(srcname):
                return None
            if entry.is_dir():
                return self._directory(srcname, dstname)
        elif entry.is_dir():
            return self._directory(srcname, dstname)
        if self.preserve_times is None:
            self.copy_function(srcname, dstname)
        else:
            _copy_file(srcname, dstname, self.preserve_times)
        return None

    def _directory(self, srcname: str, dstname: str) -> _Dir | None:
        """A subdirectory: copied by the engine when the survey found it can
        (None), else listed (or its listing from the survey), `ignore`
        called, and made at `dstname`, as `shutil` recurses into it."""
        if self.preserve_times is None:
            directory = self._listing(srcname)
        else:
            walked = self.walked.pop(srcname, None)
            if walked is None:
                try:
                    _engine_copytree(
                        srcname,
                        dstname,
                        self.symlinks,
                        self.ignore,
                        self.preserve_times,
                        self.dirs_exist_ok,
                    )
                    return None
                except (_FollowLinks, SpecialFileError, DestinationInsideSourceError):
                    # Changed since the survey (nothing was written): walk it.
                    walked = self._listing(srcname)
                    self._survey(walked)
                    self.walked.pop(srcname)
            if isinstance(walked, OSError):
                raise walked
            directory = walked
        os.makedirs(dstname, exist_ok=self.dirs_exist_ok)
        return directory


def _copy_file(src: str, dst: str, preserve_times: bool) -> None:
    """One file as `shutil.copy2` (times) or `shutil.copy` copies it, links
    followed, by fastlink: a clone, else a copy; an existing file or symlink
    at `dst` is replaced, never written through."""
    st = os.stat(src)
    if stat.S_ISFIFO(st.st_mode):
        raise shutil.SpecialFileError(f"`{src}` is a named pipe")
    clone_or_copy(src, dst, methods=_METHODS, overwrite=True, preserve_times=preserve_times)


def _remove_tree(path: _StrPath) -> None:
    """`shutil.rmtree(path, ignore_errors=True)` for a tree of any depth made
    by paths. `shutil.rmtree` recurses before Python 3.13 and stops at about
    990 levels: then the directories every 200 levels are removed first,
    deepest first, each by `shutil.rmtree` (which never follows a link)."""
    try:
        shutil.rmtree(path, ignore_errors=True)
        return
    except RecursionError:
        pass
    levels: list[tuple[int, str]] = []
    stack = [(os.fspath(path), 0)]
    while stack:
        directory, depth = stack.pop()
        if depth and depth % 200 == 0:
            levels.append((depth, directory))
        try:
            with os.scandir(directory) as listing:
                for entry in listing:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append((entry.path, depth + 1))
        except OSError:
            pass
    for _, directory in sorted(levels, reverse=True):
        shutil.rmtree(directory, ignore_errors=True)
    shutil.rmtree(path, ignore_errors=True)


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
