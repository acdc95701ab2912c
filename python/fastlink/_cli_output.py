"""What every `fastlink` command shares: exit codes, the parser's one-line
errors, error lines, sizes and counts, and the progress bar.

The bar needs `rich` (the `fastlink-fs[cli]` extra); without it, or when stderr
is not a terminal, a command prints no bar.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from fastlink._fastlink import (
    NOT_WRITTEN_BACK,
    CrossDeviceError,
    HardlinkUnsupportedError,
    Progress,
    ReflinkUnsupportedError,
    SymlinkUnsupportedError,
    _default_threads,
    _errno_name,
    _max_threads,
)

# typing is not imported at run time: `fastlink install` starts faster.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn, TextIO

# Exit codes: one per kind of failure, so scripts can tell them apart.
EXIT_OK = 0
EXIT_IO_ERROR = 1
EXIT_USAGE = 2
EXIT_CROSS_DEVICE = 3
EXIT_UNSUPPORTED = 4
EXIT_INTERRUPTED = 130

# What the bar's files field says while the source is still being walked.
SCANNING = "scanning the source..."

PAST_TENSE = {"reflink": "cloned", "hardlink": "hard-linked", "copy": "copied"}


class Parser(argparse.ArgumentParser):
    def __init__(self, *, formatter_class: Any = argparse.HelpFormatter, **kwargs: Any) -> None:
        # The width is given: without it, each formatter (made for every
        # add_argument) asks shutil.get_terminal_size, and importing shutil
        # (with bz2, lzma and zlib) is 4 ms of every command's start.
        sized = functools.partial(formatter_class, width=terminal_columns() - 2)
        super().__init__(formatter_class=sized, **kwargs)

    def error(self, message: str) -> NoReturn:
        # One line, like every other error, instead of argparse's usage block.
        # The pointer names the (sub)command whose --help explains it.
        self.exit(EXIT_USAGE, f"fastlink: error: {message} (see {self.prog} --help)\n")


def terminal_columns() -> int:
    """The terminal's width as shutil.get_terminal_size tells it: $COLUMNS,
    else stdout's terminal, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def threads_help() -> str:
    """--threads' help: the range and the default, as the core has them."""
    return (
        f"worker threads, 1 to {_max_threads} (default: one per core, at least 2 "
        f"and at most 16: {_default_threads()} here)"
    )


def exit_code_for(err: OSError) -> int:
    """The exit code of a command that failed with `err`."""
    if isinstance(err, CrossDeviceError):
        return EXIT_CROSS_DEVICE
    unsupported = (ReflinkUnsupportedError, HardlinkUnsupportedError, SymlinkUnsupportedError)
    if isinstance(err, unsupported):
        return EXIT_UNSUPPORTED
    return EXIT_IO_ERROR


def fail(
    err: OSError, code: int, *, hint: str | None = None, json_paths: dict[str, Any] | None = None
) -> int:
    """Report a failed command: one line on stderr, `error_line` and then the
    hint; with --json (`json_paths`: the paths the command was given) also
    the JSON error object on stdout. Returns `code`."""
    if json_paths is not None:
        print_json_error(json_paths, code, err, hint=hint)
    line = error_line(err)
    print(f"fastlink: error: {line}{f'; {hint}' if hint else ''}", file=sys.stderr)
    return code


def print_json_error(
    json_paths: dict[str, Any],
    code: int,
    err: BaseException | None,
    *,
    message: str | None = None,
    hint: str | None = None,
) -> None:
    """What --json prints on stdout when the command fails: the paths it was
    given, its exit code, the exception's type, errno (and its name, as in a
    report's entries), message and paths, and the hint. `err` is None for a
    usage error the command found itself (`message` says what)."""
    code_of = getattr(err, "errno", None)
    if message is None and isinstance(err, OSError):
        message = err.strerror or str(err)
    elif message is None:
        message = str(err)
    fields = {
        **json_paths,
        "exit_code": code,
        "exception": None if err is None else type(err).__name__,
        "errno": code_of,
        "error": None if code_of is None else errno_name(code_of),
        "message": message,
        "filename": _path_text(getattr(err, "filename", None)),
        "filename2": _path_text(getattr(err, "filename2", None)),
        "hint": hint,
    }
    print_json(fields)


def print_json(value: object) -> None:
    """What `--json` prints. (json is imported here, where it is needed: a
    run without `--json` never loads it.)"""
    import json

    print(json.dumps(value, indent=2), flush=True)


def _path_text(path: Any) -> str | None:
    return None if path is None else os.fsdecode(path)


def error_line(err: OSError) -> str:
    """One line for an OSError: what went wrong, then the path(s) involved."""
    what = err.strerror or str(err)
    if err.errno and not what.endswith(")"):  # fastlink's own messages end "(EXDEV)"
        what = f"{what} ({errno_name(err.errno)})"
    paths = [os.fsdecode(p) for p in (err.filename, err.filename2) if p is not None]
    return f"{what}: {' -> '.join(paths)}" if paths else what


def errno_name(code: int) -> str:
    """E.g. "EXDEV", as fastlink's own messages name it (one table, in the
    extension); "errno N" for an errno it does not name."""
    return _errno_name(code)


def human_bytes(n: int) -> str:
    """Decimal units, as `rich` and `du --si` show them."""
    size = float(n)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{n:,} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def fallback_note(errno: int, files: int, message: str) -> str:
    """How a summary says that `files` took a later method: for files a
    clone would have waited for (written moments ago, on XFS), a choice made
    for speed, not a failure, and how to clone them anyway."""
    if errno == NOT_WRITTEN_BACK:
        return (
            f"{count(files, 'file')} written moments ago not cloned: a clone would wait "
            "for their writeback (--methods reflink clones anyway)"
        )
    return f"{message}: {count(files, 'file')} fell back"


@contextmanager
def progress_bar(enabled: bool, stream: TextIO) -> Iterator[Callable[[Progress], None] | None]:
    """A progress callback that draws a rich bar on `stream`, or None when
    the bar is off or rich is not installed."""
    if not enabled:
        yield None
        return
    try:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import (
            Progress as RichProgress,
        )
    except ImportError:
        yield None
        return

    bar = RichProgress(
        TextColumn("[bold]fastlink[/]"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[files]}"),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(file=stream),
    )
    # The bar, rate and ETA run on bytes; the file counts ride along as a
    # field. The totals are 0 until the source has been walked: until then
    # the field says so, rather than "0/0 files".
    task = bar.add_task("fastlink", total=None, files=SCANNING)
    last = Progress()

    def files_field(progress: Progress) -> str:
        return f"{progress.files_done:,}/{progress.files_total:,} files"

    def on_progress(progress: Progress) -> None:
        nonlocal last
        last = progress
        walked = progress.files_total or progress.bytes_total or progress.files_done
        bar.update(
            task,
            total=progress.bytes_total or None,
            completed=progress.bytes_done,
            files=files_field(progress) if walked else SCANNING,
        )

    with bar:
        yield on_progress
        # The call returned: the bar ends full even when there were no bytes
        # to measure (an empty tree, or only empty files), with the counts.
        total = bar.tasks[0].total or 1
        bar.update(task, total=total, completed=total, files=files_field(last))
