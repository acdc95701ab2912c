"""The main comparison: the Harness sets up the filesystems, builds each workload's
source tree, and runs every (path, candidate) pair interleaved round by round, keeping
every sample; result() is what bench.json holds."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import sys
import time
from pathlib import Path
from typing import Any

import corpus  # benches/corpus.py

from . import candidates, rss, verify
from .config import (
    FS_NAMES,
    FULL_SIZES,
    FULL_WORKLOADS,
    PATH_BY_KEY,
    PATHS,
    SCHEMA,
    SEED,
    SMOKE_SIZES,
    SMOKE_WORKLOADS,
    THREAD_PATHS,
    BenchPath,
    GiB,
    MiB,
    WorkloadSpec,
)
from .mounts import Mounts
from .sections import ONLY_CHOICES, SECTIONS, Section
from .sources import Workload, build_workload, warm_sources
from .system import (
    default_threads,
    fmt_bytes,
    log,
    machine_info,
    meminfo,
    rm_rf,
    run,
    used_bytes,
    versions,
)
from .tools import find_uv, setup_floor
from .trees import make_synthetic


class Harness:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.smoke: bool = args.smoke
        self.fastlink: Any = None
        self.mounts: Mounts | None = None
        self.floor: Path | None = None
        self.floor_skip_reason = ""
        self.uv: str | None = None
        self.uv_skip_reason = ""
        self.wheels: list[Path] = []
        self.samples: list[dict[str, Any]] = []
        self.skips: list[dict[str, str]] = []
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.verification: list[dict[str, Any]] = []
        self.rss: list[dict[str, Any]] = []
        self.workloads: dict[str, dict[str, Any]] = {}
        self.sections: dict[str, dict[str, Any]] = {}  # sections.py's, by key
        self.only: set[str] = set(args.only.split(",")) if args.only else set(ONLY_CHOICES)
        self.pending_rm: list[Path] = []
        self.started = datetime.datetime.now(datetime.timezone.utc)
        self.threads_default = default_threads()
        self.fs_info: dict[str, dict[str, Any]] = {}
        self.tmpfs_big_ok = True
        self.specs: tuple[WorkloadSpec, ...] = ()

    # ---- setup ---------------------------------------------------------------------
    def mnt(self, fs: str) -> Path:
        assert self.mounts is not None
        return self.mounts.mnt[fs]

    def setup(self) -> None:
        import fastlink

        self.fastlink = fastlink
        if "main" in self.only:
            self.setup_floor()
        else:
            self.floor_skip_reason = "the main comparison was not run (--only)"
        if self.only & {"uv", "packages"}:
            self.uv, self.uv_skip_reason = find_uv(no_uv=self.args.no_uv, smoke=self.smoke)
        specs = SMOKE_WORKLOADS if self.smoke else FULL_WORKLOADS
        if "main" not in self.only:
            specs = ()
        if self.args.workloads:
            wanted = set(self.args.workloads.split(","))
            unknown = wanted - {s.key for s in specs}
            if unknown:
                raise SystemExit(f"unknown workload(s): {', '.join(sorted(unknown))}")
            specs = tuple(s for s in specs if s.key in wanted)
        self.specs = specs
        if any(s.kind == "corpus" for s in specs):
            if self.smoke:
                self.wheels = []  # made on the mount in build_workload
            else:
                self.wheels = corpus.ensure_wheels(self.args.cache_dir)

        sizes = dict(SMOKE_SIZES if self.smoke else FULL_SIZES)
        for fs, size in (self.args.image_size or {}).items():
            sizes[fs] = size
        big = max((s.size for s in specs if s.kind == "big"), default=0)
        if big:
            want = big + (256 * MiB if self.smoke else 1 * GiB)
            avail = meminfo("MemAvailable")
            # The 4 GiB case keeps the source (xfs, btrfs) and the tmpfs copy in RAM at once.
            if avail and avail < 3 * big + 2 * GiB and not self.smoke:
                self.tmpfs_big_ok = False
                log(
                    f"only {fmt_bytes(avail)} of RAM available: the tmpfs leg of the "
                    f"{fmt_bytes(big)} case will be skipped"
                )
            else:
                sizes["tmpfs"] = max(sizes["tmpfs"], want)
        self.mounts = Mounts(self.args.workdir)
        self.fs_info = self.mounts.info
        log(f"workdir {self.mounts.tmp}")
        for fs in FS_NAMES:
            self.mounts.mount(fs, sizes[fs])
            for sub in ("src", "dst"):
                (self.mnt(fs) / sub).mkdir()
        log(
            "mounted "
            + ", ".join(f"{fs} ({fmt_bytes(sizes[fs])})" for fs in FS_NAMES)
            + f"; fastlink default threads = {self.threads_default}"
        )
        # One untimed data copy onto each filesystem, so no first timed run pays for a
        # fresh filesystem's first allocations.
        warm_tree = self.mnt("xfs") / "fs-warmup"
        make_synthetic(warm_tree, 300 if self.smoke else 3000, seed=SEED + 1)
        for fs in FS_NAMES:
            tmp = self.mnt(fs) / "dst" / "fs-warmup"
            run(["cp", "-a", warm_tree, tmp])
            rm_rf(tmp)
        rm_rf(warm_tree)
        os.sync()

    def setup_floor(self) -> None:
        self.floor, self.floor_skip_reason = setup_floor(
            no_floor=self.args.no_floor, smoke=self.smoke
        )

    # ---- workloads -----------------------------------------------------------------
    def paths_for(self, spec: WorkloadSpec) -> list[BenchPath]:
        keys = [p.key for p in PATHS]
        if self.args.paths:
            keys = [k for k in self.args.paths.split(",") if k in PATH_BY_KEY]
        return [PATH_BY_KEY[k] for k in keys]

    def rounds_for(self, spec: WorkloadSpec) -> int:
        if self.smoke:
            return 1
        given = self.args.rounds_large if spec.large else self.args.rounds
        return int(given or spec.rounds)

    def candidates_for(self, w: Workload, p: BenchPath) -> list[str]:
        out = ["fastlink", "cp"]
        if p.op != "hardlink":
            out.append("copytree")
        if self.floor is not None:
            out.append("floor")
        if self.args.candidates:
            sel = set(self.args.candidates.split(","))
            out = [c for c in out if c in sel]
        return out

    def skip_reasons(self, w: Workload, p: BenchPath) -> dict[str, str]:
        reasons = {}
        if p.op == "hardlink":
            reasons["copytree"] = "copytree cannot hard-link"
        if self.floor is None:
            reasons["floor"] = self.floor_skip_reason
        return reasons

    def flush_pending(self) -> None:
        for d in self.pending_rm:
            rm_rf(d)
        self.pending_rm.clear()

    def one_run(
        self,
        section: str,
        w: Workload,
        p: BenchPath,
        cand: str,
        rnd: int,
        slot: int,
        threads: int | None = None,
    ) -> None:
        suffix = f"-t{threads}" if threads else ""
        dst = self.mnt(p.dst_fs) / "dst" / f"{w.spec.key}.{p.key}.{cand}{suffix}.r{rnd}"
        self.flush_pending()
        sample: dict[str, Any] = {
            "section": section,
            "workload": w.spec.key,
            "path": p.key,
            "candidate": cand,
            "round": rnd,
            "slot": slot,
        }
        if threads:
            sample["threads"] = threads
        check_root = dst
        try:
            check_root = candidates.prepare(self, w, p, cand, dst)
            os.sync()
            used_before = used_bytes(self.mnt(p.dst_fs)) if rnd == 0 else 0
            seconds, wall, info = candidates.timed(self, w, p, cand, check_root, threads)
            sample.update(seconds=seconds, wall_s=wall, info=info)
        except Exception as e:
            sample.update(seconds=None, error=f"{type(e).__name__}: {e}")
            self.problem(f"{w.spec.key} {p.key} {cand}{suffix} round {rnd + 1}: {sample['error']}")
        self.pending_rm.append(dst)
        self.samples.append(sample)
        if sample["seconds"] is None:
            return
        shown = f"{sample['seconds']:8.3f}s"
        if cand == "floor":
            shown += f" (wall {wall:.3f}s)"
        if "method" in sample["info"]:
            shown += f"  method={sample['info']['method']}"
        log(f"    r{rnd + 1} {p.key:<15} {cand + suffix:<17}{shown}")
        if cand == "fastlink" and info.get("method") != p.expected_method:
            self.problem(
                f"{w.spec.key} {p.key} {cand}{suffix}: fastlink used {info.get('method')!r}, "
                f"expected {p.expected_method!r}"
            )
        if rnd == 0:
            os.sync()
            sample["space_used_bytes"] = used_bytes(self.mnt(p.dst_fs)) - used_before
            self.verify(w, p, cand + suffix, check_root, sample)

    def problem(self, msg: str) -> None:
        log(f"PROBLEM: {msg}")
        self.problems.append(msg)

    def verify(self, w: Workload, p: BenchPath, cand: str, dst: Path, sample: dict) -> None:
        errors = verify.output_errors(w, p, cand, dst, sample)
        ok = not errors
        self.verification.append(
            {"workload": w.spec.key, "path": p.key, "candidate": cand, "ok": ok, "errors": errors}
        )
        sample["verified"] = ok
        for e in errors:
            self.problem(f"{w.spec.key} {p.key} {cand}: verification: {e}")

    def run_workload(self, w: Workload) -> None:
        t0 = time.perf_counter()
        plan: list[tuple[BenchPath, list[str]]] = []
        for p in w.paths:
            if w.spec.kind == "big" and p.dst_fs == "tmpfs" and not self.tmpfs_big_ok:
                self.skip(w, p, "*", "not enough RAM for a tmpfs holding the big file")
                continue
            cands = self.candidates_for(w, p)
            for cand, why in self.skip_reasons(w, p).items():
                if cand not in cands:
                    self.skip(w, p, cand, why, quiet=True)
            plan.append((p, cands))
        for rnd in range(w.rounds):
            log(f"  {w.spec.key}: round {rnd + 1}/{w.rounds}")
            for p, cands in plan:
                k = rnd % len(cands)
                for slot, cand in enumerate(cands[k:] + cands[:k]):
                    self.one_run("main", w, p, cand, rnd, slot)
        self.flush_pending()
        log(f"  {w.spec.key} done in {time.perf_counter() - t0:.0f}s")

    def skip(self, w: Workload, p: BenchPath, cand: str, why: str, quiet: bool = False) -> None:
        self.skips.append({"workload": w.spec.key, "path": p.key, "candidate": cand, "reason": why})
        if not quiet:
            log(f"  skipped: {w.spec.key} {p.key} {cand}: {why}")

    def run_threads(self, w: Workload) -> None:
        threads = [int(t) for t in self.args.threads_list.split(",")]
        paths = [PATH_BY_KEY[k] for k in THREAD_PATHS if PATH_BY_KEY[k] in w.paths]
        log(f"thread sweep on {w.spec.key}: threads {threads}, {self.args.thread_rounds} rounds")
        for rnd in range(self.args.thread_rounds):
            for p in paths:
                k = rnd % len(threads)
                for slot, t in enumerate(threads[k:] + threads[:k]):
                    self.one_run("threads", w, p, "fastlink", rnd, slot, threads=t)
        self.flush_pending()

    def run_rss(self, w: Workload) -> None:
        rss.run_rss(self, w)

    # ---- the whole run --------------------------------------------------------------
    def run(self) -> None:
        self.setup()
        for spec in self.specs:
            if spec.kind == "big":
                continue  # last: 2 x 4 GiB of sources push everything else out of the cache
            self.run_spec(spec)
        for section in SECTIONS:
            if section.key in self.only:
                self.run_section(section)
        for spec in self.specs:
            if spec.kind == "big":
                self.run_spec(spec)

    def run_spec(self, spec: WorkloadSpec) -> None:
        w = build_workload(self, spec)
        warm_sources(self, w)
        self.run_workload(w)
        if spec.kind == "corpus" and not self.args.skip_threads:
            self.run_threads(w)
        rss_key = "synth-200" if self.smoke else "synth-100k"
        if spec.key == rss_key and not self.args.skip_rss:
            self.run_rss(w)

    def run_section(self, section: Section) -> None:
        t0 = time.perf_counter()
        try:
            section.run(self)
        except Exception as e:
            self.problem(f"{section.key}: {type(e).__name__}: {e}")
        finally:
            self.flush_pending()
        log(f"  {section.key} done in {time.perf_counter() - t0:.0f}s")

    def close(self) -> None:
        if self.mounts is not None:
            self.pending_rm.clear()  # the destinations go with their filesystems
            self.mounts.close()
            self.mounts = None

    def result(self, aborted: str | None = None) -> dict[str, Any]:
        finished = datetime.datetime.now(datetime.timezone.utc)
        return {
            "schema": SCHEMA,
            "mode": "smoke" if self.smoke else "full",
            "aborted": aborted,
            "started": self.started.isoformat(timespec="seconds"),
            "finished": finished.isoformat(timespec="seconds"),
            "wall_s": round((finished - self.started).total_seconds(), 1),
            "argv": sys.argv[1:],
            "machine": machine_info(),
            "versions": versions(self.fastlink, self.uv, self.floor),
            "filesystems": self.fs_info,
            "config": {
                "rounds": self.args.rounds,
                "rounds_large": self.args.rounds_large,
                "thread_rounds": self.args.thread_rounds,
                "only": sorted(self.only),
                "install_rounds": self.args.install_rounds,
                "install_workers": self.args.install_workers,
                "per_file_calls": self.args.per_file_calls,
                "per_file_rounds": self.args.per_file_rounds,
                "seeding_rounds": self.args.seeding_rounds,
                "threads_list": self.args.threads_list,
                "fastlink_default_threads": self.threads_default,
                "floor_threads": self.threads_default,
                "floor": str(self.floor) if self.floor else None,
                "floor_skip_reason": self.floor_skip_reason,
                "uv": self.uv,
                "uv_skip_reason": self.uv_skip_reason,
                "tmpfs_big_ok": self.tmpfs_big_ok,
            },
            "paths": [dataclasses.asdict(p) | {"label": p.label} for p in PATHS],
            "workloads": self.workloads,
            "sections": self.sections,
            "samples": self.samples,
            "skips": self.skips,
            "verification": self.verification,
            "rss": self.rss,
            "problems": self.problems,
            "notes": self.notes,
        }
