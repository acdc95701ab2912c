"""Checks of a first-round output: counts and bytes against the source, fastlink's
report and manifest entry by entry, hard links, and installed site-packages."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import corpus  # benches/corpus.py

from .config import BenchPath
from .system import first_file

if TYPE_CHECKING:
    from .harness import Workload


def output_errors(w: Workload, p: BenchPath, cand: str, dst: Path, sample: dict) -> list[str]:
    """What is wrong with one run's output *dst* (empty: nothing)."""
    errors: list[str] = []
    expect = w.stats
    if not dst.is_dir():
        errors.append(f"{dst} missing")
    elif cand == "uv":
        errors += verify_site_packages(dst, w.wheel_dirs[p.src_fs], exact=False)
    elif cand == "fastlink-install":
        errors += verify_site_packages(dst, w.wheel_dirs[p.src_fs], exact=True)
    else:
        st = corpus.tree_stats(dst)
        for a in ("files", "dirs", "symlinks", "bytes"):
            if getattr(st, a) != getattr(expect, a):
                errors.append(f"{a}={getattr(st, a)} but the source has {getattr(expect, a)}")
        if cand.startswith("fastlink"):
            info = sample.get("info", {})
            for a in ("files", "bytes"):
                if info.get(a) != getattr(expect, a):
                    errors.append(f"report.{a}={info.get(a)} != {getattr(expect, a)}")
            man = corpus.tree_manifest(dst)
            ref = w.manifest[p.src_fs]
            if man != ref:
                diff = [k for k in set(man) | set(ref) if man.get(k) != ref.get(k)]
                ex = sorted(diff)[:2]
                errors.append(
                    f"{len(diff)} entries differ from the source (kind/mode/size/mtime), "
                    f"e.g. {[(os.fsdecode(k), man.get(k), ref.get(k)) for k in ex]}"
                )
        if p.op == "hardlink" and cand in ("fastlink", "cp", "floor") and not errors:
            f = first_file(dst)
            if f is not None and os.stat(f).st_nlink < 2:
                errors.append(f"{f} is not hard-linked (st_nlink = 1)")
    return errors


def verify_site_packages(sp: Path, wheel_dirs: list[Path], *, exact: bool) -> list[str]:
    """Every file of the unpacked wheels is in *sp* with its size.

    exact (fastlink-install): the same files and bytes, nothing else. Otherwise (uv):
    `*.data/` trees (installed elsewhere) and RECORD files (rewritten) are not compared.
    """
    if not exact:  # uv: sp is the venv
        found = sorted(sp.glob("lib/python*/site-packages"))
        if not found:
            return [f"no site-packages under {sp}"]
        sp = found[0]
    missing = wrong = n = 0
    expect_files = expect_bytes = 0
    for wd in wheel_dirs:
        for dirpath, dirs, files in os.walk(wd):
            rel_dir = os.path.relpath(dirpath, wd)
            if not exact:
                dirs[:] = [d for d in dirs if not (rel_dir == "." and d.endswith(".data"))]
            for name in files:
                rel = os.path.normpath(os.path.join(rel_dir, name))
                if not exact and name == "RECORD" and rel_dir.endswith(".dist-info"):
                    continue
                size = os.lstat(os.path.join(dirpath, name)).st_size
                expect_files += 1
                expect_bytes += size
                n += 1
                try:
                    st = os.lstat(sp / rel)
                except FileNotFoundError:
                    missing += 1
                    continue
                if st.st_size != size:
                    wrong += 1
    errors = []
    if missing or wrong:
        errors.append(f"{missing} of {n} wheel files missing, {wrong} with another size in {sp}")
    if exact:
        st = corpus.tree_stats(sp)
        if (st.files, st.bytes) != (expect_files, expect_bytes):
            errors.append(
                f"site-packages has {st.files} files / {st.bytes} bytes, "
                f"expected {expect_files} / {expect_bytes}"
            )
    return errors
