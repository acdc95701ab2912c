"""The command line: parse the flags, check for root and the mkfs tools, run the
Harness with its mounts undone on any exit, and write bench.json and the report."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import corpus  # benches/corpus.py

from .config import CANDIDATES, FS_NAMES, PATH_BY_KEY, RESULTS_DIR, SMOKE_RESULTS_DIR
from .harness import Harness
from .report import write_outputs
from .sections import ONLY_CHOICES
from .system import bench_requirements, log, parse_size

DESCRIPTION = "fastlink benchmark harness: fastlink against cp, shutil.copytree, uv and a floor."


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=DESCRIPTION)
    ap.add_argument("--smoke", action="store_true", help="tiny trees, 1 round, no uv download")
    ap.add_argument("--report-only", action="store_true", help="re-render from bench.json")
    ap.add_argument("--out-dir", type=Path, help="bench.json + chart.png (default benches/results)")
    ap.add_argument("--markdown", type=Path, help="where to write BENCHMARKS.md")
    ap.add_argument("--rounds", type=int, help="rounds of the small workloads (default 5)")
    ap.add_argument(
        "--rounds-large", type=int, help="rounds of the 100k tree (default 1) and 4 GiB file (2)"
    )
    ap.add_argument("--thread-rounds", type=int, help="rounds of the thread sweep (default 3)")
    ap.add_argument("--threads-list", default="1,2,4,8,16")
    ap.add_argument(
        "--only",
        help=f"comma list of the parts to run (default all): {','.join(ONLY_CHOICES)}",
    )
    ap.add_argument("--workloads", help="comma list of the main comparison's workload keys")
    ap.add_argument("--paths", help=f"comma list of: {','.join(PATH_BY_KEY)}")
    ap.add_argument("--candidates", help=f"comma list of: {','.join(CANDIDATES)}")
    ap.add_argument(
        "--install-rounds", type=int, default=7, help="rounds of uv and packages (default 7)"
    )
    ap.add_argument(
        "--install-workers", type=int, default=4, help="fastlink's install threads (default 4)"
    )
    ap.add_argument(
        "--per-file-calls", type=int, default=300, help="calls per per-file round (default 300)"
    )
    ap.add_argument("--per-file-rounds", type=int, default=7, help="(default 7)")
    ap.add_argument("--seeding-rounds", type=int, default=7, help="(default 7)")
    ap.add_argument("--no-floor", action="store_true", help="measure without the floor program")
    ap.add_argument("--no-uv", action="store_true", help="measure without uv")
    ap.add_argument("--skip-threads", action="store_true")
    ap.add_argument("--skip-rss", action="store_true")
    ap.add_argument("--workdir", help="where the temp dir with images goes (default $TMPDIR)")
    ap.add_argument(
        "--image-size",
        action="append",
        metavar="FS=SIZE",
        help="override an image/tmpfs size, e.g. xfs=20G (repeatable)",
    )
    ap.add_argument("--cache-dir", type=Path, default=corpus.DEFAULT_CACHE_DIR)
    ap.add_argument("--print-requirements", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.thread_rounds = args.thread_rounds or (1 if args.smoke else 3)
    if args.smoke and args.threads_list == "1,2,4,8,16":
        args.threads_list = "1,4"
    sizes = {}
    for item in args.image_size or []:
        fs, _, size = item.partition("=")
        if fs not in FS_NAMES:
            ap.error(f"--image-size: unknown filesystem {fs!r}")
        sizes[fs] = parse_size(size)
    args.image_size = sizes
    if args.only:
        bad = set(args.only.split(",")) - set(ONLY_CHOICES)
        if bad:
            ap.error(f"--only: unknown part(s): {', '.join(sorted(bad))}")
    if args.paths:
        bad = set(args.paths.split(",")) - set(PATH_BY_KEY)
        if bad:
            ap.error(f"unknown path(s): {', '.join(sorted(bad))}")
    if args.out_dir is None:
        args.out_dir = SMOKE_RESULTS_DIR if args.smoke else RESULTS_DIR
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.print_requirements:
        print("\n".join(bench_requirements()))
        return 0
    json_path = args.out_dir / "bench.json"
    if args.report_only:
        data = json.loads(json_path.read_text())
        write_outputs(data, args.out_dir, args.markdown)
        return 0
    if os.geteuid() != 0:
        print("run_benchmarks.py must run as root (it loop-mounts filesystems)", file=sys.stderr)
        return 2
    missing = [
        t for t in ("mkfs.xfs", "mkfs.btrfs", "mkfs.ext4", "mount", "cp") if not shutil.which(t)
    ]
    if missing:
        print(f"missing tools: {', '.join(missing)}", file=sys.stderr)
        return 2
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))  # copytree on the deep tree

    def on_signal(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)  # unwinds through the finally below

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    h = Harness(args)
    aborted: str | None = None
    try:
        h.run()
    except BaseException as e:
        aborted = f"{type(e).__name__}: {e}"
        raise
    finally:
        try:
            h.close()
        finally:
            data = h.result(aborted)
            args.out_dir.mkdir(parents=True, exist_ok=True)
            target = json_path if not aborted else args.out_dir / "bench.aborted.json"
            target.write_text(json.dumps(data, indent=1, default=str) + "\n")
            log(f"wrote {target}")
    write_outputs(data, args.out_dir, args.markdown)
    log(f"done in {data['wall_s'] / 60:.1f} min; {len(data['problems'])} problem(s)")
    return 1 if data["problems"] else 0
