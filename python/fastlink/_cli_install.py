"""`fastlink install WHEEL...`: install wheels into an environment, as pip
does, each `.whl` unpacked into fastlink's cache once and placed from there.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

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
from fastlink._environment import default_python, user_cache_dir
from fastlink._fastlink import DistributionExistsError, InstalledDistribution, __version__
from fastlink._install import install_results

# typing is not imported at run time: `fastlink install` starts faster.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

_EPILOG = f"""\
Each WHEEL is a .whl file, unpacked into the cache first (once: a later install
finds it there), or a directory holding a wheel unpacked already. As pip does
for the wheels its command line names, each gets REQUESTED, and a .whl gets
direct_url.json (its file: URL and SHA-256). Each
distribution is installed all or nothing; when one fails, the others are
installed all the same and the command exits non-zero.

The environment is --python's, else the active virtual environment's
($VIRTUAL_ENV). The default methods are "reflink,copy", or FASTLINK_METHODS when
set; --methods overrides both. The cache is --cache-dir, else
$FASTLINK_CACHE_DIR, else the user cache directory ($XDG_CACHE_HOME/fastlink or
~/.cache/fastlink). Ctrl-C rolls back every wheel not yet complete.

exit codes:
  {EXIT_OK}    every wheel installed
  {EXIT_IO_ERROR}    a wheel missing or not installed: invalid, installed already, an I/O error
  {EXIT_USAGE}    usage: bad arguments, two wheels of one distribution
  {EXIT_CROSS_DEVICE}    cross-device: the allowed methods need one filesystem
  {EXIT_UNSUPPORTED}    unsupported: the filesystem cannot reflink or hard-link
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C)
"""


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="fastlink install",
        description="Install wheels into a Python environment as pip does (RECORD, "
        "scripts, .data), placing every unchanged file by reflink, hard link or copy.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("wheels", metavar="WHEEL", nargs="+", help="a .whl file or unpacked wheel")
    parser.add_argument(
        "--python",
        metavar="PYTHON",
        help="the environment's interpreter (default: $VIRTUAL_ENV/bin/python)",
    )
    parser.add_argument("--cache-dir", metavar="DIR", help="where wheels are unpacked")
    parser.add_argument(
        "--methods",
        metavar="LIST",
        help='comma-separated preference among reflink, hardlink and copy (e.g. "reflink,copy")',
    )
    parser.add_argument("--threads", type=int, metavar="N", help=threads_help())
    parser.add_argument(
        "--installer", default="fastlink", help="what INSTALLER says (default: fastlink)"
    )
    parser.add_argument(
        "--replace",
        action="store_true",
        help="replace an installed distribution of the same name (uninstalled by its RECORD; "
        "put back if the install fails)",
    )
    parser.add_argument("--json", action="store_true", help="print what was done as JSON")
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing but errors; no progress bar"
    )
    parser.add_argument("--version", action="version", version=f"fastlink {__version__}")
    return parser


def install_main(argv: Sequence[str]) -> int:
    """`fastlink install ...`; the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    methods = None if args.methods is None else [m.strip() for m in args.methods.split(",")]
    python = args.python
    # With --json, a failure of the whole command prints the tree command's
    # error object on stdout (print_json_error), the paths it was given first.
    json_paths = (
        {"python": python, "cache_dir": args.cache_dir, "wheels": args.wheels}
        if args.json
        else None
    )

    def usage_error(message: str, err: BaseException | None = None) -> NoReturn:
        if json_paths is not None:
            print_json_error(json_paths, EXIT_USAGE, err, message=message)
        parser.error(message)

    if python is None:
        # Not the Python fastlink itself runs in (a pipx venv, say): a
        # command line names its target, or an active virtual environment.
        if not os.environ.get("VIRTUAL_ENV"):
            usage_error("no environment to install into: pass --python, or activate a venv")
        python = default_python()
    cache_dir = user_cache_dir() if args.cache_dir is None else args.cache_dir
    started = time.perf_counter()
    try:
        with progress_bar(not args.quiet and sys.stderr.isatty(), sys.stderr) as on_progress:
            results = install_results(
                args.wheels,
                python=python,
                cache_dir=cache_dir,
                methods=methods,
                threads=args.threads,
                installer=args.installer,
                # As pip does for what its command line names: REQUESTED,
                # and a .whl's direct_url.json (its file: URL and SHA-256).
                requested=True,
                direct_url=True,
                replace=args.replace,
                progress=on_progress,
            )
    except ValueError as err:
        usage_error(str(err), err)
    except OSError as err:
        return fail(err, exit_code_for(err), json_paths=json_paths)
    except KeyboardInterrupt as interrupt:
        done = getattr(interrupt, "installed", [])
        names = " ".join(f"{d.name}-{d.version}" for d in done) or "none"
        message = (
            f"interrupted; installed before the interrupt: {names}; the others were rolled back"
        )
        if json_paths is not None:
            print_json_error(json_paths, EXIT_INTERRUPTED, interrupt, message=message)
        print(f"fastlink: {message}", file=sys.stderr)
        return EXIT_INTERRUPTED
    elapsed = time.perf_counter() - started

    installed = [r for r in results if isinstance(r, InstalledDistribution)]
    failed = [(w, r) for w, r in zip(args.wheels, results) if isinstance(r, OSError)]
    for wheel, failure in failed:
        hint = " (--replace replaces it)" if isinstance(failure, DistributionExistsError) else ""
        print(f"fastlink: error: {wheel}: {error_line(failure)}{hint}", file=sys.stderr)
    if args.json:
        print_json(_as_dict(python, cache_dir, results, args.wheels, elapsed))
    elif not args.quiet:
        if installed:
            print(summary_line(installed, python, cache_dir, elapsed))
        if failed:
            print(f"{count(len(failed), 'wheel')} not installed (see the errors above)")
    return exit_code_for(failed[0][1]) if failed else EXIT_OK


def summary_line(
    installed: Sequence[InstalledDistribution], python: str, cache_dir: str, elapsed: float
) -> str:
    """E.g. "installed 3 distributions for venv/bin/python in 0.12 s: 1,200 cloned,
    4 copied (12.0 MB), 9 written; 2 wheels unpacked into /root/.cache/fastlink"."""
    by_method = {"reflink": 0, "hardlink": 0, "copy": 0}
    placed_bytes = written = unpacked = replaced = 0
    notes: dict[str, None] = {}  # ordered, without repeats
    fell_back: dict[tuple[int, str], int] = {}  # files per (errno, message), in order
    for dist in installed:
        report = dist.report
        by_method["reflink"] += report.reflinked
        by_method["hardlink"] += report.hardlinked
        by_method["copy"] += report.copied
        placed_bytes += report.bytes
        written += dist.written
        unpacked += bool(dist.unpacked)
        replaced += dist.replaced is not None
        for _method, _errno, message in report.skipped:
            notes[message] = None
        for _method, errno, files, message in report.fallbacks:
            fell_back[errno, message] = fell_back.get((errno, message), 0) + files
    placed = [f"{n:,} {PAST_TENSE[m]}" for m, n in by_method.items() if n] or ["0 files placed"]
    line = (
        f"installed {count(len(installed), 'distribution')} for {python} in {elapsed:.2f} s: "
        f"{', '.join(placed)} ({human_bytes(placed_bytes)}), {written:,} written"
    )
    if replaced:
        line += f"; {count(replaced, 'distribution')} replaced"
    if unpacked:
        line += f"; {count(unpacked, 'wheel')} unpacked into {cache_dir}"
    for note in notes:
        line += f"; {note}"
    for (errno, message), files in fell_back.items():
        line += f"; {fallback_note(errno, files, message)}"
    return line


def _as_dict(
    python: str,
    cache_dir: str,
    results: Sequence[InstalledDistribution | OSError],
    wheels: Sequence[str],
    elapsed: float,
) -> dict[str, Any]:
    installed: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for wheel, result in zip(wheels, results):
        if isinstance(result, OSError):
            failed.append(
                {
                    "wheel": wheel,
                    "errno": result.errno,
                    "error": errno_name(result.errno or 0),
                    "exception": type(result).__name__,
                    "message": result.strerror or str(result),
                    "filename": _fs(result.filename),
                    "filename2": _fs(result.filename2),
                }
            )
            continue
        report = result.report
        as_dict = report.to_dict()
        installed.append(
            {
                "wheel": wheel,
                "name": result.name,
                "version": result.version,
                "dist_info": os.fsdecode(result.dist_info),
                "entry": os.path.abspath(result.entry),
                "unpacked": result.unpacked,
                "placed": result.placed,
                "written": result.written,
                "method": report.method,
                "reflinked": report.reflinked,
                "hardlinked": report.hardlinked,
                "copied": report.copied,
                "bytes": report.bytes,
                # As `fastlink --json` gives them: one serialization.
                "skipped": as_dict["skipped"],
                "fallbacks": as_dict["fallbacks"],
                "replaced": None
                if result.replaced is None
                else {
                    "name": result.replaced.name,
                    "version": result.replaced.version,
                    "removed": result.replaced.removed,
                    "left_alone": [os.fsdecode(p) for p in result.replaced.left_alone],
                },
                "elapsed": result.elapsed,
            }
        )
    return {
        "python": os.path.abspath(python),
        "cache_dir": os.path.abspath(cache_dir),
        "installed": installed,
        "failed": failed,
        "elapsed": elapsed,
    }


def _fs(name: object) -> str | None:
    if name is None:
        return None
    return os.fsdecode(name) if isinstance(name, (str, bytes)) else str(name)
