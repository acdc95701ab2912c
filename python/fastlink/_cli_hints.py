"""What a failed `fastlink SRC DST` tells its user beyond the errno: the option
that gets past it, or which side of the copy was denied.

Looked at after the failure, on the paths the command was given and the ones
the error names; nothing here changes what the call did (it was rolled back).
"""

from __future__ import annotations

import errno
import os

# Entries looked at to find the one a source-side EACCES was about: an error
# path, so a bound is enough to keep a huge tree from stalling the message.
_MAX_ENTRIES = 100_000


def explain(
    err: OSError, src: str, dst: str, *, merge: bool, overwrite: bool
) -> tuple[OSError, str | None]:
    """The error as the command line should report it, and a hint (or None).

    A merge of a tree into a file is ENOTDIR here: the library answers
    EEXIST, as `shutil.copytree(..., dirs_exist_ok=True)` does, but what the
    user has to change is that DST is not a directory."""
    if err.errno == errno.EEXIST:
        return _explain_exists(err, src, dst, merge=merge, overwrite=overwrite)
    if err.errno == errno.EACCES:
        return err, _denied_side(err)
    return err, None


def _explain_exists(
    err: OSError, src: str, dst: str, *, merge: bool, overwrite: bool
) -> tuple[OSError, str | None]:
    named = err.filename2
    at_dst = named is not None and os.path.normpath(os.fsdecode(named)) == os.path.normpath(dst)
    src_is_dir = os.path.isdir(src)
    if not at_dst:
        # A conflict inside a merge: an entry of DST where SRC has one.
        return err, None if overwrite else "--overwrite replaces existing files and symlinks"
    if not src_is_dir:
        # A file is never put over a directory, --overwrite or not.
        return err, None if overwrite or os.path.isdir(dst) else "--overwrite replaces it"
    if os.path.isdir(dst):
        return err, "--merge merges into it"
    if merge:
        not_a_dir = NotADirectoryError(
            errno.ENOTDIR, os.strerror(errno.ENOTDIR), err.filename, None, err.filename2
        )
        return not_a_dir, "--merge merges a tree into an existing directory, and DST is not one"
    return err, "DST is not a directory, so --merge cannot merge into it either"


def _denied_side(err: OSError) -> str | None:
    """Which side an EACCES was on: a source entry that cannot be read (the
    error may name the tree's root), else a destination directory that
    cannot be written in."""
    if err.filename is not None:
        unreadable = _first_unreadable(os.fsdecode(err.filename))
        if unreadable is not None:
            return f"cannot read {unreadable} (the source side)"
    if err.filename2 is not None:
        unwritable = _unwritable_directory(os.fsdecode(err.filename2))
        if unwritable is not None:
            return f"cannot write in {unwritable} (the destination side)"
    return None


def _may(path: str, mode: int) -> bool:
    # The effective ids (and capabilities) are the ones the call ran with.
    return os.access(path, mode, effective_ids=os.access in os.supports_effective_ids)


def _readable(path: str) -> bool:
    if os.path.islink(path):
        return True  # a symlink is read as a link, never followed
    return _may(path, os.R_OK | (os.X_OK if os.path.isdir(path) else 0))


def _first_unreadable(path: str) -> str | None:
    if not _readable(path):
        return path
    if not os.path.isdir(path) or os.path.islink(path):
        return None
    seen = 0
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            entry = os.path.join(root, name)
            if not _readable(entry):
                return entry
            seen += 1
            if seen >= _MAX_ENTRIES:
                return None
    return None


def _unwritable_directory(path: str) -> str | None:
    """The directory a new entry at `path` is made in (its nearest existing
    one, as the call makes missing parents), if it cannot be written in."""
    directory = path if os.path.isdir(path) else os.path.dirname(path) or "."
    while not os.path.isdir(directory) and directory not in ("/", "."):
        directory = os.path.dirname(directory) or "."
    return None if _may(directory, os.W_OK | os.X_OK) else directory
