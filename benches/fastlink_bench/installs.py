"""fastlink against uv, both timed as whole processes (issue 11, items 4 and 5).

uv: `uv pip install --offline --no-deps --link-mode=clone|hardlink|copy` of the wheel
files into a fresh venv, its cache warm on the source filesystem (XFS). fastlink:
`python install_proc.py`, which imports fastlink and calls
`clone_or_copy(tree, site_packages, dirs_exist_ok=True)` for each unpacked wheel tree
(on the same XFS) from a few threads. Both write into a fresh venv made by
`uv venv` (untimed), `sync` before every timed run, candidates interleaved per round.

Two workloads: "uv", the 6-wheel corpus; "packages", jupyterlab's 91-wheel closure.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import corpus  # benches/corpus.py

from . import verify, wheelsets
from .config import PATH_BY_KEY, BenchPath
from .system import first_file, fmt_bytes, log, warm
from .tools import Uv

if TYPE_CHECKING:
    from .harness import Harness

INSTALL_PROC = Path(__file__).resolve().parent / "install_proc.py"
CANDIDATES = ("fastlink", "fastlink-no-times", "uv")
LABELS = {
    "fastlink": "fastlink",
    "fastlink-no-times": "fastlink preserve_times=False",
    "uv": "uv",
    "python": "python -c 'import fastlink'",
}


@dataclasses.dataclass(frozen=True)
class InstallSpec:
    key: str  # the section key, and the workload key of its samples
    title: str
    paths: tuple[str, ...]
    smoke_wheels: int  # how many fake wheels a smoke run installs
    # The targets: the most fastlink may take, as a multiple of uv's time.
    targets: dict[tuple[str, str], float]


SPECS = {
    "uv": InstallSpec(
        "uv",
        "the 6-wheel corpus",
        ("xfs-reflink", "xfs-hardlink", "xfs-btrfs-copy", "xfs-tmpfs-copy"),
        2,
        {
            ("xfs-reflink", "fastlink"): 1.10,
            ("xfs-reflink", "fastlink-no-times"): 1.0,
            ("xfs-hardlink", "fastlink"): 1.0,
            ("xfs-btrfs-copy", "fastlink"): 0.7,
        },
    ),
    "packages": InstallSpec(
        "packages",
        "jupyterlab's dependency closure (91 wheels)",
        ("xfs-reflink", "xfs-hardlink", "xfs-btrfs-copy"),
        12,
        {
            ("xfs-reflink", "fastlink"): 0.9,
            ("xfs-hardlink", "fastlink"): 0.8,
            ("xfs-btrfs-copy", "fastlink"): 0.7,
        },
    ),
}


def candidates_for(p: BenchPath, have_uv: bool) -> list[str]:
    out = ["fastlink"]
    if p.op == "reflink":
        out.append("fastlink-no-times")  # what preserving times costs a clone
    if have_uv:
        out.append("uv")
    return out


class InstallBench:
    """One install workload: its wheels, their unpacked trees and uv's warm cache on XFS."""

    def __init__(self, h: Harness, spec: InstallSpec) -> None:
        self.h = h
        self.spec = spec
        self.root = h.mnt("xfs") / "src" / f"install-{spec.key}"
        self.wheels: list[Path] = []
        self.trees: list[Path] = []
        self.uv: Uv | None = None
        self.baseline: set[str] = set()  # the files of a fresh venv
        self.stats = corpus.TreeStats()
        a = h.args
        self.rounds = 1 if h.smoke else a.install_rounds
        self.workers = a.install_workers

    # ---- set-up (untimed) ------------------------------------------------------------
    def setup(self) -> None:
        h, spec = self.h, self.spec
        t0 = time.perf_counter()
        self.root.mkdir(parents=True)
        if h.smoke:
            got = wheelsets.smoke_wheels(self.root / "build", spec.smoke_wheels)
        elif spec.key == "packages":
            got = wheelsets.packages_wheels()
        else:
            got = wheelsets.corpus_wheels(h.args.cache_dir)
        wheel_dir = self.root / "wheels"  # uv reads the wheel files here, on XFS
        wheel_dir.mkdir()
        for wh in got:
            shutil.copy2(wh, wheel_dir / wh.name)
        self.wheels = [wheel_dir / wh.name for wh in got]
        trees = self.root / "trees"
        self.stats = corpus.unpack_all(trees, self.wheels)
        self.trees = [trees / corpus.wheel_stem(wh) for wh in self.wheels]
        if h.uv is not None:
            self.uv = Uv(h.uv, self.root / "uv-cache", h.mnt("xfs"))
            warm_venv = self.root / "warm-venv"
            self.uv.venv(warm_venv)
            self.baseline = verify.files_under(warm_venv)
            proc = self.uv.install(warm_venv, self.wheels, "copy")
            if proc.returncode != 0:
                raise RuntimeError(f"uv warm-up install failed: {proc.stderr.strip()[-800:]}")
            shutil.rmtree(warm_venv)
        os.sync()
        n = warm(trees) + (warm(self.root / "uv-cache") if self.uv else 0)
        h.sections[spec.key] = {
            "title": f"{len(got)} generated tiny wheels (smoke)" if h.smoke else spec.title,
            "wheels": [wh.name for wh in self.wheels],
            "requirements": "" if h.smoke or spec.key != "packages" else "packages-jupyterlab.txt",
            "stats": self.stats.as_dict(),
            "rounds": self.rounds,
            "workers": self.workers,
            "paths": list(spec.paths),
            "targets": [[p, c, t] for (p, c), t in spec.targets.items()],
            "uv_skip_reason": "" if self.uv else h.uv_skip_reason,
            "build_s": round(time.perf_counter() - t0, 2),
        }
        log(
            f"  {len(self.wheels)} wheels, {self.stats.summary()}; "
            f"{fmt_bytes(n)} read into the page cache"
        )

    # ---- the rounds ------------------------------------------------------------------
    def run(self) -> None:
        have_uv = self.uv is not None
        plan = [(PATH_BY_KEY[k], candidates_for(PATH_BY_KEY[k], have_uv)) for k in self.spec.paths]
        for rnd in range(self.rounds):
            log(f"  {self.spec.key}: round {rnd + 1}/{self.rounds}")
            self.time_python_start(rnd)
            for p, cands in plan:
                k = rnd % len(cands)
                for slot, cand in enumerate(cands[k:] + cands[:k]):
                    self.one_run(p, cand, rnd, slot)
        self.h.flush_pending()

    def fastlink_argv(self, p: BenchPath, cand: str, site: Path) -> list[str]:
        argv = [sys.executable, str(INSTALL_PROC), "--workers", str(self.workers)]
        if p.fastlink_methods:
            argv += ["--methods", p.fastlink_methods]
        if cand == "fastlink-no-times":
            argv.append("--no-preserve-times")
        return [*argv, str(site), *map(str, self.trees)]

    def time_python_start(self, rnd: int) -> None:
        """The interpreter's share of fastlink's time: a process that only imports it."""
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import fastlink"], env=fastlink_env(), check=True)
        t = time.perf_counter() - t0
        self.h.samples.append(self.sample("-", "python", rnd, 0) | {"seconds": t, "info": {}})

    def sample(self, path: str, cand: str, rnd: int, slot: int) -> dict[str, Any]:
        return {
            "section": self.spec.key,
            "workload": self.spec.key,
            "path": path,
            "candidate": cand,
            "round": rnd,
            "slot": slot,
        }

    def one_run(self, p: BenchPath, cand: str, rnd: int, slot: int) -> None:
        h = self.h
        h.flush_pending()
        venv = h.mnt(p.dst_fs) / "dst" / f"install-{self.spec.key}.{p.key}.{cand}.r{rnd}"
        sample = self.sample(p.key, cand, rnd, slot)
        try:
            if self.uv is not None:
                self.uv.venv(venv)
            site = venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
            site = site / "site-packages"
            site.mkdir(parents=True, exist_ok=True)
            os.sync()
            seconds, info = self.timed(p, cand, venv, site)
            sample.update(seconds=seconds, info=info)
        except Exception as e:
            sample.update(seconds=None, error=f"{type(e).__name__}: {e}")
            h.problem(f"{self.spec.key} {p.key} {cand} round {rnd + 1}: {sample['error']}")
        h.pending_rm.append(venv)
        h.samples.append(sample)
        if sample["seconds"] is None:
            return
        log(f"    r{rnd + 1} {p.key:<15} {cand:<18}{sample['seconds']:8.3f}s")
        if rnd == 0:
            self.check(p, cand, venv, site, sample)

    def timed(
        self, p: BenchPath, cand: str, venv: Path, site: Path
    ) -> tuple[float, dict[str, Any]]:
        if cand == "uv":
            assert self.uv is not None
            t0 = time.perf_counter()
            proc = self.uv.install(venv, self.wheels, p.uv_link_mode)
            t = time.perf_counter() - t0
            if proc.returncode != 0:
                raise RuntimeError(f"uv exited {proc.returncode}: {proc.stderr.strip()[-800:]}")
            return t, uv_info((proc.stderr + proc.stdout).strip())
        argv = self.fastlink_argv(p, cand, site)
        t0 = time.perf_counter()
        proc = subprocess.run(
            argv, env=fastlink_env(), cwd=self.h.mnt("xfs"), capture_output=True, text=True
        )
        t = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"fastlink exited {proc.returncode}: {proc.stderr.strip()[-800:]}")
        return t, json.loads(proc.stdout.strip().splitlines()[-1])

    def check(self, p: BenchPath, cand: str, venv: Path, site: Path, sample: dict) -> None:
        """First round: every wheel file is there; fastlink's reports add up."""
        if cand == "uv":
            errors = verify.verify_site_packages(venv, self.trees, exact=False)
            sample["info"]["extras"] = verify.installer_extras(venv, self.baseline, self.trees)
        else:
            errors = verify.verify_site_packages(site, self.trees, exact=True)
            info = sample["info"]
            if info.get("methods") != [p.expected_method]:
                errors.append(f"fastlink used {info.get('methods')}, expected {p.expected_method}")
            if (info.get("files"), info.get("bytes")) != (self.stats.files, self.stats.bytes):
                errors.append(f"reports add up to {info.get('files')} files, {info.get('bytes')} B")
        if p.op == "hardlink" and not errors:
            f = first_file(site)
            if f is not None and os.stat(f).st_nlink < 2:
                errors.append(f"{f} is not hard-linked (st_nlink = 1)")
        ok = not errors
        self.h.verification.append(
            {
                "workload": self.spec.key,
                "path": p.key,
                "candidate": cand,
                "ok": ok,
                "errors": errors,
            }
        )
        sample["verified"] = ok
        for e in errors:
            self.h.problem(f"{self.spec.key} {p.key} {cand}: verification: {e}")


def fastlink_env() -> dict[str, str]:
    """The environment without FASTLINK_METHODS, which would override the defaults."""
    return {k: v for k, v in os.environ.items() if k != "FASTLINK_METHODS"}


def uv_info(out: str) -> dict[str, Any]:
    """uv's own reported install time, and any line it printed that is not routine."""
    info: dict[str, Any] = {}
    m = re.search(r"Installed (\d+) packages? in ([\d.]+)(ms|s)\b", out)
    if m:
        info["uv_reported_s"] = float(m.group(2)) / (1000 if m.group(3) == "ms" else 1)
    routine = r"\s*(Prepared|Installed|Resolved|Audited|Using Python|\+)"
    odd = [ln for ln in out.splitlines() if ln.strip() and not re.match(routine, ln)]
    if odd:
        info["uv_output"] = odd[:10]
    return info


def run_section(h: Harness, key: str) -> None:
    spec = SPECS[key]
    log(f"installs: {spec.key}, {spec.title}: fastlink and uv as whole processes")
    bench = InstallBench(h, spec)
    bench.setup()
    bench.run()
