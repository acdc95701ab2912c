"""The numbers the report shows: medians of the samples, and how seconds, ratios and
counts are written."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any


def medians(data: dict[str, Any], section: str = "main") -> dict[tuple[Any, ...], dict]:
    """(workload, path, candidate, or threads in the thread sweep) -> median, min, max, n
    of the seconds of *section*'s samples."""
    groups: dict[tuple[Any, ...], list[float]] = defaultdict(list)
    for s in data["samples"]:
        if s["section"] != section or s.get("seconds") is None:
            continue
        last = s["threads"] if section == "threads" else s["candidate"]
        groups[(s["workload"], s["path"], last)].append(s["seconds"])
    return {
        k: {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}
        for k, v in groups.items()
    }


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 0.01:
        return f"{x:.3f}"
    return f"{x:.4f}"


def fmt_ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "-"
    r = a / b
    return f"**{r:.2f}**" if r < 1 else f"{r:.2f}"


def path_label(data: dict[str, Any], key: str) -> str:
    for p in data["paths"]:
        if p["key"] == key:
            return str(p["label"])
    return key


def median_of(med: dict[tuple[Any, ...], dict], *key: Any) -> float | None:
    x = med.get(key)
    return x["median"] if x else None


def fmt_target(a: float | None, b: float | None, target: float | None) -> str:
    """The issue's target for a/b, and whether this run meets it."""
    if target is None:
        return ""
    if not a or not b:
        return f"≤ {target:.2f}"
    return f"≤ {target:.2f}: " + ("met" if a / b <= target else "**not met**")
