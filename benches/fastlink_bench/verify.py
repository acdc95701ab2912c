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

    exact (fastlink as installer): the same files and bytes, nothing else. Otherwise (uv):
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


def files_under(root: Path) -> set[str]:
    """Every non-directory under *root*, as paths relative to it."""
    out = set()
    for dirpath, _dirs, files in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        out.update(os.path.normpath(os.path.join(rel_dir, n)) for n in files)
    return out


def installer_extras(venv: Path, baseline: set[str], wheel_dirs: list[Path]) -> dict[str, int]:
    """What an installer wrote into *venv* beyond a fresh venv (*baseline*) and the wheels'
    own files under site-packages, by kind: files added to the .dist-info directories,
    scripts in bin/, a wheel's `*.data/` files placed elsewhere in the venv ("data"), and
    the rest (uv's .lock in the venv, say)."""
    sp = next(iter(sorted(venv.glob("lib/python*/site-packages"))), None)
    if sp is None:
        return {}
    sp_rel = os.path.relpath(sp, venv)
    from_wheels = set()
    for wd in wheel_dirs:
        for rel in files_under(wd):
            if not rel.split(os.sep, 1)[0].endswith(".data"):
                from_wheels.add(os.path.join(sp_rel, rel))
    out = {"dist-info": 0, "bin": 0, "data": 0, "other": 0}
    for rel in files_under(venv) - baseline - from_wheels:
        in_sp = rel.startswith(sp_rel + os.sep)
        top = os.path.relpath(rel, sp_rel).split(os.sep)[0] if in_sp else rel.split(os.sep)[0]
        if in_sp and top.endswith(".dist-info"):
            out["dist-info"] += 1
        elif in_sp:
            out["other"] += 1
        elif top == "bin":
            out["bin"] += 1
        elif top.startswith("."):
            out["other"] += 1
        else:
            out["data"] += 1
    return out
