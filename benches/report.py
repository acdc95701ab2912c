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
import os
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from fs_pairs import PAIRS

REPO_DIR = Path(__file__).resolve().parent.parent
GROUP_KEYS = ("part", "workload", "pair", "entries")
LABELS = {
    "cp": "cp -a",
    "copy2": "shutil.copy2",
    "link": "os.link",
    "loop": "Python loop",
    "fastlink-no-times": "fastlink preserve_times=False",
    "fresh-reflink": "fresh, reflink only",
    "synced-reflink": "synced, reflink only",
}
PAIR_LABELS = {key: pair.label for key, pair in PAIRS.items()}
PEERS = ("cp", "copytree", "floor")
SECTIONS = "header headline losses corpus copytree all_trees fresh per_file file_lists threads"
SECTIONS += " installs"
SECTIONS += " wheel_installs"
SECTIONS += " seeding peak_rss method"
HEADLINE = {
    "per-file": ("in-process", None),
    "per-file-copy2": ("in-process", "copy2"),
    "trees": ("in-process", "cp"),
    "installs": ("whole processes", "uv"),
    "install-warm": ("whole processes", "uv"),
    "install-cold": ("whole processes", "uv"),
    "seeding": ("whole processes", "app-data copy"),
}
HL = {  # the headline's workloads
    "corpus": "6-wheel corpus",
    "packages": "91 packages",
    "old image": "app-data built",
    "fresh image": "app-data emptied",
}
SEEDING = {  # the seeding cases (workloads)
    "old image": "app-data built before (old image)",
    "fresh image": "app-data emptied before each round (freshly built image)",
}
NO_TIMES = "fastlink-no-times"
NOT_PEERS = ("fastlink", "floor", NO_TIMES)  # the floor is a bound; NO_TIMES is fastlink
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


def vs(by: dict[str, float], peer: str) -> list[str]:
    """fastlink's median, the peer's, and their ratio, as table cells."""
    t = by.get(peer)
    return [secs(by["fastlink"]), f"{label(peer)} {secs(t)}", ratio(by["fastlink"], t)]


def ratio_lines(recs: list[dict[str, Any]]) -> list[str]:
    """One line per group: fastlink's median and its ratio to every other candidate (peak
    RSS in MiB for the rss part)."""
    lines = []
    rss = {
        (r.get("workload"), r.get("pair"), r["candidate"]): r["maxrss_kib"]
        for r in recs
        if "maxrss_kib" in r
    }
    for group, by in medians(recs).items():
        name = " ".join(str(g) for g in group if g is not None)
        if group[0] == "rss":
            mib = [f"{label(c)} {rss[group[1], group[2], c] / 1024:.1f} MiB" for c in by]
            lines.append(f"{name}: peak RSS {', '.join(mib)}")
            continue
        ref = "fastlink" if "fastlink" in by else next(iter(by))
        others = "  ".join(f"÷ {label(c)} {by[ref] / t:.2f}" for c, t in by.items() if c != ref)
        lines.append(f"{name}: {label(ref)} {secs(by[ref])}  {others}")
    return lines


class Report:
    """The Markdown of BENCHMARKS.md, section by section, from one run's JSON."""

    def __init__(self, data: dict[str, Any], source: str, chart: str) -> None:
        self.data, self.source, self.chart = data, source, chart
        self.recs = records(data)
        self.med = medians(self.recs)
        self.info = {(r["part"], r["workload"]): r for r in self.recs if "title" in r}
        self.rss = {
            (r.get("workload"), r.get("pair"), r["candidate"]): r
            for r in self.recs
            if "maxrss_kib" in r
        }
        self.routed = {  # the first round of the fresh part, which records the route
            (r["part"], r["pair"], r["candidate"]): r
            for r in self.recs
            if "not_written_back" in r and r.get("round") == 0
        }
        self.out: list[str] = []

    def get(self, part: str, workload: Any = None, pair: Any = None, entries: Any = None):
        return self.med.get((part, workload, pair, entries), {})

    def emit(self, *lines: str) -> None:
        self.out.extend(lines)

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        if not rows:
            return
        align = ["---"] + ["---:"] * (len(header) - 1)
        self.emit("| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |")
        self.emit(*("| " + " | ".join(r) + " |" for r in rows), "")

    def render(self) -> str:
        for section in SECTIONS.split():
            getattr(self, section)()
        return "\n".join(self.out).rstrip() + "\n"

    # ---- the sections ------------------------------------------------------------------
    def header(self) -> None:
        m, c = self.data["machine_info"], self.data.get("commit_info", {})
        fl = m.get("fastlink", {})
        self.emit(
            "# fastlink benchmarks",
            "",
            f"Generated by `benches/report.py` from `{self.source}`, the `--benchmark-json` of "
            f"one pytest-benchmark run on {self.data['datetime'][:10]}: {m['cpu']['brand_raw']}, "
            f"{fl.get('usable_cores', '?')} cores, {fl.get('mem_gib', '?')} GiB RAM, Linux "
            f"{m['release']}, Python {m['python_version']}, fastlink {fl.get('fastlink', '?')} "
            f"({str(c.get('id', '?'))[:7]}), {fl.get('uv', 'uv ?')}. Times are medians over the "
            "rounds; ratios are fastlink's median ÷ the peer's, both from this one run "
            "(**< 1: fastlink is faster**).",
            "",
            "**In-process** (one Python call; the interpreter's start is not counted): trees, "
            "per-file calls, file lists, threads; there `cp -a` is a process, and the floor is "
            "timed by its own reported seconds. **Whole processes** (start-up included): the "
            "installs against uv, virtualenv seeding, peak RSS.",
            "",
        )
        if fl.get("smoke"):
            self.emit("**A smoke run (`--benchmark-disable`): no times.**", "")

    def headline(self) -> None:
        """Per part, fastlink against its main peer: the one per-file peer, cp -a on the
        corpus, uv, virtualenv's default seeder."""
        rows = []
        for part, (timed, main_peer) in HEADLINE.items():
            for (p, workload, pair, entries), by in self.med.items():
                peer = main_peer or next(c for c in by if c != "fastlink")
                if p == part and "fastlink" in by and peer in by and workload in (None, *HL):
                    size = f"{entries:,} entries in dir" if entries else None
                    where = (HL.get(workload), PAIR_LABELS.get(pair), size)
                    what = ", ".join(x for x in (part, *where) if x)
                    rows.append([what, timed, *vs(by, peer)])
        self.emit("## Headline", "")
        self.table(["what", "timed as", "fastlink", "peer", "fastlink ÷ peer"], rows)

    def by_pair(self, part: str, workload: str) -> list[tuple[str, dict[str, float]]]:
        """(pair, candidate -> median) for each pair where *part* measured fastlink."""
        got = [(p, self.get(part, workload, p)) for p in PAIR_LABELS]
        return [(p, by) for p, by in got if "fastlink" in by]

    def pair_rows(self, part: str, workload: str, peer: str) -> list[list[str]]:
        return [[PAIR_LABELS[p], *vs(by, peer)] for p, by in self.by_pair(part, workload)]

    def losses(self) -> None:
        rows = []
        for (part, workload, pair, entries), by in self.med.items():
            for peer, t in by.items():
                if (
                    part != "rss"
                    and "fastlink" in by
                    and peer not in NOT_PEERS
                    and by["fastlink"] > t
                ):
                    what = " ".join(str(x) for x in (workload, entries) if x is not None)
                    where = PAIR_LABELS.get(pair, "-")
                    rows.append([part, what, where, *vs(by, peer)])
        self.emit("## Where fastlink is slower", "")
        if not rows:
            self.emit("Nowhere in this run: every fastlink median is below every peer's.", "")
        self.table(["part", "workload", "path", "fastlink", "peer", "ratio"], rows)

    def corpus(self) -> None:
        info = self.info.get(("trees", "corpus"))
        if info is None:
            return
        self.emit(
            "## The 6-wheel corpus against cp, copytree and the floor",
            "",
            f"{info['title']}: {info['files']:,} files, {info['dirs']:,} directories, "
            f"{info['bytes'] / 2**20:.1f} MiB, on the source filesystem. Each cell is "
            "fastlink's median ÷ the other's (against the floor, > 1 is fastlink's "
            "overhead over the bare syscalls).",
            "",
        )
        rows = [
            [
                PAIR_LABELS[p],
                secs(by["fastlink"]),
                *(ratio(by["fastlink"], by.get(c)) for c in PEERS),
            ]
            for p, by in self.by_pair("trees", "corpus")
        ]
        self.table(["path", "fastlink", "÷ cp -a", "÷ copytree", "÷ floor"], rows)
        self.emit(f"![corpus benchmark chart]({self.chart})", "")

    def copytree(self) -> None:
        rows = []
        for workload in ("corpus", "synth-10k", "deep-1000"):
            info = self.info.get(("copytree", workload))
            if info is not None:
                rows += [
                    [info["title"], PAIR_LABELS[p], *vs(by, "copytree")]
                    for p, by in self.by_pair("copytree", workload)
                ]
        if rows:
            self.emit(
                "## `fastlink.copytree` against `shutil.copytree`",
                "",
                "The drop-in against the call it replaces, both with their defaults "
                "(`symlinks=False`, `copy_function=shutil.copy2`), in-process.",
                "",
            )
            self.table(["tree", "path", "fastlink.copytree", "peer", "ratio"], rows)

    def all_trees(self) -> None:
        self.emit("## All tree workloads (median seconds)", "")
        for workload in dict.fromkeys(g[1] for g in self.med if g[0] == "trees"):
            info = self.info["trees", workload]
            self.emit(
                f"### {workload}: {info['title']}",
                "",
                f"{info['files']:,} files, {info['dirs']:,} dirs, {info['bytes'] / 2**20:.1f} MiB.",
                "",
            )
            rows = [
                [PAIR_LABELS[p]]
                + [secs(by.get(c)) for c in ("fastlink", "cp", "copytree", "floor")]
                for p in PAIR_LABELS
                if (by := self.get("trees", workload, p))
            ]
            self.table(["path", "fastlink", "cp -a", "copytree", "floor"], rows)

    def fresh(self) -> None:
        """benches/test_fresh_trees.py: the corpus written moments ago against synced, with
        the default methods (the fresh-data route) and with methods="reflink"."""
        paths = [(p, by) for p in FRESH_PAIRS if len(by := self.get("fresh", "corpus", p)) > 1]
        if not paths:
            return
        info = self.info["fresh", "corpus"]
        self.emit(
            "## Data written moments ago",
            "",
            f"{info['title'][:1].upper()}{info['title'][1:]}: {info['files']:,} files, "
            f"{info['bytes'] / 2**20:.1f} MiB, written "
            'afresh before every call (untimed: `clone_or_copy(corpus, src, methods="copy")` '
            "from the corpus tree on the same filesystem, so new blocks and dirty pages), then "
            "either left dirty (**fresh**) or synced (**synced**); a sync runs before it is "
            "written in both cases. Timed: `clone_or_copy(src, dst)` in-process, with the "
            'default methods (`("reflink", "copy")`) or `methods="reflink"` (**reflink '
            "only**), within XFS and within btrfs (benches/test_fresh_trees.py). On XFS a clone "
            "waits for the source's dirty data to be written back, so the default copies a file "
            'whose ctime is within the writeback window instead (docs/api.md, "Data not yet '
            'written back"); the synced tree was written moments ago too, so its default call '
            "copies as well. Reflink only clones as the default did before that route: fresh, "
            "reflink only is the dirty case as it was; synced, reflink only is a clean clone, "
            "what the default makes of a tree written back long ago. "
            "`FASTLINK_WRITEBACK_SECONDS` is unset.",
            "",
        )
        self.table(
            ["path", *(label(c) for c in FRESH_CANDIDATES)],
            [[PAIR_LABELS[p], *(secs(by.get(c)) for c in FRESH_CANDIDATES)] for p, by in paths],
        )
        routed = [
            f"{PAIR_LABELS[p]} {label(c)}: {r['not_written_back']:,} of {r['files']:,}"
            for (part, p, c), r in self.routed.items()
            if part == "fresh" and r["not_written_back"]
        ]
        self.emit(
            "Files the default call copied because their data was not yet written back "
            "(`report.fallbacks`, errno `NOT_WRITTEN_BACK`), in the first round: "
            + ("; ".join(routed) if routed else "none")
            + ".",
            "",
        )
        rows = []
        for pair, a, b, what, target in FRESH_RATIOS:
            by = self.get("fresh", "corpus", pair)
            if a not in by or b not in by:
                continue
            r = by[a] / by[b]
            if target is None:
                goal = "-"
            elif isinstance(target, tuple):  # the same ratio in this run, before the route
                c, d = target
                today = by[c] / by[d]
                met = "met" if r <= today else "**missed**"
                goal = f"≤ {today:.2f} ({label(c)} ÷ {label(d)}): {met}"
            else:
                goal = f"≤ {target:.2f}: {'met' if r <= target else '**missed**'}"
            rows.append([PAIR_LABELS[pair], what, f"{r:.2f}", goal])
        self.table(["path", "ratio of medians", "value", "target"], rows)

    def per_file(self) -> None:
        rows, flat = [], []
        for pair in PAIR_LABELS:
            few, many = (
                self.get("per-file", None, pair, 10),
                self.get("per-file", None, pair, 10_000),
            )
            for entries, by in ((10, few), (10_000, many)):
                if "fastlink" in by:
                    peer = next(c for c in by if c != "fastlink")
                    rows.append([PAIR_LABELS[pair], f"{entries:,}", *vs(by, peer)])
            if "fastlink" in few and "fastlink" in many:
                peer = next(c for c in few if c != "fastlink")
                flat.append(
                    [
                        PAIR_LABELS[pair],
                        f"{many['fastlink'] / few['fastlink']:.2f}",
                        f"{label(peer)} {many[peer] / few[peer]:.2f}",
                    ]
                )
        if not rows:
            return
        self.emit(
            "## Per-file calls",
            "",
            "Calls one after another, each placing one small file under a new name in a "
            "directory already holding 10 or 10,000 entries; in-process. fastlink: "
            "`clone_or_copy(src_file, dst_file)`. Median time per call.",
            "",
        )
        self.table(["call", "entries in dir", "fastlink", "peer", "fastlink ÷ peer"], rows)
        self.emit("Flat in the directory's size: time per call with 10,000 entries ÷ with 10.", "")
        self.table(["call", "fastlink", "peer"], flat)
        drop_in = [
            [PAIR_LABELS[pair], f"{entries:,}", *vs(by, "copy2")]
            for pair in PAIR_LABELS
            for entries in (10, 10_000)
            if "fastlink" in (by := self.get("per-file-copy2", None, pair, entries))
        ]
        if drop_in:
            self.emit("`fastlink.copy2(src_file, dst_file)`, the drop-in, the same way.", "")
            self.table(["call", "entries in dir", "fastlink.copy2", "peer", "ratio"], drop_in)

    def file_lists(self) -> None:
        rows = self.pair_rows("file-list", "corpus", "loop")
        if rows:
            self.emit(
                "## File lists",
                "",
                "`clone_files(src, dst, files)` with every file of the corpus, against a Python "
                "loop of os.makedirs + shutil.copy2 (os.link for hard links); in-process.",
                "",
            )
            self.table(["path", "clone_files", "peer", "ratio"], rows)

    def threads(self) -> None:
        sweep = [p for p in PAIR_LABELS if self.get("threads", "corpus", p)]
        if sweep:
            counts = list(self.get("threads", "corpus", sweep[0]))
            self.emit(
                "## Threads",
                "",
                "Median time of `clone_or_copy(corpus, dst, "
                "threads=N)`, in-process; fastest in bold.",
                "",
            )
            rows = []
            for c in counts:
                cells = []
                for p in sweep:
                    by = self.get("threads", "corpus", p)
                    cells.append(
                        f"**{secs(by[c])}**" if by[c] == min(by.values()) else secs(by.get(c))
                    )
                rows.append([c.split("=")[1], *cells])
            self.table(["threads", *(PAIR_LABELS[p] for p in sweep)], rows)
        rows = self.pair_rows("pool", "packages", "copytree")
        if rows:
            self.emit(
                f"{self.info['pool', 'packages']['title']} placed into one site-packages from a "
                "pool of 4 Python threads, one call per unpacked wheel; in-process.",
                "",
            )
            self.table(["path", "fastlink", "peer", "ratio"], rows)

    def installs(self) -> None:
        for workload in ("corpus", "packages"):
            rows = [
                [
                    PAIR_LABELS[p],
                    *vs(by, "uv"),
                    secs(nt := by.get(NO_TIMES)),
                    ratio(nt, by.get("uv")),
                ]
                for p, by in self.by_pair("installs", workload)
            ]
            if not rows:
                continue
            info = self.info["installs", workload]
            self.emit(
                f"## fastlink against uv, whole processes: {info['title']}",
                "",
                f"{info['wheels']} wheels, unpacked {info['files']:,} files. Both timed as "
                "whole processes, start-up included, reading from the same XFS (fastlink: "
                "the unpacked wheel trees; uv: its warm cache there) into a fresh venv. "
                "fastlink: `benches/install_proc.py`, 4 threads each calling "
                "`clone_or_copy(tree, site_packages, dirs_exist_ok=True)` per wheel. uv: "
                "`uv pip install --offline --no-deps --link-mode=clone|hardlink|copy`. uv "
                "also writes installer metadata and scripts and rewrites RECORD; fastlink "
                "places each unpacked wheel as it is. Neither compiles bytecode.",
                "",
            )
            header = ["path", "fastlink", "peer", "fastlink ÷ uv", "preserve_times=False", "÷ uv"]
            self.table(header, rows)
        start = self.get("installs", "python start")
        if start:
            self.emit(
                f"Of fastlink's time, {secs(start['import fastlink'])} is "
                "`python -c 'import fastlink'` alone.",
                "",
            )

    def wheel_installs(self) -> None:
        """`fastlink install` against uv and pip (benches/test_wheel_installs.py)."""
        tables = []
        for workload in ("packages", "corpus"):
            rows = []
            for (part, pair), (what, target) in WHEEL_INSTALL_CASES.items():
                by = self.get(part, workload, pair)
                if "fastlink" not in by:
                    continue
                pip, mark = by.get("pip"), ""
                if pip is None:  # the hard-link group: pip's time into a venv on XFS
                    pip, mark = self.get("install-warm", workload, "xfs-reflink").get("pip"), "†"
                fl, uv = by["fastlink"], by.get("uv")
                met = "-" if uv is None else ("met" if fl / uv <= target else "**missed**")
                rows.append(
                    [
                        what,
                        secs(fl),
                        secs(uv),
                        ratio(fl, uv),
                        f"≤ {target:.2f}: {met}",
                        secs(pip) + mark,
                        ratio(fl, pip),
                    ]
                )
            if rows:
                tables.append((workload, rows))
        if not tables:
            return
        self.emit(
            "## Installing wheels: `fastlink install` against uv and pip",
            "",
            "Whole processes, start-up included, installing the wheel files (on XFS, in the "
            "page cache) into a fresh venv (made untimed by `uv venv`). fastlink: `python -m "
            "fastlink install -q --python VENV/bin/python --cache-dir C [--methods M] "
            "WHEEL...` (M: reflink, hardlink, or the default reflink,copy across to btrfs). "
            "uv: `uv pip install --no-deps --offline --link-mode clone|hardlink|copy "
            "--cache-dir C --python VENV/bin/python WHEEL...`. pip: `VENV/bin/python -m pip "
            "install --no-deps --no-index --no-compile WHEEL...`, pip on PYTHONPATH. Warm: "
            "both caches on the source XFS already hold the wheels (one untimed install). "
            "Cold: an empty cache directory on XFS each round, so unpacking is timed too. "
            "pip has no cache for local wheels: it unpacks every time, warm or cold († its "
            "time into a venv on XFS, from the warm clone's group). Targets are fastlink ÷ "
            "uv. Nothing compiles bytecode.",
            "",
        )
        header = ["case", "fastlink", "uv", "fastlink ÷ uv", "target", "pip", "fastlink ÷ pip"]
        for workload, rows in tables:
            info = self.info.get(("install-warm", workload)) or self.info["install-cold", workload]
            self.emit(f"### {info['title']}", "")
            self.table(header, rows)

    def seeding(self) -> None:
        cases = [(w, self.get("seeding", w, "xfs-reflink")) for w in SEEDING]
        cases = [(w, by) for w, by in cases if "fastlink" in by]
        if not cases:
            return
        self.emit(
            "## virtualenv seeding",
            "",
            "Whole-process `python -m virtualenv` "
            "creating an environment on XFS, offline, by seeder (benches/seeding.py).",
            "",
        )
        for workload, by in cases:
            self.emit(f"### {SEEDING[workload]}", "")
            self.table(
                ["seeder", "median", "÷ fastlink"],
                [[c, secs(t), f"{t / by['fastlink']:.2f}"] for c, t in by.items()],
            )

    def peak_rss(self) -> None:
        rows = [
            [
                f"{label(c)} {PAIR_LABELS.get(p, '')}".strip(),
                w,
                f"{r['maxrss_kib'] / 1024:.1f} MiB",
                secs(r["seconds"]),
            ]
            for (w, p, c), r in self.rss.items()
        ]
        if rows:
            self.emit(
                "## Peak memory",
                "",
                "Peak RSS of a fresh process making one call (GNU time %M), and its wall time.",
                "",
            )
            self.table(["process", "tree", "peak RSS", "wall"], rows)

    def method(self) -> None:
        self.emit("## Method", "", METHOD, "")


METHOD = """\
Each pytest-benchmark benchmark here is one round of one candidate: a test takes a
`round_` parameter and benches/conftest.py orders the tests round by round, every
candidate of a group (same workload, path, directory size) running once per round, the
order rotated by one each round. So the candidates are interleaved as a loop over rounds
would interleave them, and drift on a busy machine falls on all of them alike; the price
is that pytest-benchmark's own table shows single samples, and the medians are this
report's. Before every timed run (pytest-benchmark's pedantic `setup`, untimed) the
previous destination is removed and `sync` runs: cloning dirty data is much slower, and a
copy's writeback happens in the untimed `sync` that follows it; and since the sources are
written back, FASTLINK_WRITEBACK_SECONDS=0 keeps the fresh-data route, which goes by ctime,
from taking them (but in "Data written moments ago"). Each source tree was read
once beforehand, so it is in the page cache. The first round's outputs are checked
(counts and bytes; fastlink's entry by entry: kind, mode, size, mtime).

- fastlink: `fastlink.clone_or_copy(src, dst)` (`methods="hardlink"` on the hard-link
  path), its default threads (one per usable core, 2 to 16);
- cp: `cp -a --reflink=auto` (`cp -al` on the hard-link path), process included;
- copytree: `shutil.copytree(src, dst, symlinks=True)`, not on the hard-link path;
- floor: benches/floor, the lower bound: a getdents64 walk, mkdirat, and per file
  FICLONE / linkat / copy_file_range on as many threads as fastlink; no metadata, checks,
  staging or rollback; timed by its own reported seconds (process start excluded).

Filesystems: sparse image files loop-mounted by tests/mounts.py (XFS with reflink=1,
btrfs, ext4) and a tmpfs. Rerun: `make bench` (root), then `make bench-report`;
`make bench BENCH_ARGS="-k per_file"` runs one part."""


# The fresh part (benches/test_fresh_trees.py): its candidates, and its ratios of medians
# (path, numerator, denominator, what, target): a number, the same ratio of two other
# candidates in this run (what it was before the route), or None.
FRESH_PAIRS = ("xfs-reflink", "btrfs-reflink")
FRESH_CANDIDATES = ("fresh", "fresh-reflink", "synced", "synced-reflink")
FRESH_RATIOS: list[tuple[str, str, str, str, float | tuple[str, str] | None]] = [
    ("xfs-reflink", "fresh", "synced", "fresh ÷ synced (default methods)", 1.10),
    (
        "xfs-reflink",
        "fresh",
        "fresh-reflink",
        "fresh ÷ fresh, reflink only (the dirty clone)",
        0.60,
    ),
    (
        "xfs-reflink",
        "fresh",
        "synced-reflink",
        "fresh ÷ synced, reflink only (a clean clone)",
        None,
    ),
    (
        "xfs-reflink",
        "fresh-reflink",
        "synced-reflink",
        "before the route: dirty ÷ clean clone",
        None,
    ),
    (
        "btrfs-reflink",
        "fresh",
        "synced",
        "fresh ÷ synced (default methods: both clone)",
        ("fresh-reflink", "synced-reflink"),
    ),
    (
        "btrfs-reflink",
        "fresh",
        "fresh-reflink",
        "fresh ÷ fresh, reflink only (the same clone)",
        None,
    ),
]

# (part, pair) -> (the case, the target for fastlink ÷ uv)
WHEEL_INSTALL_CASES = {
    ("install-warm", "xfs-reflink"): ("warm, xfs → xfs clone", 0.80),
    ("install-warm", "xfs-hardlink"): ("warm, xfs → xfs hard link", 0.80),
    ("install-warm", "xfs-btrfs-copy"): ("warm, xfs → btrfs copy", 0.70),
    ("install-cold", "xfs-reflink"): ("cold (unpack + clone), xfs → xfs", 0.80),
}


def render_chart(data: dict[str, Any], out: Path) -> None:
    """Grouped bars of medians: the corpus per path against cp, copytree and the floor;
    and the installs against uv, whole processes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    med = medians(records(data))
    panels = [  # (part, workload, candidates, title)
        ("trees", "corpus", ("fastlink", *PEERS), "The 6-wheel corpus, one call in-process"),
        (
            "installs",
            None,
            ("fastlink", NO_TIMES, "uv"),
            "Against uv pip install, both whole processes",
        ),
    ]
    fig, axes = plt.subplots(1, 2, figsize=(16, 5.2), dpi=110)
    for ax, (part, workload, cands, title) in zip(axes, panels):
        groups = [
            g
            for g in med
            if g[0] == part and (workload is None or g[1] == workload) and g[2] is not None
        ]
        width = 0.8 / len(cands)
        for i, c in enumerate(cands):
            xs = [j - 0.4 + width * (i + 0.5) for j, g in enumerate(groups) if c in med[g]]
            ys = [med[g][c] for g in groups if c in med[g]]
            if ys:
                ax.bar(xs, ys, width * 0.92, label=label(c), color=COLORS[c])
        names = [
            f"{g[1] if part == 'installs' else ''}\n{PAIR_LABELS[g[2]]}".strip() for g in groups
        ]
        ax.set_xticks(range(len(groups)), [n.replace(" ", "\n", 1) for n in names], fontsize=8)
        ax.set_ylabel("median seconds (lower is better)")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8, loc="upper left")
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)


COLORS = dict(
    zip(
        ("fastlink", NO_TIMES, *PEERS, "uv"),
        ("#d62728", "#ff9896", "#1f77b4", "#7f7f7f", "#2ca02c", "#9467bd"),
    )
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json", type=Path, help="a --benchmark-json output")
    ap.add_argument("--out", type=Path, default=REPO_DIR / "BENCHMARKS.md")
    ap.add_argument("--chart", type=Path, default=REPO_DIR / "docs" / "benchmarks.png")
    args = ap.parse_args(argv)
    data = json.loads(args.json.read_text())
    render_chart(data, args.chart)
    chart = Path(os.path.relpath(args.chart, args.out.parent)).as_posix()
    args.out.write_text(Report(data, args.json.name, chart).render())
    print(f"wrote {args.out} and {args.chart}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
