"""BENCHMARKS.md and its chart, from pytest-benchmark's --benchmark-json output alone.

    python benches/report.py benches/results/bench.json            # the published ones
    python benches/report.py RUN.json --out /tmp/b.md --chart /tmp/b.png

Every benchmark in the JSON is one round of one candidate (conftest.py interleaves
them); its extra_info says which: part, workload, pair, candidate, round. A part's
tables are medians over the rounds, and ratios fastlink ÷ peer within a group.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO_DIR = Path(__file__).resolve().parent.parent
GROUP_KEYS = ("part", "workload", "pair", "entries")
LABELS = {
    "cp": "cp -a",
    "copy2": "shutil.copy2",
    "link": "os.link",
    "loop": "Python loop",
    "fastlink-no-times": "fastlink preserve_times=False",
}
PAIR_LABELS = {
    "xfs-reflink": "xfs → xfs reflink",
    "btrfs-reflink": "btrfs → btrfs reflink",
    "xfs-hardlink": "xfs → xfs hardlink",
    "xfs-btrfs-copy": "xfs → btrfs copy",
    "xfs-tmpfs-copy": "xfs → tmpfs copy",
    "xfs-ext4-copy": "xfs → ext4 copy",
}
Medians = dict[tuple[Any, ...], dict[str, float]]


def record(extra_info: dict[str, Any], median: float) -> dict[str, Any]:
    """One round: its extra_info, with the seconds it counts (its own, when it reports
    them, as the floor does) and per call where it made several."""
    out = dict(extra_info)
    out["seconds"] = out.get("seconds", median) / out.get("calls", 1)
    return out


def records(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [record(b["extra_info"], b["stats"]["median"]) for b in data["benchmarks"]]


def medians(recs: list[dict[str, Any]]) -> Medians:
    """(part, workload, pair, entries) -> candidate -> median seconds over the rounds."""
    rounds: dict[tuple[Any, ...], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in recs:
        rounds[tuple(r.get(k) for k in GROUP_KEYS)][r["candidate"]].append(r["seconds"])
    return {g: {c: statistics.median(s) for c, s in by.items()} for g, by in rounds.items()}


def label(candidate: str) -> str:
    return LABELS.get(candidate, candidate)


def secs(t: float | None) -> str:
    if t is None:
        return "-"
    if t < 1e-3:
        return f"{t * 1e6:.1f} µs"
    return f"{t * 1e3:.1f} ms" if t < 1 else f"{t:.3f} s"


def ratio(a: float | None, b: float | None, bold_below: float = 1.0) -> str:
    if a is None or not b:
        return "-"
    r = a / b
    return f"**{r:.2f}**" if r < bold_below else f"{r:.2f}"


def ratio_lines(recs: list[dict[str, Any]]) -> list[str]:
    """One line per group: fastlink's median and its ratio to every other candidate."""
    lines = []
    for group, by in medians(recs).items():
        ref = "fastlink" if "fastlink" in by else next(iter(by))
        name = " ".join(str(g) for g in group if g is not None)
        others = "  ".join(f"÷ {label(c)} {by[ref] / t:.2f}" for c, t in by.items() if c != ref)
        lines.append(f"{name}: {label(ref)} {secs(by[ref])}  {others}")
    return lines
