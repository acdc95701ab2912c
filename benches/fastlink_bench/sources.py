"""A workload's source trees: built once on XFS (deterministically), copied to every
other source filesystem, counted, and read once so they are in the page cache."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import corpus  # benches/corpus.py

from .config import BenchPath, WorkloadSpec
from .system import fmt_bytes, log, run, warm
from .trees import make_big, make_deep, make_fake_wheels, make_synthetic

if TYPE_CHECKING:
    from .harness import Harness


@dataclasses.dataclass
class Workload:
    spec: WorkloadSpec
    src: dict[str, Path]  # fs name -> source root
    stats: corpus.TreeStats
    manifest: dict[str, dict[bytes, tuple[Any, ...]]]  # fs name -> manifest
    paths: list[BenchPath]
    rounds: int
    build_s: float = 0.0


def build_workload(h: Harness, spec: WorkloadSpec) -> Workload:
    t0 = time.perf_counter()
    paths = h.paths_for(spec)
    src = h.mnt("xfs") / "src" / spec.key
    log(f"building {spec.key}: {spec.title}")
    if spec.kind == "corpus":
        if h.smoke:
            h.wheels = make_fake_wheels(h.mnt("xfs") / "fake-wheels-build")
        corpus.unpack_all(src, h.wheels)
    elif spec.kind == "synth":
        make_synthetic(src, spec.size)
    elif spec.kind == "big":
        make_big(src, spec.size)
    elif spec.kind == "deep":
        make_deep(src, spec.size)
    else:
        raise ValueError(spec.kind)
    os.sync()
    srcs = {"xfs": src}
    # Every other source filesystem gets a plain (non-reflinked) copy of the tree.
    for fs in sorted({p.src_fs for p in paths} - {"xfs"}):
        other = h.mnt(fs) / "src" / spec.key
        run(["cp", "-a", "--reflink=never", "--sparse=never", src, other])
        srcs[fs] = other
    os.sync()
    stats = corpus.tree_stats(src)
    manifests = {fs: corpus.tree_manifest(p) for fs, p in srcs.items()}
    for fs, p in srcs.items():
        other = corpus.tree_stats(p)
        if other != stats:
            raise RuntimeError(f"source copy on {fs} differs: {other} != {stats}")
    w = Workload(
        spec=spec,
        src=srcs,
        stats=stats,
        manifest=manifests,
        paths=paths,
        rounds=h.rounds_for(spec),
    )
    w.build_s = time.perf_counter() - t0
    h.workloads[spec.key] = {
        "title": spec.title,
        "kind": spec.kind,
        "size": spec.size,
        "rounds": w.rounds,
        "paths": [p.key for p in paths],
        "stats": stats.as_dict(),
        "build_s": round(w.build_s, 2),
    }
    if spec.kind == "corpus":
        h.workloads[spec.key]["wheels"] = [wh.name for wh in h.wheels]
        h.workloads[spec.key]["pins"] = [] if h.smoke else list(corpus.PINS)
    log(f"  {stats.summary()}; built in {w.build_s:.1f}s")
    return w


def warm_sources(h: Harness, w: Workload) -> None:
    t0 = time.perf_counter()
    n = sum(warm(p) for p in w.src.values())
    log(f"  page cache warmed: {fmt_bytes(n)} read in {time.perf_counter() - t0:.1f}s")


# ---- running -------------------------------------------------------------------
