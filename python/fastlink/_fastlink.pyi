"""Type stubs for the fastlink extension module."""

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Final, Literal, final, overload

__all__ = [
    "NOT_WRITTEN_BACK",
    "CrossDeviceError",
    "DestinationInsideSourceError",
    "DistributionExistsError",
    "FastlinkError",
    "HardlinkUnsupportedError",
    "InstalledDistribution",
    "InvalidWheelError",
    "Progress",
    "ReflinkUnsupportedError",
    "ReplacedDistribution",
    "Report",
    "SourceChangedError",
    "SourceInsideDestinationError",
    "SpecialFileError",
    "SymlinkUnsupportedError",
    "UnpackedWheel",
    "__version__",
    "_default_threads",
    "_errno_name",
    "_install_wheels",
    "_max_threads",
    "_platform_backend",
    "_resolve_methods",
    "clone_files",
    "clone_or_copy",
    "probe",
    "reclaim",
    "unpack_wheel",
]

__version__: str
# The errno of a Report.fallbacks entry for files whose clone was passed over
# because their data was not yet written back (a clone would have waited for
# it): 0, which no errno is, so it never reads as EXDEV or EOPNOTSUPP.
NOT_WRITTEN_BACK: Final[int]
# The platform backend this build has: "linux", "macos" (`make macos-sim`) or
# "portable". For the test suite; not part of the API.
_platform_backend: str

def _errno_name(errno: int) -> str:
    """The symbolic name of an errno ("EXDEV"), "errno N" for one fastlink does
    not name: the one table its messages use. For the CLI; not part of the API."""

def _default_threads() -> int:
    """The worker count of a call with `threads=None`: one per core, at least 2
    and at most 16 (the core's rule, for the CLI's help). Not part of the API."""

def _resolve_methods(methods: str | Iterable[str] | None = None) -> list[_MethodName]:
    """The methods a call given `methods` prefers, in order, by name: `methods`
    checked (`ValueError`), or with None what `FASTLINK_METHODS` or the default
    gives (the core's one rule, for `fastlink probe`). Not part of the API."""

# The most worker threads a call may ask for. For the CLI's help.
_max_threads: int

# `fastlink.MethodName`: the names of the methods, as `Report.method` gives
# them. Private here: the extension has no such attribute at run time (the
# package makes it on first use, so that `import fastlink` needs no typing).
_MethodName = Literal["reflink", "hardlink", "copy"]
_MetadataKind = Literal["mode", "times"]
_StrPath = str | bytes | os.PathLike[str] | os.PathLike[bytes]

class FastlinkError(OSError):
    """Base class of the conditions fastlink itself detects."""

class CrossDeviceError(FastlinkError):
    """Every allowed method needs one filesystem, and source and destination are on two (EXDEV)."""

class ReflinkUnsupportedError(FastlinkError):
    """Reflink was required and the filesystem cannot clone (EOPNOTSUPP)."""

class HardlinkUnsupportedError(FastlinkError):
    """Hardlink was required and the filesystem refused it (EPERM, EMLINK)."""

class SymlinkUnsupportedError(FastlinkError):
    """The destination filesystem cannot hold a symlink of the source (FAT:
    ENOSYS, EPERM or EOPNOTSUPP; `errno` is what it said). `filename` is the
    source link, `filename2` where it was to go; the call was rolled back."""

class SpecialFileError(FastlinkError):
    """The source holds a fifo, socket or device file (EINVAL); nothing was written."""

class DestinationInsideSourceError(FastlinkError):
    """The destination lies inside the source tree (EINVAL); nothing was written."""

class SourceInsideDestinationError(FastlinkError):
    """The source lies inside the destination of a merge (EINVAL); nothing was written."""

class SourceChangedError(FastlinkError):
    """A source file changed size while it was being copied (EAGAIN); the call was rolled back."""

class InvalidWheelError(FastlinkError):
    """A wheel that cannot be unpacked: not a zip, corrupt, an unsafe member name, or
    a member that does not match its RECORD (EBADMSG). `filename` is the wheel; the
    message names the member. Nothing was left in the cache."""

class DistributionExistsError(FastlinkError):
    """The distribution being installed is installed already: the environment's
    purelib or platlib holds a `.dist-info` of the same normalized project name
    (EEXIST). `filename2` is that directory. Nothing was written."""

@final
class Report:
    """What a call to `clone_or_copy` did.

    `Report(method=..., files=..., ...)` makes one by hand, e.g. a test double:
    every field by keyword, those not given 0 or empty. Names are checked as a
    call reports them (`ValueError` for an unknown method or metadata kind, or
    an `elapsed` that is negative or not a number); the counts are taken as
    given. A report pickles, compares equal field by field, and `to_dict()`
    gives it as plain data."""

    def __new__(
        cls,
        *,
        method: _MethodName = "copy",
        files: int = 0,
        dirs: int = 0,
        symlinks: int = 0,
        bytes: int = 0,
        reflinked: int = 0,
        hardlinked: int = 0,
        copied: int = 0,
        skipped: Iterable[tuple[str, int, str]] = (),
        fallbacks: Iterable[tuple[str, int, int, str]] = (),
        unsupported_metadata: Iterable[tuple[str, int, int, str]] = (),
        elapsed: float = 0.0,
    ) -> Report: ...
    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready data, as `fastlink --json` prints it:
        the fields in order, each entry of `skipped`, `fallbacks` and
        `unsupported_metadata` a dict of its fields plus `error`, the errno's
        name ("EXDEV"; "errno N" for one fastlink does not name; a fallback's
        `NOT_WRITTEN_BACK`, which is no errno, "NOT_WRITTEN_BACK")."""
    def __getnewargs_ex__(self) -> tuple[tuple[()], dict[str, Any]]: ...
    def __eq__(self, value: object, /) -> bool: ...
    __hash__: ClassVar[None]  # type: ignore[assignment]

    @property
    def method(self) -> _MethodName:
        """The method that placed the most files (ties: the earlier preferred one);
        with no files, the method the call chose."""
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
        """`(method, errno, message)` for each preferred method passed over for the
        whole call: the pair of filesystems cannot do it."""
    @property
    def fallbacks(self) -> tuple[tuple[_MethodName, int, int, str], ...]:
        """`(method, errno, files, message)` for each method that some files could
        not use (a file at the link limit, a NOCOW file, a mount point inside dst),
        so each of them fell back to a later method. errno `NOT_WRITTEN_BACK` (0):
        files written moments ago, whose clone would have waited for their data to
        be written back (XFS), and which took the next allowed method instead."""
    @property
    def unsupported_metadata(self) -> tuple[tuple[_MetadataKind, int, int, str], ...]:
        """`(kind, errno, entries, message)` for each kind of metadata ("mode",
        "times") the destination filesystem cannot store (FAT answers chmod with
        ENOSYS), with how many entries were left as the filesystem has them. The
        data is in place; only ENOSYS/EOPNOTSUPP count, any other errno is raised."""
    @property
    def elapsed(self) -> float:
        """Wall-clock seconds the call took."""

@final
class Progress:
    """How far a running `clone_or_copy` has got, as passed to its `progress` callback.

    `Progress(files_done=..., ...)` makes one by hand, e.g. to drive a progress
    callback in a test: every count by keyword, those not given 0."""

    def __new__(
        cls, *, files_done: int = 0, files_total: int = 0, bytes_done: int = 0, bytes_total: int = 0
    ) -> Progress: ...
    def __eq__(self, value: object, /) -> bool: ...
    __hash__: ClassVar[None]  # type: ignore[assignment]

    @property
    def files_done(self) -> int:
        """Regular files placed so far."""
    @property
    def files_total(self) -> int:
        """Regular files to place; 0 until the source has been walked."""
    @property
    def bytes_done(self) -> int:
        """Bytes placed so far; a copy adds them as it goes, in steps of up to 64 MiB."""
    @property
    def bytes_total(self) -> int:
        """Bytes of all regular files; 0 until the source has been walked."""

def clone_or_copy(
    src: _StrPath,
    dst: _StrPath,
    *,
    methods: str | Iterable[str] | None = None,
    dirs_exist_ok: bool = False,
    overwrite: bool = False,
    preserve_times: bool = True,
    threads: int | None = None,
    progress: Callable[[Progress], object] | None = None,
    ignore: Callable[[Any, list[Any]], Iterable[Any]] | None = None,
) -> Report:
    """Materialize `src` (a tree or a file) at `dst`.

    `methods` is the ordered preference among "reflink", "hardlink" and "copy"
    (`fastlink.MethodName`): one str, or any iterable of them such as
    `cfg.split(",")` (an unknown name is `ValueError`). None means the
    `FASTLINK_METHODS` environment variable when it is set (e.g.
    "reflink,copy"), else ("reflink", "copy"). The first method that works
    between the two filesystems is used for every file, but for one that cannot
    use it alone and, on XFS, one written moments ago whose clone would wait for
    writeback (both in `Report.fallbacks`); methods the pair cannot do are
    skipped and listed in `Report.skipped`. A new `dst` is built in a
    hidden staging directory beside it and renamed into place, so it appears
    complete or not at all. With `dirs_exist_ok=True` the call merges into an
    existing directory; `overwrite=True` then replaces existing files and
    symlinks by rename, never in place. `preserve_times=False` leaves times as
    created. `threads` (1 to 256) defaults to one per core (2 to 16).

    `progress` is called on the calling thread, with the GIL held, at most about
    20 times a second while the counts change, and once more at the end. An
    exception it raises stops the call, which rolls back and re-raises it; one
    raised by the final call propagates with the work complete.

    Raises `CrossDeviceError` or `ReflinkUnsupportedError` /
    `HardlinkUnsupportedError` when no allowed method is possible (nothing is
    left at `dst`), `ValueError` for bad arguments, and builtin `OSError`
    subclasses for real I/O errors.

    `ignore` is `shutil.copytree`'s: called once per source directory with its
    path and the names in it (str, or bytes when `src` is bytes), it returns
    the names to leave out; `shutil.ignore_patterns(...)` works. An exception
    it raises fails the call before anything is written, and is re-raised.
    A single small file is placed in the calling thread, with no staging: it
    is built without a name and linked in complete.
    """

def clone_files(
    src: _StrPath,
    dst: _StrPath,
    files: Iterable[_StrPath],
    *,
    methods: str | Iterable[str] | None = None,
    overwrite: bool = False,
    preserve_times: bool = True,
    threads: int | None = None,
    progress: Callable[[Progress], object] | None = None,
) -> Report:
    """Materialize the listed `files` of `src` at the same paths below `dst`.

    `files` are relative paths (a wheel's RECORD, conda's paths.json) of
    regular files or symlinks below `src`, plain names only (no "..", "."
    or leading "/": `ValueError`). The directories on the way are created
    with their source modes; `dst` may exist (it is merged into) or not.
    A listed directory is `IsADirectoryError`, a symlink on the way
    `NotADirectoryError`. Everything else is as for `clone_or_copy` on a
    tree: one probe per pair of filesystems, a parallel fill, all or
    nothing, the same report and errors.
    """

def probe(src: _StrPath, dst_dir: _StrPath) -> dict[str, bool]:
    """Which methods work between `src` and the directory `dst_dir` (cached per device pair).

    A `dst_dir` yet to be made (an installer probes before it makes the
    environment) is answered for its nearest existing ancestor, where a
    `clone_or_copy` making it probes; nothing is made. A `dst_dir` that is a
    file, or lies below one, is `NotADirectoryError`."""

@overload
def reclaim(dir: str | os.PathLike[str]) -> list[str]:
    """Remove what calls of fastlink that were killed (SIGKILL, or a SIGTERM
    the process handled itself) left below `dir`, recursively: staging
    entries, temp files of merges, probe files. Returns the paths removed
    (`bytes` when `dir` is `bytes`).

    An entry is removed only on proof, never by its name alone: its name
    carries a tag bound to the identities (st_dev, st_ino) of the directory
    it is in and of the call's anchor, and no call anchored there is running
    (the exclusive flock on the anchor is free; a running call, in this
    process or another, holds it shared). Look-alike names, and the entries
    of running calls, are left alone. Symlinks are never followed.
    """

@overload
def reclaim(dir: bytes | os.PathLike[bytes]) -> list[bytes]: ...

@final
class UnpackedWheel:
    """What `unpack_wheel` left in the cache."""

    @property
    def path(self) -> Path:
        """The entry: the wheel's tree as the archive has it. Shared by every
        install from it; never modify it."""
    @property
    def name(self) -> str:
        """The distribution name, from the wheel's file name."""
    @property
    def version(self) -> str:
        """The distribution version, from the wheel's file name."""
    @property
    def files(self) -> int:
        """The wheel's files, as unpacked into the entry."""
    @property
    def bytes(self) -> int:
        """The total size of those files."""
    @property
    def reused(self) -> bool:
        """The entry was there already (made by an earlier or a concurrent
        call); nothing was written."""
    @property
    def sha256(self) -> str:
        """The SHA-256 of the wheel file, in lowercase hex."""

def unpack_wheel(wheel: _StrPath, cache_dir: _StrPath) -> UnpackedWheel:
    """Unpack the `.whl` file `wheel` into `cache_dir`, once: the entry is
    `<cache_dir>/wheels-v1/<file name>/<first 32 hex digits of its SHA-256>/`.

    Members are written in parallel, each checked against RECORD (sha256 and
    size) as it is written; unsafe member names are refused before anything
    is written. The entry is built under a staging name and renamed in, so
    concurrent calls both succeed and share one entry. A corrupt, truncated
    or lying wheel raises `InvalidWheelError` naming the wheel and the member,
    and leaves the cache as it was.
    """

@final
class InstalledDistribution:
    """What installing one wheel did."""

    @property
    def wheel(self) -> Path:
        """The wheel as the caller named it: a `.whl` file or an unpacked tree."""
    @property
    def name(self) -> str:
        """The distribution's name, as its `.dist-info` directory spells it."""
    @property
    def version(self) -> str:
        """The distribution's version, as its `.dist-info` directory spells it."""
    @property
    def dist_info(self) -> Path:
        """The installed `.dist-info` directory."""
    @property
    def entry(self) -> Path:
        """The tree the files were placed from: the cache entry, or the tree given."""
    @property
    def unpacked(self) -> bool | None:
        """For a `.whl`: True when this call unpacked it into the cache, False
        when it was there already. None for a tree given as it is."""
    @property
    def placed(self) -> int:
        """Files placed unchanged from the entry by the engine (see `report`)."""
    @property
    def written(self) -> int:
        """Files written: launchers, rewritten scripts, INSTALLER, REQUESTED,
        direct_url.json, RECORD."""
    @property
    def report(self) -> Report:
        """The engine's report on the placed files: methods, skips, fallbacks."""
    @property
    def replaced(self) -> ReplacedDistribution | None:
        """The distribution this install replaced (`replace=True`), or None."""
    @property
    def elapsed(self) -> float:
        """Seconds the install took, the unpack not included."""

@final
class ReplacedDistribution:
    """What a replacing install removed of the distribution it replaced."""

    @property
    def name(self) -> str:
        """The replaced distribution's name."""
    @property
    def version(self) -> str:
        """The replaced distribution's version."""
    @property
    def dist_info(self) -> Path:
        """Its `.dist-info` directory, now gone."""
    @property
    def removed(self) -> int:
        """Files deleted: its RECORD's, and the bytecode of its `.py` files."""
    @property
    def left_alone(self) -> list[Path]:
        """Paths its RECORD lists that were left alone: outside the scheme's
        directories, or reached through a symlink."""

def _install_wheels(
    wheels: Iterable[_StrPath],
    dirs: Mapping[str, _StrPath],
    interpreter: _StrPath,
    cache_dir: _StrPath,
    *,
    python_version: tuple[int, int] | None = None,
    methods: str | Iterable[str] | None = None,
    threads: int | None = None,
    installer: str = "fastlink",
    requested: bool = False,
    direct_url: str | bool | None = None,
    replace: bool = False,
    progress: Callable[[Progress], object] | None = None,
) -> list[InstalledDistribution | OSError]:
    """The engine of `fastlink.install_wheels`, with the directories explicit:
    purelib, platlib, scripts, data, and `include` (pip's per-distribution
    headers directory below it) or `headers` (as given); `python_version`
    (X, Y) gives pip's versioned pip and easy_install launchers. One item per wheel:
    what it did, or the exception its install raised. Not part of the API."""
