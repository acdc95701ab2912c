#!/usr/bin/env python3
"""fastlink benchmark harness: fastlink against cp, shutil.copytree, uv and a raw-Rust floor.

Run as root (it makes and loop-mounts filesystems)::

    make bench                                                # deps + floor build + full run
    sudo .venv/bin/python benches/run_benchmarks.py           # the full run by hand
    sudo .venv/bin/python benches/run_benchmarks.py --smoke   # tiny trees, 1 round (CI)
    sudo .venv/bin/python benches/run_benchmarks.py --only per-file,uv,packages,seeding
    .venv/bin/python benches/run_benchmarks.py --report-only  # re-render BENCHMARKS.md + chart

The code is the fastlink_bench package next to this file (its __init__ maps it).
Everything happens in one fresh temporary directory, unmounted and removed in a
`finally` (also on Ctrl-C and SIGTERM):

- filesystems: sparse images loop-mounted as XFS (reflink=1), btrfs and ext4, and a tmpfs;
- the main comparison ("main"), one tree per call: workloads built on XFS (and copied to
  btrfs for the btrfs→btrfs path): the pinned 6-wheel corpus (corpus.py), synthetic
  site-packages-like trees of 1k/10k/100k files, one 4 GiB file of real (non-sparse)
  data, and a 1000-level deep tree; paths xfs→xfs and btrfs→btrfs (reflink), xfs→xfs
  (hardlink), and xfs→btrfs, xfs→tmpfs, xfs→ext4 (copy across devices); candidates
  interleaved per round (order rotated) on the same source tree: fastlink.clone_or_copy
  in-process, cp -a --reflink=auto (cp -al for hardlinks), shutil.copytree and the floor
  program (benches/floor, its own reported seconds); with a thread-count sweep on the
  corpus, the peak RSS of a fresh process cloning the 100k tree, and time per file;
- "per-file": single-file clone_or_copy calls against shutil.copy2 and os.link, into
  directories of 10 and 10,000 entries;
- "uv" and "packages": fastlink against `uv pip install --offline --no-deps`, both timed
  as whole processes, on the 6-wheel corpus and on jupyterlab's 91 wheels
  (packages-jupyterlab.txt);
- "seeding": benches/seeding.py's measure_seeding, when that file is there.

Before every timed run the previous destination is removed and `sync` is run; each
source is read once before its workload so it is in the page cache. Each candidate's
first-round output is verified (counts and bytes; fastlink's also entry by entry).
Medians are reported.

Outputs: benches/results/bench.json (every sample), BENCHMARKS.md at the repo root, and
benches/results/chart.png, copied to docs/benchmarks.png. A smoke run writes all of it
under benches/results/smoke/ instead and leaves BENCHMARKS.md and docs/ alone.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))  # fastlink_bench/ and corpus.py

from fastlink_bench.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
