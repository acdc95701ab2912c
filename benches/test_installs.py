"""fastlink against uv, both timed as whole processes, start-up included (pedantic
rounds around a subprocess), into a fresh venv on the destination filesystem.

uv: `uv pip install --offline --no-deps --link-mode=clone|hardlink|copy` of the wheel
files, its cache warm on XFS. fastlink: `python install_proc.py`, placing each unpacked
wheel tree (on the same XFS) into site-packages from 4 threads. Two wheel sets: the
6-wheel corpus and jupyterlab's 91 packages. uv does more than place files (installer
metadata, scripts, RECORD rewrites); see BENCHMARKS.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from fs_pairs import BENCH_DIR, PAIRS
from skips import skip_or_fail

ROUNDS = 7
WORKERS = 4
SITE = f"lib/python{sys.version_info[0]}.{sys.version_info[1]}/site-packages"
PAIR_KEYS = {
    "corpus": ("xfs-reflink", "xfs-hardlink", "xfs-btrfs-copy", "xfs-tmpfs-copy"),
    "packages": ("xfs-reflink", "xfs-hardlink", "xfs-btrfs-copy"),
}
INSTALLS = [
    pytest.param(w, PAIRS[k], c, id=f"{w}-{k}-{c}")
    for w, keys in PAIR_KEYS.items()
    for k in keys
    # preserve_times=False only where it matters: what keeping mtimes costs a clone.
    for c in ("fastlink", "fastlink-no-times", "uv")
    if c != "fastlink-no-times" or PAIRS[k].op == "reflink"
]
# Without FASTLINK_METHODS, which would override the defaults; without the caller's venv.
ENV = {k: v for k, v in os.environ.items() if k not in ("FASTLINK_METHODS", "VIRTUAL_ENV")}


@pytest.fixture(scope="session")
def uv(mount, sources) -> SimpleNamespace:
    """uv's binary, and for each wheel set a warm uv cache on XFS (one untimed install)."""
    try:
        import uv as uv_module

        binary = uv_module.find_uv_bin()
    except (ImportError, FileNotFoundError):
        skip_or_fail("uv is not installed (the bench extra has it)")
    env = ENV | {"UV_CACHE_DIR": str(mount("xfs") / "uv-cache"), "UV_NO_PROGRESS": "1"}
    env["UV_PYTHON_DOWNLOADS"] = "never"

    def run(*argv: str | Path) -> None:
        subprocess.run([binary, *map(str, argv)], env=env, cwd=mount("xfs"), check=True)

    def venv(path: Path) -> None:
        run("venv", "--no-config", "--offline", "--quiet", "--python", sys.executable, path)

    def install(path: Path, wheels: list[Path], link_mode: str) -> None:
        args = ("--no-config", "--offline", "--no-deps", f"--link-mode={link_mode}")
        run("pip", "install", *args, "--python", path / "bin" / "python", *wheels)

    warm = mount("xfs") / "uv-warm-up"
    for name in PAIR_KEYS:
        venv(warm)
        install(warm, sources.wheels(name), "copy")
        shutil.rmtree(warm)
    return SimpleNamespace(venv=venv, install=install)


@pytest.mark.parametrize(("wheelset", "pair", "candidate"), INSTALLS)
def test_install(wheelset, pair, candidate, round_, sources, mount, uv, timed_round):
    wheels, trees = sources.wheels(wheelset), sources.wheel_trees(wheelset)
    venv = mount(pair.dst_fs) / "dst" / f"install.{wheelset}.{pair.key}.{candidate}"
    out: list[str] = []

    def fastlink_process() -> None:
        argv = [sys.executable, str(BENCH_DIR / "install_proc.py"), "--workers", str(WORKERS)]
        argv += ["--methods", pair.methods] if pair.methods else []
        argv += ["--no-preserve-times"] if candidate == "fastlink-no-times" else []
        proc = subprocess.run([*argv, venv / SITE, *trees], env=ENV, capture_output=True)
        assert proc.returncode == 0, proc.stderr
        out.append(proc.stdout.decode())

    def uv_process() -> None:
        uv.install(venv, wheels, pair.uv_link_mode)

    timed_round(
        uv_process if candidate == "uv" else fastlink_process,
        clean=venv,
        prepare=lambda: uv.venv(venv),
        group=f"installs {wheelset} {pair.key}",
        part="installs",
        workload=wheelset,
        title=sources.title(wheelset),
        pair=pair.key,
        candidate=candidate,
        round=round_,
        files=sources.stats[wheelset].files,
        wheels=len(wheels),
    )
    if round_ == 0 and out:
        counts = json.loads(out[0].splitlines()[-1])
        assert counts["methods"] == [pair.op]
        assert counts["files"] == sources.stats[wheelset].files
    if round_ == 0 and pair.op == "hardlink":
        first = next(p for p in (venv / SITE).rglob("*.py") if not p.is_symlink())
        assert first.stat().st_nlink >= 2


@pytest.mark.parametrize("candidate", ["import fastlink"])
def test_python_start(candidate, round_, timed_round):
    """The interpreter's share of fastlink's whole-process time."""
    timed_round(
        lambda: subprocess.run([sys.executable, "-c", "import fastlink"], env=ENV, check=True),
        clean=lambda: None,
        group="installs python start",
        part="installs",
        workload="python start",
        candidate=candidate,
        round=round_,
    )
