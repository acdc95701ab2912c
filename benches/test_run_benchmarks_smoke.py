"""End to end: `run_benchmarks.py --smoke` mounts the filesystems, runs every workload,
path and candidate once on tiny trees (fake wheels, no download), verifies them, and
renders the report; `--only` runs just the parts it names.

Root only (loop mounts): skipped otherwise, and skipped without the mkfs tools unless
CI is set, where a missing tool fails the test instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "run_benchmarks.py"


def _smoke_run(out: Path, *extra: str) -> dict[str, Any]:
    """One `run_benchmarks.py --smoke` into `out`; its bench.json."""
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", *extra, "--out-dir", str(out)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    data: dict[str, Any] = json.loads((out / "bench.json").read_text())
    return data


@pytest.mark.skipif(os.geteuid() != 0, reason="the smoke run loop-mounts filesystems: root only")
def test_smoke_run_end_to_end(tmp_path: Path) -> None:
    _require_mkfs()
    out = tmp_path / "results"
    data = _smoke_run(out)
    assert data["mode"] == "smoke"
    assert data["problems"] == []
    assert not any(m.startswith("/tmp/fastlink-bench-") for m in _mounts()), "left mounted"

    # Every workload ran fastlink, cp and the floor (when built) on every path, verified.
    runs = {(s["workload"], s["path"], s["candidate"]) for s in data["samples"]}
    paths = [p["key"] for p in data["paths"]]
    for wk in data["workloads"]:
        for pk in paths:
            assert (wk, pk, "fastlink") in runs
            assert (wk, pk, "cp") in runs
    assert all(v["ok"] for v in data["verification"])
    assert all(s["seconds"] is not None and s["seconds"] >= 0 for s in data["samples"])
    assert {s["candidate"] for s in data["samples"] if s["workload"] == "corpus"} >= {
        "fastlink",
        "copytree",
    }
    assert any(s["section"] == "threads" for s in data["samples"])
    assert data["rss"] and all(r["maxrss_kib"] > 0 for r in data["rss"])

    # The installer-shaped sections: per-file calls at both directory sizes against
    # their peers; fastlink as a whole process against uv (when uv is installed) on the
    # fake corpus and the fake "91 packages"; seeding with the real virtualenv.
    assert set(data["sections"]) == {"per-file", "uv", "packages", "seeding"}
    for size in (10, 10_000):
        for pk, peer in (("xfs-reflink", "copy2"), ("xfs-btrfs-copy", "copy2")):
            assert (f"per-file-{size}", pk, "fastlink") in runs
            assert (f"per-file-{size}", pk, peer) in runs
        assert (f"per-file-{size}", "xfs-hardlink", "link") in runs
    install_cands = {"fastlink"} | ({"uv"} if data["config"]["uv"] else set())
    for wk in ("uv", "packages"):
        for pk in ("xfs-reflink", "xfs-hardlink", "xfs-btrfs-copy"):
            for cand in install_cands:
                assert (wk, pk, cand) in runs
        assert (wk, "xfs-reflink", "fastlink-no-times") in runs
    seeding = data["sections"]["seeding"]
    assert "skipped" not in seeding, seeding
    assert set(seeding["result"]["medians"]) == {"fastlink", "app-data copy", "app-data symlink"}

    md = (out / "BENCHMARKS.md").read_text()
    assert "## Headline: issue 11's targets in this run" in md
    assert "## The 6-wheel corpus against cp, copytree and the floor" in md
    assert "## Per-file calls" in md
    assert "## fastlink against uv, whole processes: 91 packages" in md
    assert "## virtualenv seeding" in md
    assert "| xfs → xfs reflink |" in md

    # The report is a function of bench.json alone.
    (out / "BENCHMARKS.md").unlink()
    again = subprocess.run(
        [sys.executable, str(SCRIPT), "--report-only", "--out-dir", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert (out / "BENCHMARKS.md").read_text() == md


@pytest.mark.skipif(os.geteuid() != 0, reason="the smoke run loop-mounts filesystems: root only")
def test_only_runs_just_the_named_parts(tmp_path: Path) -> None:
    _require_mkfs()
    out = tmp_path / "results"
    data = _smoke_run(out, "--only", "per-file")
    assert data["problems"] == []
    assert {s["section"] for s in data["samples"]} == {"per-file"}
    assert data["workloads"] == {} and set(data["sections"]) == {"per-file"}
    assert "A partial run" in (out / "BENCHMARKS.md").read_text()


def _require_mkfs() -> None:
    missing = [t for t in ("mkfs.xfs", "mkfs.btrfs", "mkfs.ext4") if shutil.which(t) is None]
    if missing:
        msg = f"missing {', '.join(missing)}"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


def _mounts() -> list[str]:
    with open("/proc/self/mounts") as f:
        return [line.split()[1] for line in f]
