"""The chart (docs/benchmarks.png): grouped bars of medians per path. Left, the 6-wheel
corpus against cp, copytree and the floor; right, when measured, fastlink against uv
as whole processes on the corpus and on the 91 packages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import CANDIDATE_LABELS, CANDIDATES
from .summary import medians, path_label

CHART_COLORS = {
    "fastlink": "#d62728",
    "fastlink-no-times": "#ff9896",
    "cp": "#1f77b4",
    "copytree": "#7f7f7f",
    "floor": "#2ca02c",
    "uv": "#9467bd",
}
INSTALL_LABELS = {"fastlink": "fastlink", "fastlink-no-times": "no times", "uv": "uv"}


def bars(ax: Any, groups: list[str], series: dict[str, list[float | None]], labels: dict) -> None:
    """One group of bars per *groups* entry, one bar per series (None: no bar)."""
    width = 0.8 / max(1, len(series))
    for i, (c, ys) in enumerate(series.items()):
        xs = [j - 0.4 + width * (i + 0.5) for j, y in enumerate(ys) if y is not None]
        vals = [y for y in ys if y is not None]
        drawn = ax.bar(xs, vals, width * 0.92, label=labels[c], color=CHART_COLORS[c])
        for b, y in zip(drawn, vals):
            ax.text(
                b.get_x() + b.get_width() / 2,
                y,
                f"{y:.2f}" if y >= 0.1 else f"{y:.3f}",
                ha="center",
                va="bottom",
                fontsize=6.5,
                rotation=90,
            )
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, fontsize=8.5)
    ax.set_ylabel("median seconds (lower is better)")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.15)
    ax.legend(ncol=len(series), fontsize=8, loc="upper left")
    ax.grid(axis="y", alpha=0.3)


def render_chart(data: dict[str, Any], out: Path) -> str:
    """-> "ok", "no matplotlib" or "no corpus"."""
    med = medians(data)
    paths = [p for p in data["paths"] if ("corpus", p["key"], "fastlink") in med]
    installs = [k for k in ("uv", "packages") if k in data.get("sections", {})]
    if not paths and not installs:
        return "no corpus"
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "no matplotlib"
    panels = int(bool(paths)) + int(bool(installs))
    fig, axes = plt.subplots(1, panels, figsize=(8 * panels, 5.2), dpi=110, squeeze=False)
    axes = list(axes[0])
    smoke = " — SMOKE RUN" if data["mode"] == "smoke" else ""
    if paths:
        ax = axes.pop(0)
        cands = [c for c in CANDIDATES if any(("corpus", p["key"], c) in med for p in paths)]
        series = {
            c: [
                med[("corpus", p["key"], c)]["median"] if ("corpus", p["key"], c) in med else None
                for p in paths
            ]
            for c in cands
        }
        bars(ax, [p["label"].replace(" ", "\n", 1) for p in paths], series, CANDIDATE_LABELS)
        st = data["workloads"]["corpus"]["stats"]
        ax.set_title(
            f"The 6-wheel corpus ({st['files']:,} files, {st['bytes'] / 1e6:.0f} MB), one "
            f"call in-process{smoke}",
            fontsize=10,
        )
    if installs:
        ax = axes.pop(0)
        groups: list[str] = []
        series = {c: [] for c in INSTALL_LABELS}
        for key in installs:
            imed = medians(data, key)
            for pk in data["sections"][key]["paths"]:
                where, op = path_label(data, pk).rsplit(" ", 1)
                groups.append(f"{'corpus' if key == 'uv' else '91 pkgs'}\n{where}\n{op}")
                for c in INSTALL_LABELS:
                    x = imed.get((key, pk, c))
                    series[c].append(x["median"] if x else None)
        series = {c: ys for c, ys in series.items() if any(y is not None for y in ys)}
        bars(ax, groups, series, INSTALL_LABELS)
        ax.set_title(f"Against uv pip install, both whole processes{smoke}", fontsize=10)
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
