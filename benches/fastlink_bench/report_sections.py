"""BENCHMARKS.md's sections for the installer-shaped workloads (sections.py): per-file
calls, fastlink against uv as whole processes (the corpus and 91 packages), and
virtualenv seeding. Each renders from bench.json alone; no section, no lines."""

from __future__ import annotations

from typing import Any

from . import per_file
from .summary import fmt_ratio, fmt_s, fmt_target, median_of, medians, path_label, plural
from .system import fmt_bytes


def render_per_file(data: dict[str, Any]) -> list[str]:
    meta = data.get("sections", {}).get(per_file.KEY)
    if not meta:
        return []
    med = medians(data, per_file.KEY)
    n = meta["calls"]

    def us(size: int, pk: str, cand: str) -> float | None:
        x = median_of(med, f"{per_file.KEY}-{size}", pk, cand)
        return x / n * 1e6 if x is not None else None

    small, big = meta["dir_sizes"]
    L = [
        "",
        "## Per-file calls",
        "",
        f"{plural(n, 'call')} per round, one after another, each placing one small file "
        f"({fmt_bytes(meta['source_bytes'] / n)} on average, sources distinct files on XFS) "
        f"under a new name in a directory already holding {small:,} or {big:,} entries; "
        f"in-process, `sync` before each batch, {plural(meta['rounds'], 'round')}, "
        "candidates interleaved. fastlink: `clone_or_copy(src_file, dst_file)` "
        '(`methods="hardlink"` on the hardlink path). Median µs per call '
        "(a round's time ÷ its calls); the target is the issue's.",
        "",
        "| call | entries in dst dir | fastlink (µs) | peer | peer (µs) | fastlink ÷ peer "
        "| target |",
        "|---|---:|---:|---|---:|---:|---|",
    ]
    for pk, peer in meta["pairs"]:
        for size in meta["dir_sizes"]:
            a, b = us(size, pk, "fastlink"), us(size, pk, peer)
            L.append(
                f"| {path_label(data, pk)} | {size:,} | {fmt_us(a)} | "
                f"{per_file.LABELS[peer]} | {fmt_us(b)} | {fmt_ratio(a, b)} | "
                f"{fmt_target(a, b, per_file.TARGETS.get(peer))} |"
            )
    L += [
        "",
        f"Flat in the directory's size: time per call with {big:,} entries ÷ with {small:,}.",
        "",
        "| call | fastlink | peer | target (fastlink) |",
        "|---|---:|---:|---|",
    ]
    for pk, peer in meta["pairs"]:
        fa, fb = us(big, pk, "fastlink"), us(small, pk, "fastlink")
        pa, pb = us(big, pk, peer), us(small, pk, peer)
        L.append(
            f"| {path_label(data, pk)} | {fmt_ratio(fa, fb)} | "
            f"{per_file.LABELS[peer]} {fmt_ratio(pa, pb)} | "
            f"{fmt_target(fa, fb, per_file.FLAT_TARGET)} |"
        )
    return L


def fmt_us(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def render_install(data: dict[str, Any], key: str) -> list[str]:
    meta = data.get("sections", {}).get(key)
    if not meta:
        return []
    med = medians(data, key)
    st = meta["stats"]
    targets = {(p, c): t for p, c, t in meta["targets"]}
    title = "the 6-wheel corpus" if key == "uv" else "91 packages"
    L = [
        "",
        f"## fastlink against uv, whole processes: {title}",
        "",
        f"{meta['title']}: {plural(len(meta['wheels']), 'wheel')}, unpacked "
        f"{st['files']:,} files, {st['dirs']:,} directories, {fmt_bytes(st['bytes'])}; "
        f"{plural(meta['rounds'], 'round')}, candidates interleaved, `sync` before each. "
        "Both are timed as whole processes, start-up included, reading from the same XFS "
        "(fastlink: the unpacked wheel trees; uv: its warm cache there) into a fresh venv "
        f"on the destination. fastlink: one process, {meta['workers']} threads "
        "(`threading.Thread`s taking the next wheel) each calling `clone_or_copy(tree, "
        "site_packages, dirs_exist_ok=True)`, one call per wheel, all sharing fastlink's "
        "worker pool (`benches/fastlink_bench/install_proc.py`; it imports nothing but "
        "sys and threading besides fastlink: on this VM `concurrent.futures` alone adds "
        "about 20 ms to start-up). uv: `uv pip install --offline "
        "--no-deps --link-mode=clone|hardlink|copy` of the wheel files.",
    ]
    if meta.get("requirements"):
        L[-1] += f" The wheels are pinned by hash in `benches/{meta['requirements']}`."
    L += [
        "",
        "| path | fastlink (s) | preserve_times=False (s) | uv (s) | fastlink ÷ uv "
        "| preserve_times=False ÷ uv | target |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for pk in meta["paths"]:
        a = median_of(med, key, pk, "fastlink")
        b = median_of(med, key, pk, "fastlink-no-times")
        u = median_of(med, key, pk, "uv")
        tgt = [
            f"{'defaults' if c == 'fastlink' else 'preserve_times=False'} "
            + fmt_target(a if c == "fastlink" else b, u, t)
            for (p, c), t in targets.items()
            if p == pk
        ]
        L.append(
            f"| {path_label(data, pk)} | {fmt_s(a)} | {fmt_s(b)} | {fmt_s(u)} | "
            f"{fmt_ratio(a, u)} | {fmt_ratio(b, u)} | {'; '.join(tgt)} |"
        )
    py = median_of(med, key, "-", "python")
    if py is not None:
        L += ["", f"Of fastlink's time, {fmt_s(py)} s is `python -c 'import fastlink'` alone."]
    if meta.get("uv_skip_reason"):
        L += ["", f"**uv was not measured**: {meta['uv_skip_reason']}."]
    L += render_uv_extras(data, key)
    return L


def render_uv_extras(data: dict[str, Any], key: str) -> list[str]:
    """What uv wrote beyond the wheels' files (first round), so the reader sees what
    the comparison includes."""
    extras = next(
        (
            s["info"]["extras"]
            for s in data["samples"]
            if s["section"] == key and s["candidate"] == "uv" and "extras" in s.get("info", {})
        ),
        None,
    )
    if not extras:
        return []
    return [
        "",
        "What the two do differ in, beyond the wheels' files: uv also writes "
        f"{extras['dist-info']:,} files into the `.dist-info` directories (INSTALLER, "
        f"REQUESTED, direct_url.json, uv_cache.json), {extras['bin']:,} files in `bin/` "
        "(entry-point scripts, and the wheels' `*.data/scripts`), and places "
        f"{extras['data']:,} more files of the wheels' `*.data/` directories at their "
        "scheme paths (`share/`, `include/`); it rewrites each RECORD and checks what the "
        "venv already has. fastlink places each "
        "unpacked wheel tree as it is: `*.data/` directories stay inside site-packages, "
        "RECORD is the wheel's, no scripts, no installer metadata. Neither compiles "
        "bytecode.",
    ]


def render_uv(data: dict[str, Any]) -> list[str]:
    return render_install(data, "uv")


def render_packages(data: dict[str, Any]) -> list[str]:
    return render_install(data, "packages")


def render_seeding(data: dict[str, Any]) -> list[str]:
    meta = data.get("sections", {}).get("seeding")
    if not meta:
        return []
    L = ["", "## virtualenv seeding", ""]
    if "skipped" in meta:
        return [*L, f"Not measured in this run: {meta['skipped']}."]
    res = meta["result"]
    meds: dict[str, float] = res.get("medians", {})
    ref_label = res.get("reference") or next(iter(meds), None)
    ref = meds.get(ref_label) if ref_label else None
    L += [
        f"`benches/seeding.py`'s `measure_seeding`, {plural(meta['rounds'], 'round')}, "
        "environments created on XFS. Median seconds per environment.",
        "",
        f"| seeder | median (s) | ÷ {ref_label} |",
        "|---|---:|---:|",
    ]
    for label, x in meds.items():
        L.append(f"| {label} | {fmt_s(x)} | {fmt_ratio(x, ref)} |")
    notes = res.get("notes", [])
    if notes:
        L.append("")
        L += [f"- {note}" for note in notes]
    return L


def render_targets(data: dict[str, Any]) -> list[str]:
    """Every ratio issue 11 sets a target for, from this run, in one table."""
    rows: list[tuple[str, str, str, float | None, float | None, float]] = []
    secs = data.get("sections", {})
    if per_file.KEY in secs:
        meta = secs[per_file.KEY]
        med = medians(data, per_file.KEY)
        n = meta["calls"]
        small, big = meta["dir_sizes"]

        def us(size: int, pk: str, cand: str) -> float | None:
            x = median_of(med, f"{per_file.KEY}-{size}", pk, cand)
            return x / n * 1e6 if x is not None else None

        for pk, peer in meta["pairs"]:
            label = f"one file, {path_label(data, pk)}"
            for size in (small, big):
                a, b = us(size, pk, "fastlink"), us(size, pk, peer)
                rows.append(
                    (
                        f"{label}, {size:,} entries",
                        fmt_us(a) + " µs",
                        f"{per_file.LABELS[peer]} {fmt_us(b)} µs",
                        a,
                        b,
                        per_file.TARGETS[peer],
                    )
                )
            a, b = us(big, pk, "fastlink"), us(small, pk, "fastlink")
            rows.append(
                (
                    f"{label}, {big:,} ÷ {small:,} entries",
                    fmt_us(a) + " µs",
                    f"fastlink {fmt_us(b)} µs",
                    a,
                    b,
                    per_file.FLAT_TARGET,
                )
            )
    for key, what in (("uv", "6-wheel corpus"), ("packages", "91 packages, 4 threads")):
        if key not in secs:
            continue
        med = medians(data, key)
        for pk, cand, target in secs[key]["targets"]:
            a, u = median_of(med, key, pk, cand), median_of(med, key, pk, "uv")
            opts = " preserve_times=False" if cand == "fastlink-no-times" else ""
            rows.append(
                (
                    f"{what}, {path_label(data, pk)}{opts}",
                    fmt_s(a) + " s",
                    f"uv {fmt_s(u)} s",
                    a,
                    u,
                    target,
                )
            )
    if not rows:
        return []
    L = [
        "",
        "## Headline: issue 11's targets in this run",
        "",
        "Each ratio is fastlink's median ÷ the peer's, measured in this one run; the target "
        "is the most the issue allows. Details in the sections below.",
        "",
        "| what | fastlink | peer | ratio | target |",
        "|---|---:|---:|---:|---|",
    ]
    for what, fa, peer, a, b, target in rows:
        L.append(f"| {what} | {fa} | {peer} | {fmt_ratio(a, b)} | {fmt_target(a, b, target)} |")
    return L
