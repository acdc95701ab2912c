"""The candidates of the main comparison: how each one is set up (untimed) and timed.

fastlink is timed in-process; cp, the floor and uv as whole processes (the floor by the
seconds it reports itself, process start excluded).
"""

from __future__ import annotations

import json
import re
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
    if cand == "uv":
        h.uv_for(p.src_fs).venv(dst)
        return dst
    if cand == "fastlink-install":
        sp = dst / "lib" / "python3.11" / "site-packages"
        sp.mkdir(parents=True)
        return sp
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
    if cand == "fastlink-install":
        reports = []
        t0 = time.perf_counter()
        for wd in w.wheel_dirs[p.src_fs]:
            reports.append(
                h.fastlink.clone_or_copy(wd, dst, methods=p.fastlink_methods, dirs_exist_ok=True)
            )
        t = time.perf_counter() - t0
        info = {
            "methods": sorted({r.method for r in reports}),
            "files": sum(r.files for r in reports),
            "bytes": sum(r.bytes for r in reports),
            "calls": len(reports),
        }
        return t, t, info
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
    if cand == "uv":
        t0 = time.perf_counter()
        proc = h.uv_for(p.src_fs).install(dst, h.wheels_on[p.src_fs], p.uv_link_mode)
        t = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"uv exited {proc.returncode}: {proc.stderr.strip()[-800:]}")
        out = (proc.stderr + proc.stdout).strip()
        m = re.search(r"Installed (\d+) packages? in ([\d.]+)(ms|s)\b", out)
        if m:
            info["uv_reported_s"] = float(m.group(2)) / (1000 if m.group(3) == "ms" else 1)
        odd = [
            ln
            for ln in out.splitlines()
            if ln.strip()
            and not re.match(r"\s*(Prepared|Installed|Resolved|Audited|Using Python|\+)", ln)
        ]
        if odd:
            info["uv_output"] = odd[:10]
        return t, t, info
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
