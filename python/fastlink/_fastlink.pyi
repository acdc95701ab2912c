"""Type stubs for the fastlink extension module."""

import os
from collections.abc import Sequence
from typing import Literal, final

__version__: str

_MethodName = Literal["reflink", "hardlink", "copy"]
_StrPath = str | bytes | os.PathLike[str] | os.PathLike[bytes]

class FastlinkError(OSError):
    """Base class of the conditions fastlink itself detects."""

class CrossDeviceError(FastlinkError):
    """Every allowed method needs one filesystem, and src and dst are on two (EXDEV)."""

class ReflinkUnsupportedError(FastlinkError):
    """Reflink was required and the filesystem cannot clone (EOPNOTSUPP)."""

class HardlinkUnsupportedError(FastlinkError):
    """Hardlink was required and the filesystem refused it (EPERM, EMLINK)."""

class SpecialFileError(FastlinkError):
    """The source holds a fifo, socket or device file (EINVAL); nothing was written."""

class DestinationInsideSourceError(FastlinkError):
    """The destination lies inside the source tree (EINVAL); nothing was written."""

class SourceInsideDestinationError(FastlinkError):
    """The source lies inside the destination of a merge (EINVAL); nothing was written."""

class SourceChangedError(FastlinkError):
    """A source file changed size while it was being copied (EAGAIN); the call was rolled back."""

@final
class Report:
    """What a call to `clone_or_copy` did."""

    @property
    def method(self) -> _MethodName:
        """The method used for file data."""
    @property
    def files(self) -> int:
        """Regular files placed."""
    @property
    def dirs(self) -> int:
        """Directories of the tree, the root included (0 for a single file)."""
    @property
    def symlinks(self) -> int:
        """Symlinks recreated."""
    @property
    def bytes(self) -> int:
        """Total size of the regular files."""
    @property
    def reflinked(self) -> int:
        """Files cloned."""
    @property
    def hardlinked(self) -> int:
        """Files hard-linked."""
    @property
    def copied(self) -> int:
        """Files copied."""
    @property
    def skipped(self) -> tuple[tuple[_MethodName, int, str], ...]:
        """`(method, errno, message)` for each preferred method passed over."""
    @property
    def elapsed(self) -> float:
        """Wall-clock seconds the call took."""

def clone_or_copy(
    src: _StrPath,
    dst: _StrPath,
    *,
    methods: _MethodName | Sequence[_MethodName] | None = None,
    dirs_exist_ok: bool = False,
    overwrite: bool = False,
    preserve_times: bool = True,
    threads: int | None = None,
) -> Report:
    """Materialize `src` (a tree or a file) at `dst`.

    `methods` is the ordered preference among "reflink", "hardlink" and "copy";
    None means ("reflink", "copy"). The first method that works between the two
    filesystems is used for every file; methods the pair cannot do are skipped
    and listed in `Report.skipped`. A new `dst` is built in a hidden staging
    directory beside it and renamed into place, so it appears complete or not
    at all. With `dirs_exist_ok=True` the call merges into an existing
    directory; `overwrite=True` then replaces existing files and symlinks by
    rename, never in place. Raises `CrossDeviceError` or
    `ReflinkUnsupportedError` when no allowed method is possible (nothing is
    left at `dst`), and builtin `OSError` subclasses for real I/O errors.
    """

def probe(src: _StrPath, dst_dir: _StrPath) -> dict[_MethodName, bool]:
    """Which methods work between `src` and the directory `dst_dir` (cached per device pair)."""
