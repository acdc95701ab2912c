"""Per-file calls (issue 11, item 1): what one `clone_or_copy(src_file, dst_file)`
costs an installer that places files one by one, against `shutil.copy2` and, for
hard links, `os.link`, into a destination directory that already holds 10 or 10,000
entries. In-process; each round times N calls one after another (new names, sources
distinct small files on XFS), `sync` before each candidate's batch."""

from __future__ import annotations

import os
import random
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import PATH_BY_KEY, SEED, BenchPath
from .system import log, warm
from .trees import synth_size

if TYPE_CHECKING:
    from .harness import Harness

KEY = "per-file"
# (path, peer): a clone on one XFS and a copy across filesystems against copy2 (which
# copies: Python 3.11's copy2 uses sendfile, no clone), a hard link against os.link.
PAIRS = (("xfs-reflink", "copy2"), ("xfs-btrfs-copy", "copy2"), ("xfs-hardlink", "link"))
DIR_SIZES = (10, 10_000)
LABELS = {"fastlink": "fastlink", "copy2": "shutil.copy2", "link": "os.link"}
# The targets: fastlink's time per call as a multiple of the peer's.
TARGETS = {"copy2": 1.0, "link": 3.0}
FLAT_TARGET = 1.5  # 10,000 entries vs 10, for each candidate


def make_sources(root: Path, n: int) -> list[Path]:
    """*n* distinct files of corpus-like sizes (a few empty), some executable."""
    rng = random.Random(f"per-file-{SEED}-{n}")
    root.mkdir(parents=True)
    out = []
    for i in range(n):
        p = root / f"m{i:04d}{'.py' if i % 5 else '.so'}"
        p.write_bytes(rng.randbytes(synth_size(rng)))
        if i % 50 == 7:
            os.chmod(p, 0o755)
        out.append(p)
    return out


def fill(d: Path, entries: int) -> None:
    """*d* holding *entries* existing entries: empty files, like a package's modules."""
    d.mkdir(parents=True)
    for i in range(entries):
        os.close(os.open(d / f"e{i:05d}.py", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))


def caller(h: Harness, p: BenchPath, cand: str) -> Callable[[Path, Path], Any]:
    fl = h.fastlink
    if cand == "fastlink" and p.op == "hardlink":
        return lambda s, d: fl.clone_or_copy(s, d, methods="hardlink")
    if cand == "fastlink":
        return lambda s, d: fl.clone_or_copy(s, d)
    if cand == "copy2":
        return shutil.copy2
    if cand == "link":
        return os.link
    raise ValueError(cand)


class PerFileBench:
    def __init__(self, h: Harness) -> None:
        self.h = h
        a = h.args
        self.calls = 30 if h.smoke else a.per_file_calls
        self.rounds = 1 if h.smoke else a.per_file_rounds
        self.sources: list[Path] = []
        self.dirs: dict[tuple[str, int, str], Path] = {}

    def setup(self) -> None:
        h = self.h
        self.sources = make_sources(h.mnt("xfs") / "src" / KEY, self.calls)
        for pk, peer in PAIRS:
            p = PATH_BY_KEY[pk]
            for size in DIR_SIZES:
                for cand in ("fastlink", peer):
                    d = h.mnt(p.dst_fs) / "dst" / KEY / f"{pk}.{size}.{cand}"
                    fill(d, size)
                    self.dirs[(pk, size, cand)] = d
        os.sync()
        warm(h.mnt("xfs") / "src" / KEY)
        h.sections[KEY] = {
            "title": "per-file calls",
            "calls": self.calls,
            "rounds": self.rounds,
            "dir_sizes": list(DIR_SIZES),
            "pairs": [list(x) for x in PAIRS],
            "source_bytes": sum(s.stat().st_size for s in self.sources),
        }
        log(f"  {self.calls} source files; {len(self.dirs)} destination dirs filled")

    def warm_up(self) -> None:
        """A few untimed calls per pair and candidate: fastlink's first call sets up its
        worker pool and caches, which no round should pay for."""
        few = self.sources[: max(5, self.calls // 10)]
        for pk, peer in PAIRS:
            p = PATH_BY_KEY[pk]
            for cand in ("fastlink", peer):
                d = self.h.mnt(p.dst_fs) / "dst" / KEY / f"warm-up.{pk}.{cand}"
                d.mkdir()
                call = caller(self.h, p, cand)
                for src in few:
                    call(src, d / src.name)
                shutil.rmtree(d)

    def run(self) -> None:
        self.warm_up()
        for rnd in range(self.rounds):
            log(f"  {KEY}: round {rnd + 1}/{self.rounds}")
            for pk, peer in PAIRS:
                for size in DIR_SIZES:
                    cands = ["fastlink", peer]
                    k = rnd % 2
                    for slot, cand in enumerate(cands[k:] + cands[:k]):
                        self.one_batch(PATH_BY_KEY[pk], size, cand, rnd, slot)

    def one_batch(self, p: BenchPath, size: int, cand: str, rnd: int, slot: int) -> None:
        h = self.h
        d = self.dirs[(p.key, size, cand)]
        call = caller(h, p, cand)
        dsts = [d / f"r{rnd}-{s.name}" for s in self.sources]
        sample: dict[str, Any] = {
            "section": KEY,
            "workload": f"{KEY}-{size}",
            "path": p.key,
            "candidate": cand,
            "round": rnd,
            "slot": slot,
        }
        per_call: list[float] = []
        first: Any = None
        os.sync()
        try:
            for src, dst in zip(self.sources, dsts):
                t0 = time.perf_counter()
                r = call(src, dst)
                per_call.append(time.perf_counter() - t0)
                first = first if first is not None else r
        except Exception as e:
            sample.update(seconds=None, error=f"{type(e).__name__}: {e}")
            h.problem(f"{KEY} {p.key} {size} {cand} round {rnd + 1}: {sample['error']}")
        else:
            info: dict[str, Any] = {
                "calls": len(per_call),
                "median_call_s": statistics.median(per_call),
                "max_call_s": max(per_call),
            }
            if cand == "fastlink":
                info["method"] = first.method
            sample.update(seconds=sum(per_call), info=info)
            us = sample["seconds"] / len(per_call) * 1e6
            log(f"    r{rnd + 1} {p.key:<15} {size:>6} entries {cand:<9}{us:9.1f} µs/call")
            if rnd == 0:
                self.check(p, size, cand, dsts, sample)
        h.samples.append(sample)
        self.clean(d, size)

    def check(self, p: BenchPath, size: int, cand: str, dsts: list[Path], sample: dict) -> None:
        errors = []
        if cand == "fastlink" and sample["info"].get("method") != p.expected_method:
            errors.append(f"fastlink used {sample['info'].get('method')!r}")
        for src, dst in zip(self.sources, dsts):
            st, sd = os.stat(src), os.stat(dst)
            if sd.st_size != st.st_size or (p.op == "hardlink") != (sd.st_ino == st.st_ino):
                errors.append(f"{dst} is not a {p.op} of {src}")
                break
        self.h.verification.append(
            {
                "workload": f"{KEY}-{size}",
                "path": p.key,
                "candidate": cand,
                "ok": not errors,
                "errors": errors,
            }
        )
        sample["verified"] = not errors
        for e in errors:
            self.h.problem(f"{KEY} {p.key} {size} {cand}: verification: {e}")

    def clean(self, d: Path, size: int) -> None:
        """Back to *size* entries; anything else left there (staging) is a problem."""
        names = os.listdir(d)
        extra = [n for n in names if not n.startswith(("e", "r"))]
        for n in names:
            if n.startswith("e"):
                continue
            if (d / n).is_dir() and not (d / n).is_symlink():
                shutil.rmtree(d / n)
            else:
                os.unlink(d / n)
        if extra:
            self.h.problem(f"{KEY}: {d.name} had entries left beside the files: {extra[:3]}")


def run_section(h: Harness) -> None:
    log(f"{KEY}: single-file calls against shutil.copy2 and os.link")
    bench = PerFileBench(h)
    bench.setup()
    bench.run()
