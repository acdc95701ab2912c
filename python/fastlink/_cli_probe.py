"""`fastlink probe SRC DST`: what a `fastlink SRC DST` would use, asked
ahead: which methods work between the two filesystems, and the one the
preferred methods come to. Nothing is written (DST may be yet to be made).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from fastlink._cli_output import (
    EXIT_INTERRUPTED,
    EXIT_IO_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    Parser,
    fail,
    print_json,
    print_json_error,
)
from fastlink._fastlink import _resolve_methods, probe


def _parser() -> Parser:
    parser = Parser(
        prog="fastlink probe",
        description="Say which methods work from SRC to DST, and which one `fastlink SRC "
        "DST` would use with the preferred methods (--methods, else FASTLINK_METHODS, "
        "else reflink,copy). DST may be yet to be made: its nearest existing directory "
        "answers, as for the call. Nothing is written; the answer is remembered per "
        "pair of filesystems, as a call remembers it.",
    )
    parser.add_argument("src", metavar="SRC", help="the tree or file to clone")
    parser.add_argument("dst", metavar="DST", help="where it would go")
    parser.add_argument("--methods", metavar="LIST", help="comma-separated preference")
    parser.add_argument("--json", action="store_true", help="print the answer as JSON")
    return parser


def probe_main(argv: Sequence[str]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    json_paths = {"src": args.src, "dst": args.dst} if args.json else None
    given = None if args.methods is None else [m.strip() for m in args.methods.split(",")]
    try:
        preferred = _resolve_methods(given)
        works = probe(args.src, args.dst)
    except ValueError as err:
        if json_paths is not None:
            print_json_error(json_paths, EXIT_USAGE, err, message=str(err))
        parser.error(str(err))
    except OSError as err:
        return fail(err, EXIT_IO_ERROR, json_paths=json_paths)
    except KeyboardInterrupt:
        print("fastlink: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    would_use = next((method for method in preferred if works[method]), None)
    if args.json:
        answer = {"src": args.src, "dst": args.dst, "methods": preferred, "works": works}
        print_json({**answer, "would_use": would_use})
        return EXIT_OK
    for method, ok in works.items():
        print(f"{method:<9}{'works' if ok else 'not possible'}")
    methods = ",".join(preferred)
    if would_use is None:
        print(f"fastlink {args.src} {args.dst} would fail: none of {methods} works here")
    else:
        print(f"fastlink {args.src} {args.dst} would use {would_use} (methods {methods})")
    return EXIT_OK
