"""The candidates of the main comparison: how each one is set up (untimed) and timed.

fastlink and copytree are timed in-process; cp and the floor as whole processes (the
floor by the seconds it reports itself, process start excluded). The comparison with
uv, both as whole processes, is installs.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import BenchPath

if TYPE_CHECKING:
    from .harness import Harness, Workload


def prepare(h: Harness, w: Workload, p: BenchPath, cand: str, dst: Path) -> Path:
    """Untimed set-up of one run; returns the tree to verify afterwards."""
    return dst


def timed(
    h: Harness, w: Workload, p: BenchPath, cand: str, dst: Path, threads: int | None = None
) -> tuple[float, float, dict[str, Any]]:
    """Run one candidate; return (seconds reported, wall seconds, info)."""
    src = w.src[p.src_fs]
    info: dict[str, Any] = {}
    if cand == "fastlink":
        t0 = time.perf_counter()
        r = h.fastlink.clone_or_copy(src, dst, methods=p.fastlink_methods, threads=threads)
        t = time.perf_counter() - t0
        return t, t, report_info(r)
    if cand == "cp":
        argv = [*p.cp_argv, str(src), str(dst)]
        t0 = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        t = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"cp exited {proc.returncode}: {proc.stderr.strip()[:500]}")
        return t, t, info
    if cand == "copytree":
        t0 = time.perf_counter()
        shutil.copytree(src, dst, symlinks=True)
        t = time.perf_counter() - t0
        return t, t, info
    if cand == "floor":
        assert h.floor is not None
        argv = [str(h.floor), p.floor_mode, str(src), str(dst)]
        argv += ["--threads", str(threads or h.threads_default)]
        t0 = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"floor exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if not lines:
            raise RuntimeError(f"floor printed no JSON: {proc.stdout[-500:]!r}")
        rep = json.loads(lines[-1])
        return float(rep["seconds"]), wall, {"floor": rep}
    raise ValueError(cand)


def report_info(r: Any) -> dict[str, Any]:
    out = {
        a: getattr(r, a, None)
        for a in ("method", "files", "dirs", "symlinks", "bytes", "reflinked", "hardlinked")
    }
    out["copied"] = getattr(r, "copied", None)
    out["elapsed"] = getattr(r, "elapsed", None)
    out["skipped"] = [list(s) for s in getattr(r, "skipped", ())]
    return out
