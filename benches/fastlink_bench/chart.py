"""The chart: grouped bars of the corpus medians per path (docs/benchmarks.png)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import CANDIDATE_LABELS, CANDIDATES
from .summary import medians

CHART_COLORS = {
    "fastlink": "#d62728",
    "cp": "#1f77b4",
    "copytree": "#7f7f7f",
    "floor": "#2ca02c",
}


def render_chart(data: dict[str, Any], out: Path) -> str:
    """Grouped bars of the corpus medians per path -> "ok", "no matplotlib" or "no corpus"."""
    med = medians(data)
    paths = [p for p in data["paths"] if ("corpus", p["key"], "fastlink") in med]
    if not paths:
        return "no corpus"
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "no matplotlib"
    cands = [c for c in CANDIDATES if any(("corpus", p["key"], c) in med for p in paths)]
    fig, ax = plt.subplots(figsize=(12, 5.2), dpi=110)
    width = 0.8 / len(cands)
    for i, c in enumerate(cands):
        xs, ys = [], []
        for j, p in enumerate(paths):
            x = med.get(("corpus", p["key"], c))
            if x:
                xs.append(j - 0.4 + width * (i + 0.5))
                ys.append(x["median"])
        bars = ax.bar(xs, ys, width * 0.92, label=CANDIDATE_LABELS[c], color=CHART_COLORS[c])
        for b, y in zip(bars, ys):
            ax.text(
                b.get_x() + b.get_width() / 2,
                y,
                f"{y:.2f}" if y >= 0.1 else f"{y:.3f}",
                ha="center",
                va="bottom",
                fontsize=6.5,
                rotation=90,
            )
    ax.set_xticks(range(len(paths)))
    ax.set_xticklabels([p["label"].replace(" ", "\n", 1) for p in paths], fontsize=9)
    ax.set_ylabel("median seconds (lower is better)")
    st = data["workloads"]["corpus"]["stats"]
    ax.set_title(
        f"Placing the 6-wheel corpus ({st['files']:,} files, {st['bytes'] / 1e6:.0f} MB): "
        f"fastlink vs cp, copytree, the floor and uv"
        + (" — SMOKE RUN" if data["mode"] == "smoke" else ""),
        fontsize=11,
    )
    ax.set_ylim(0, ax.get_ylim()[1] * 1.12)
    ax.legend(ncol=len(cands), fontsize=9, loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    m = data["machine"]
    fig.text(
        0.99,
        0.01,
        f"{m['cores']} cores, Linux {m['kernel']}, {data['started'][:10]}",
        ha="right",
        fontsize=7,
        color="#555",
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return "ok"
