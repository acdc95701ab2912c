"""The `fastlink` command: clone or copy one tree, with a progress bar on a
terminal; `fastlink install WHEEL...` installs wheels (`_cli_install`);
`fastlink install WHEEL...` installs wheels into an environment, as pip does
(see `fastlink install --help`).

`fastlink reclaim DIR` removes what killed calls left below DIR.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from fastlink._cli_hints import explain
from fastlink._cli_install import install_main
from fastlink._cli_output import (
    EXIT_CROSS_DEVICE,
    EXIT_INTERRUPTED,
    EXIT_IO_ERROR,
    EXIT_OK,
    EXIT_UNSUPPORTED,
    EXIT_USAGE,
    PAST_TENSE,
    Parser,
    count,
    errno_name,
    error_line,
    exit_code_for,
    fail,
    fallback_note,
    human_bytes,
    print_json,
    print_json_error,
    progress_bar,
    threads_help,
)
from fastlink._cli_probe import probe_main
from fastlink._fastlink import (
    NOT_WRITTEN_BACK,
    Report,
    __version__,
    clone_or_copy,
    reclaim,
)

# typing is not imported at run time: `fastlink install` starts faster.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    from collections.abc import Callable
    from typing import Any, NoReturn

# Re-exported for the tests and for scripts that used them from here.
__all__ = ["errno_name", "error_line", "human_bytes", "main", "report_as_dict", "summary_line"]

_EPILOG = f"""\
The default methods are "reflink,copy", or FASTLINK_METHODS when set; --methods
overrides both. On XFS a file written in the last ~35 s is copied rather than
cloned under the default, since its clone would wait for the data's writeback
(FASTLINK_WRITEBACK_SECONDS sets that window; 0 turns it off).

`fastlink install WHEEL...` installs wheels into an environment, as pip does
(see `fastlink install --help`).

`fastlink probe SRC DST` says which methods work from SRC to DST and which
one `fastlink SRC DST` would use, writing nothing (see `fastlink probe --help`).

`fastlink reclaim DIR` removes, below DIR, what calls of fastlink that were
killed left behind (staging entries, temp files, probe files), and only what
it can prove was theirs (see `fastlink reclaim --help`). A source directory
named "install", "probe" or "reclaim" is spelled ./install, ./probe or ./reclaim.

exit codes:
  {EXIT_OK}    done
  {EXIT_IO_ERROR}    an I/O error (permission, no space, a special file, ...)
  {EXIT_USAGE}    usage: bad arguments or a bad FASTLINK_METHODS or FASTLINK_WRITEBACK_SECONDS
  {EXIT_CROSS_DEVICE}    cross-device: the allowed methods need one filesystem
  {EXIT_UNSUPPORTED}    unsupported: the filesystem cannot reflink (hardlink, hold a symlink)
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C)
  killed by SIGTERM (status 143 in a shell) after the call was rolled back
"""


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="fastlink",
        description="Clone SRC (a tree or a file) to DST with copy-on-write reflinks, "
        "falling back to a fast parallel copy.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("src", metavar="SRC", help="the tree or file to clone")
    parser.add_argument(
        "dst",
        metavar="DST",
        help="where to put it: a new path, an existing directory with --merge, "
        "or for a file SRC an existing directory to put it in (as cp does)",
    )
    parser.add_argument(
        "--methods",
        metavar="LIST",
        help='comma-separated preference among reflink, hardlink and copy (e.g. "reflink,copy")',
    )
    parser.add_argument(
        "--merge", action="store_true", help="merge into DST when it is an existing directory"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="with --merge, or for a SRC that is a file, replace existing files and "
        "symlinks (by rename, never in place)",
    )
    parser.add_argument(
        "--no-times", action="store_true", help="do not keep access and modification times"
    )
    parser.add_argument("--threads", type=int, metavar="N", help=threads_help())
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="PATTERN",
        help="leave out the entries whose name matches PATTERN (a glob, as "
        "shutil.ignore_patterns takes it, e.g. '*.pyc' or __pycache__); repeatable",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing but errors; no progress bar"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="say what is done, on stderr, through the logging module (logger "
        "'fastlink'), in place of the progress bar",
    )
    parser.add_argument("--version", action="version", version=f"fastlink {__version__}")
    return parser


def _reclaim_parser() -> argparse.ArgumentParser:
    return Parser(
        prog="fastlink reclaim",
        description="Remove, below DIR (recursively, never through a symlink), what calls "
        "of fastlink that were killed (SIGKILL; SIGTERM where the process had its own "
        "handler) left behind: staging entries, temp files of merges, probe files. "
        "Only entries proven to be theirs go: the name carries a tag bound to the "
        "identities of its directory and of the call's anchor directory, and no call "
        "anchored there is running (its lock is free). Look-alike names and the entries "
        "of running calls are left alone. Prints each path removed.",
    )


def _reclaim_main(argv: Sequence[str]) -> int:
    parser = _reclaim_parser()
    parser.add_argument("dir", metavar="DIR", help="the directory to clean up below")
    parser.add_argument("--json", action="store_true", help="print the removed paths as JSON")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    args = parser.parse_args(argv)
    try:
        removed = reclaim(args.dir)
    except OSError as err:
        return fail(err, EXIT_IO_ERROR, json_paths={"dir": args.dir} if args.json else None)
    except KeyboardInterrupt:
        print("fastlink: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if args.json:
        print_json({"dir": args.dir, "removed": removed})
    elif not args.quiet:
        for path in removed:
            print(path)
    return EXIT_OK


def _placed_as_cp_places(src: str, dst: str) -> str:
    """Where SRC goes: a file (not a tree) given an existing directory goes
    inside it, under its own name, as `cp afile dir/` puts it. The library
    never does that (a call names the path it makes); the command follows cp."""
    if os.path.isdir(dst) and os.path.exists(src) and not os.path.isdir(src):
        return os.path.join(dst, os.path.basename(os.path.normpath(src)))
    return dst


def _ignore_patterns(patterns: list[str]) -> Callable[[Any, list[Any]], set[Any]] | None:
    """--exclude as `ignore=`: shutil's own, so a pattern means what it means
    to shutil.copytree (fnmatch on each name, in every directory)."""
    if not patterns:
        return None
    import shutil

    return shutil.ignore_patterns(*patterns)


def _logger(verbose: bool) -> logging.Logger | None:
    """With -v, the logger 'fastlink' writing "fastlink: ..." lines to stderr."""
    if not verbose:
        return None
    import logging

    logging.basicConfig(level=logging.INFO, format="fastlink: %(message)s", stream=sys.stderr)
    return logging.getLogger("fastlink")


def _log_report(log: logging.Logger, report: Report) -> None:
    by_method = {"reflink": report.reflinked, "hardlink": report.hardlinked, "copy": report.copied}
    placed = ", ".join(f"{n:,} {PAST_TENSE[m]}" for m, n in by_method.items() if n)
    log.info("method %s: %s", report.method, placed or "no files")
    for method, _errno, message in report.skipped:
        log.info("skipped %s: %s", method, message)
    for method, errno, files, message in report.fallbacks:
        if errno == NOT_WRITTEN_BACK:
            log.info("%s", fallback_note(errno, files, message))
        else:
            log.info("fell back from %s for %s: %s", method, count(files, "file"), message)
    for kind, _errno, entries, message in report.unsupported_metadata:
        log.info("%s not kept on %s entries: %s", kind, f"{entries:,}", message)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["reclaim"]:
        return _reclaim_main(argv[1:])
    if argv[:1] == ["install"]:
        return install_main(argv[1:])
    if argv[:1] == ["probe"]:
        return probe_main(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    json_paths = {"src": args.src, "dst": args.dst} if args.json else None

    def usage_error(message: str, err: BaseException | None = None) -> NoReturn:
        if json_paths is not None:
            print_json_error(json_paths, EXIT_USAGE, err, message=message)
        parser.error(message)

    if not args.src:
        usage_error("SRC is empty: name the tree or file to clone")
    if not args.dst:
        usage_error("DST is empty: name the path to make (or, with --merge, a directory)")
    if args.overwrite and not args.merge and os.path.isdir(args.src):
        usage_error("--overwrite only applies to --merge, or to a SRC that is a file")
    dst = _placed_as_cp_places(args.src, args.dst)
    if json_paths is not None:
        json_paths["dst"] = dst
    methods = None if args.methods is None else [m.strip() for m in args.methods.split(",")]
    ignore = _ignore_patterns(args.exclude)
    show_bar = not args.quiet and not args.verbose and sys.stderr.isatty()
    log = _logger(args.verbose)
    if log is not None:
        if dst != args.dst:
            log.info("%s is a directory: placing %s inside it, as %s", args.dst, args.src, dst)
        log.info(
            "%s %s -> %s (methods %s%s)",
            "merging" if args.merge else "placing",
            args.src,
            dst,
            args.methods or os.environ.get("FASTLINK_METHODS") or "reflink,copy",
            f"; excluding {', '.join(args.exclude)}" if args.exclude else "",
        )

    report: Report | None = None
    try:
        with progress_bar(show_bar, sys.stderr) as on_progress:
            report = clone_or_copy(
                args.src,
                dst,
                methods=methods,  # names are checked by the core: ValueError
                dirs_exist_ok=args.merge,
                overwrite=args.overwrite,
                preserve_times=not args.no_times,
                threads=args.threads,
                progress=on_progress,
                ignore=ignore,
            )
    except ValueError as err:
        usage_error(str(err), err)
    except OSError as err:
        shown, hint = explain(err, args.src, dst, merge=args.merge, overwrite=args.overwrite)
        return fail(shown, exit_code_for(err), hint=hint, json_paths=json_paths)
    except KeyboardInterrupt as err:
        # A Ctrl-C that lands once the final renames have begun is raised
        # just after the call returns: a new DST then exists, complete.
        completed = report is not None or (not args.merge and os.path.lexists(dst))
        if completed:
            message = f"interrupted after {dst} was complete"
        else:
            message = "interrupted; the call was rolled back"
        if json_paths is not None:
            print_json_error(json_paths, EXIT_INTERRUPTED, err, message=message)
        print(f"fastlink: {message}", file=sys.stderr)
        return EXIT_INTERRUPTED

    if log is not None:
        _log_report(log, report)
    try:
        if args.json:
            print_json(report_as_dict(report, args.src, dst))
        elif not args.quiet:
            print(summary_line(report))
        sys.stdout.flush()  # a pipe is block-buffered: fail here, not at exit
    except BrokenPipeError as err:
        # The reader is gone (e.g. `fastlink ... | true`): the tree is in place
        # but the report is lost. Point stdout at /dev/null so that the final
        # flush at exit does not fail a second time.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        print(f"fastlink: error: cannot write the report: {error_line(err)}", file=sys.stderr)
        return EXIT_IO_ERROR
    return EXIT_OK


def summary_line(report: Report) -> str:
    """E.g. "copied 3 files, 2 dirs, 1 symlink (1.2 MB) in 0.01 s; reflink not
    possible: source and destination are on different filesystems or mounts (EXDEV);
    copied instead"."""
    method_verb = PAST_TENSE[report.method]
    parts = [
        count(report.files, "file"),
        *([count(report.dirs, "dir")] if report.dirs else []),
        *([count(report.symlinks, "symlink")] if report.symlinks else []),
    ]
    size = human_bytes(report.bytes)
    line = f"{method_verb} {', '.join(parts)} ({size}) in {report.elapsed:.2f} s"
    # A file may still take a later method (e.g. a setuid file is never hard-linked).
    by_method = {"reflink": report.reflinked, "hardlink": report.hardlinked, "copy": report.copied}
    others = [f"{n:,} {PAST_TENSE[m]}" for m, n in by_method.items() if n and m != report.method]
    if others:
        line += f" ({', '.join(others)})"
    for _method, _errno, message in report.skipped:
        line += f"; {message}; {method_verb} instead"
    for _method, errno, files, message in report.fallbacks:
        line += f"; {fallback_note(errno, files, message)}"
    for _kind, _errno, entries, message in report.unsupported_metadata:
        line += f"; {message}: {entries:,} left as the filesystem has them"
    return line


def report_as_dict(report: Report, src: str, dst: str) -> dict[str, Any]:
    """What --json prints: the paths as given, then `Report.to_dict()`."""
    return {"src": src, "dst": dst, **report.to_dict()}
