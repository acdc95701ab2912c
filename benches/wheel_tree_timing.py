#!/usr/bin/env python3
"""Time copying an unpacked-wheel tree (benches/corpus.py) with fastlink, cp and copytree.

Root only: it makes two sparse 2 GiB images in a fresh temp dir, loop-mounts one as
XFS (reflink=1) and one as btrfs, unpacks the corpus onto XFS (the source), and then,
for each round, times every candidate once, in an order rotated per round:

    fastlink  xfs   fastlink.clone_or_copy(src, xfs/dst)        (expects method "reflink")
    fastlink  btrfs fastlink.clone_or_copy(src, btrfs/dst)      (expects method "copy")
    cp        xfs   cp -a --reflink=auto src xfs/dst
    cp        btrfs cp -a --reflink=auto src btrfs/dst
    copytree  xfs   shutil.copytree(src, xfs/dst, symlinks=True)
    copytree  btrfs shutil.copytree(src, btrfs/dst, symlinks=True)

Before each timed run the previous destination is removed and `sync` is run; no caches
are dropped (the source is read once up front so its page cache is warm, and one
untimed `cp -a --reflink=never` onto each filesystem, deleted again, takes the fresh-
filesystem allocation cost out of the first timed run; --warmup 0 skips it). Only the
call itself is inside the time.perf_counter() pair; writeback of the copy happens in the
untimed sync that follows. The first round's destinations are checked against the
source (counts, bytes, per-entry kind/mode/size/link target/mtime).

    sudo .venv/bin/python benches/wheel_tree_timing.py --rounds 5 --json out.json

Prints a markdown table (stdout); progress goes to stderr. The images are always
unmounted and deleted, also on errors and on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # benches/corpus.py

FS_KINDS = ("xfs", "btrfs")
IMPLS = ("fastlink", "cp", "copytree")
EXPECTED_METHOD = {"xfs": "reflink", "btrfs": "copy"}  # fastlink's report.method, src on XFS


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kw)


def sync() -> None:
    os.sync()


def fs_type(mountpoint: Path) -> str | None:
    mp = os.path.realpath(mountpoint)
    found = None
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[1].encode().decode("unicode_escape") == mp:
                found = parts[2]  # last one wins (stacked mounts)
    return found


def used_bytes(mountpoint: Path) -> int:
    st = os.statvfs(mountpoint)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def warm(root: Path) -> int:
    """Read every regular file under root once; return bytes read."""
    total = 0
    buf = bytearray(1 << 20)
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = os.path.join(dirpath, name)
            if os.path.islink(p):
                continue
            with open(p, "rb", buffering=0) as f:
                while n := f.readinto(buf):
                    total += n
    return total


def tool_version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
        return out.splitlines()[0] if out else "?"
    except OSError:
        return "?"


class Bench:
    def __init__(self, args: argparse.Namespace, fastlink_mod) -> None:
        self.args = args
        self.fastlink = fastlink_mod
        self.tmp: Path | None = None
        self.images: list[Path] = []
        self.mounted: list[Path] = []
        self.mnt: dict[str, Path] = {}

    # ---- setup / teardown -------------------------------------------------------------
    def setup(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="fastlink-bench-", dir=self.args.workdir))
        log(f"workdir {self.tmp}")
        mkfs = {"xfs": ["mkfs.xfs", "-q", "-m", "reflink=1"], "btrfs": ["mkfs.btrfs", "-q"]}
        for kind in FS_KINDS:
            img = self.tmp / f"{kind}.img"
            with open(img, "wb") as f:
                f.truncate(self.args.image_size)
            self.images.append(img)
            proc = subprocess.run(mkfs[kind] + [str(img)], capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"{' '.join(mkfs[kind])} failed: {proc.stderr.strip()}")
            mnt = self.tmp / f"mnt-{kind}"
            mnt.mkdir()
            run(["mount", "-o", "loop", str(img), str(mnt)])
            self.mounted.append(mnt)
            actual = fs_type(mnt)
            if actual != kind:
                raise RuntimeError(f"{mnt} mounted as {actual!r}, expected {kind!r}")
            self.mnt[kind] = mnt

    def teardown(self) -> None:
        for mnt in reversed(self.mounted):
            for attempt in range(6):
                proc = subprocess.run(["umount", str(mnt)], capture_output=True, text=True)
                if proc.returncode == 0:
                    break
                time.sleep(0.5 * (attempt + 1))
            else:
                log(f"umount {mnt} failed ({proc.stderr.strip()}); lazy-unmounting")
                subprocess.run(["umount", "-l", str(mnt)])
        self.mounted.clear()
        for img in self.images:
            with contextlib.suppress(FileNotFoundError):
                img.unlink()
        self.images.clear()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            if self.tmp.exists():
                log(f"warning: could not remove {self.tmp}")
            self.tmp = None

    # ---- candidates ---------------------------------------------------------------------
    def candidates(self) -> list[tuple[str, str]]:
        wanted = [(impl, fs) for impl in IMPLS for fs in FS_KINDS]
        if self.args.candidates:
            sel = {c.strip() for c in self.args.candidates.split(",") if c.strip()}
            wanted = [c for c in wanted if c[0] in sel or f"{c[0]}:{c[1]}" in sel]
        if self.fastlink is None:
            wanted = [c for c in wanted if c[0] != "fastlink"]
        if not wanted:
            raise SystemExit("no candidates selected")
        return wanted

    def action(self, impl: str, src: Path, dst: Path) -> Callable[[], object]:
        if impl == "fastlink":
            fl = self.fastlink
            return lambda: fl.clone_or_copy(src, dst)
        if impl == "cp":
            cmd = ["cp", "-a", "--reflink=auto", str(src), str(dst)]
            return lambda: subprocess.run(cmd)
        if impl == "copytree":
            return lambda: shutil.copytree(src, dst, symlinks=True)
        raise ValueError(impl)

    # ---- main loop -------------------------------------------------------------------------
    def run(self) -> dict:
        args = self.args
        wheels = corpus.ensure_wheels(args.cache_dir)
        self.setup()
        src = self.mnt["xfs"] / "src"
        log(f"unpacking corpus onto XFS: {src}")
        t0 = time.perf_counter()
        unpacked = corpus.unpack_all(src, wheels)
        log(f"  {unpacked.summary()} in {time.perf_counter() - t0:.1f}s")
        sync()
        src_stats = corpus.tree_stats(src)
        src_manifest = corpus.tree_manifest(src)
        t0 = time.perf_counter()
        nread = warm(src)
        log(f"  warmed source page cache: {nread / 1e6:.1f} MB in {time.perf_counter() - t0:.1f}s")

        probes = {}
        if self.fastlink is not None and hasattr(self.fastlink, "probe"):
            for fs in FS_KINDS:
                try:
                    probes[fs] = dict(self.fastlink.probe(src, self.mnt[fs]))
                except Exception as e:  # informative only
                    probes[fs] = {"error": repr(e)}
            log(f"  fastlink.probe: {probes}")

        # Untimed warm-up: one full data copy onto each filesystem, then removed, so the
        # first timed run doesn't pay for a fresh filesystem's first chunk/inode allocation.
        for w in range(args.warmup):
            for fs in FS_KINDS:
                tmpdst = self.mnt[fs] / f"warmup-{w}"
                run(["cp", "-a", "--reflink=never", str(src), str(tmpdst)])
                shutil.rmtree(tmpdst)
            sync()
        if args.warmup:
            log(f"  warm-up: {args.warmup} untimed cp --reflink=never to each filesystem")

        cands = self.candidates()
        samples: dict[str, list[float]] = {f"{i}:{f}": [] for i, f in cands}
        info: dict[str, dict] = {f"{i}:{f}": {"impl": i, "fs": f} for i, f in cands}
        problems: list[str] = []
        orders: list[list[str]] = []
        prev_dst: Path | None = None

        for rnd in range(args.rounds):
            k = rnd % len(cands)
            order = cands[k:] + cands[:k]  # rotate: each candidate visits each slot
            orders.append([f"{i}:{f}" for i, f in order])
            for impl, fs in order:
                key = f"{impl}:{fs}"
                dst = self.mnt[fs] / f"dst-r{rnd}-{impl}"
                if prev_dst is not None:
                    shutil.rmtree(prev_dst)
                    prev_dst = None
                sync()
                used_before = used_bytes(self.mnt[fs]) if rnd == 0 else 0
                fn = self.action(impl, src, dst)

                t0 = time.perf_counter()
                result = fn()
                elapsed = time.perf_counter() - t0

                prev_dst = dst
                samples[key].append(elapsed)
                if impl == "cp" and result.returncode != 0:
                    problems.append(f"{key} round {rnd}: cp exited {result.returncode}")
                if impl == "fastlink":
                    method = getattr(result, "method", None)
                    info[key].setdefault("methods", []).append(method)
                    if method != EXPECTED_METHOD[fs]:
                        problems.append(
                            f"{key} round {rnd}: report.method={method!r}, "
                            f"expected {EXPECTED_METHOD[fs]!r}"
                        )
                    if rnd == 0:
                        info[key]["report"] = repr(result)
                        rep = {
                            a: getattr(result, a, None)
                            for a in (
                                "files",
                                "dirs",
                                "symlinks",
                                "bytes",
                                "reflinked",
                                "copied",
                                "hardlinked",
                                "elapsed",
                            )
                        }
                        rep["skipped"] = [list(s) for s in getattr(result, "skipped", ())]
                        info[key]["report_fields"] = rep
                        for a in ("files", "dirs", "symlinks", "bytes"):
                            if rep[a] is not None and rep[a] != getattr(src_stats, a):
                                problems.append(
                                    f"{key}: report.{a}={rep[a]} but source has "
                                    f"{getattr(src_stats, a)}"
                                )
                log(
                    f"  round {rnd + 1}/{args.rounds} {key:<15} {elapsed:8.3f}s"
                    + (f"  method={result.method}" if impl == "fastlink" else "")
                )
                if rnd == 0:
                    sync()
                    info[key]["space_used_bytes"] = used_bytes(self.mnt[fs]) - used_before
                    problems += self.verify(key, src_stats, src_manifest, dst)
                    info[key]["verified"] = not any(p.startswith(key + ":") for p in problems)
        if prev_dst is not None:
            shutil.rmtree(prev_dst)

        results = {}
        for key, ts in samples.items():
            results[key] = {
                **info[key],
                "samples_s": ts,
                "median_s": statistics.median(ts),
                "min_s": min(ts),
                "max_s": max(ts),
                "stdev_s": statistics.stdev(ts) if len(ts) > 1 else 0.0,
            }
        ratios = {}
        for fs in FS_KINDS:
            fl = results.get(f"fastlink:{fs}")
            if not fl:
                continue
            r = {}
            for other in ("cp", "copytree"):
                o = results.get(f"{other}:{fs}")
                if o:
                    r[f"fastlink/{other}"] = fl["median_s"] / o["median_s"]
            ratios[fs] = r
        return {
            "env": self.env(),
            "rounds": args.rounds,
            "orders": orders,
            "corpus": {
                "pins": list(corpus.PINS),
                "wheels": [w.name for w in wheels],
                "source": src_stats.as_dict(),
            },
            "fastlink_probe": probes,
            "results": results,
            "ratios": ratios,
            "problems": problems,
        }

    def verify(self, key: str, src_stats, src_manifest, dst: Path) -> list[str]:
        out = []
        if not dst.is_dir():
            return [f"{key}: destination {dst} missing"]
        st = corpus.tree_stats(dst)
        for a in ("files", "dirs", "symlinks", "bytes"):
            if getattr(st, a) != getattr(src_stats, a):
                out.append(f"{key}: dst {a}={getattr(st, a)} != src {getattr(src_stats, a)}")
        man = corpus.tree_manifest(dst)
        if man != src_manifest:
            diff = [p for p in set(man) | set(src_manifest) if man.get(p) != src_manifest.get(p)]
            kinds = set()
            for p in diff:
                a, b = man.get(p), src_manifest.get(p)
                if a is None or b is None:
                    kinds.add("missing" if a is None else "extra")
                else:
                    kinds.update(
                        n
                        for n, x, y in zip(("kind", "mode", "size/target", "mtime"), a, b)
                        if x != y
                    )
            ex = [(os.fsdecode(p), man.get(p), src_manifest.get(p)) for p in sorted(diff)[:2]]
            out.append(
                f"{key}: {len(diff)} entries differ from source ({', '.join(sorted(kinds))}),"
                f" e.g. (path, dst, src): {ex!r}"
            )
        return out

    def env(self) -> dict:
        fl = self.fastlink
        return {
            "python": sys.version.split()[0],
            "executable": sys.executable,
            "kernel": platform.release(),
            "cpus": os.cpu_count(),
            "fastlink": getattr(fl, "__version__", "?") if fl else None,
            "fastlink_file": getattr(fl, "__file__", None) if fl else None,
            "cp": tool_version(["cp", "--version"]),
            "mkfs.xfs": tool_version(["mkfs.xfs", "-V"]),
            "mkfs.btrfs": tool_version(["mkfs.btrfs", "--version"]),
            "image_size": self.args.image_size,
            "warmup": self.args.warmup,
        }


def markdown(res: dict) -> str:
    lines = []
    src = res["corpus"]["source"]
    lines.append(
        f"Corpus: {src['files']:,} files, {src['dirs']:,} dirs, "
        f"{src['bytes'] / 1e6:.1f} MB on XFS (reflink=1); "
        f"{res['rounds']} rounds, medians; kernel {res['env']['kernel']}, "
        f"Python {res['env']['python']}, fastlink {res['env']['fastlink']}"
    )
    lines.append("")
    lines.append(
        "| candidate | dst fs | median s | min s | max s | MB/s | space used (round 1) "
        "| fastlink method | verified |"
    )
    lines.append("|---|---|---:|---:|---:|---:|---:|---|---|")
    label = {
        "fastlink": "fastlink.clone_or_copy",
        "cp": "cp -a --reflink=auto",
        "copytree": "shutil.copytree",
    }
    for _key, r in res["results"].items():
        mbps = src["bytes"] / 1e6 / r["median_s"] if r["median_s"] > 0 else float("inf")
        methods = sorted(set(m for m in r.get("methods", []) if m is not None))
        lines.append(
            f"| {label[r['impl']]} | xfs → {r['fs']} | {r['median_s']:.3f} | {r['min_s']:.3f} | "
            f"{r['max_s']:.3f} | {mbps:,.0f} | {r.get('space_used_bytes', 0) / 1e6:.1f} MB | "
            f"{', '.join(methods) if methods else '-'} | {'yes' if r.get('verified') else 'NO'} |"
        )
    if res["ratios"]:
        lines.append("")
        lines.append("| path | fastlink / cp -a | fastlink / copytree |")
        lines.append("|---|---:|---:|")
        for fs, r in res["ratios"].items():
            a = r.get("fastlink/cp")
            b = r.get("fastlink/copytree")
            lines.append(
                f"| xfs → {fs} | {f'{a:.2f}' if a else '-'} | {f'{b:.2f}' if b else '-'} |"
            )
        lines.append("")
        lines.append(
            "Ratios are median time of fastlink divided by median time of the other tool "
            "(< 1: fastlink faster)."
        )
    if res["problems"]:
        lines.append("")
        lines.append("**Problems:**")
        lines += [f"- {p}" for p in res["problems"]]
    return "\n".join(lines)


def parse_size(s: str) -> int:
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    s = s.strip().upper().removesuffix("IB").removesuffix("B")
    if s and s[-1] in mult:
        return int(float(s[:-1]) * mult[s[-1]])
    return int(s)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", type=Path, metavar="FILE", help="also write results as JSON")
    ap.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="untimed full copies onto each fs before round 1 (default 1; 0 = none)",
    )
    ap.add_argument(
        "--workdir",
        default=None,
        help="where to make the temp dir holding images/mounts (default: $TMPDIR)",
    )
    ap.add_argument("--image-size", type=parse_size, default=2 << 30, help="default 2G")
    ap.add_argument("--cache-dir", type=Path, default=corpus.DEFAULT_CACHE_DIR)
    ap.add_argument(
        "--candidates",
        default=None,
        help="comma list to restrict, e.g. 'cp,copytree' or 'fastlink:xfs'",
    )
    ap.add_argument(
        "--no-fastlink",
        action="store_true",
        help="run without fastlink (only cp/copytree); for testing the harness",
    )
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error("--rounds must be >= 1")
    if os.geteuid() != 0:
        print(
            "wheel_tree_timing.py must run as root (it makes and loop-mounts filesystems)",
            file=sys.stderr,
        )
        return 2
    for tool in ("mkfs.xfs", "mkfs.btrfs", "mount", "umount", "cp"):
        if shutil.which(tool) is None:
            print(f"missing tool: {tool}", file=sys.stderr)
            return 2

    fastlink_mod = None
    if not args.no_fastlink:
        try:
            import fastlink as fastlink_mod  # from whatever interpreter runs this script
        except ImportError as e:
            print(
                f"cannot import fastlink with {sys.executable}: {e}\n"
                "(run with the venv that has it, e.g. .venv/bin/python, or pass --no-fastlink)",
                file=sys.stderr,
            )
            return 2

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)  # unwinds through the finally below

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    bench = Bench(args, fastlink_mod)
    try:
        res = bench.run()
    finally:
        bench.teardown()

    print(markdown(res))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2, default=str) + "\n")
        log(f"wrote {args.json}")
    return 1 if res["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
