"""`fastlink install` against `uv pip install` and `pip install`: installing wheel files
into a fresh venv, every candidate timed as a whole process (start-up included), with
its cache warm or cold.

The candidates, on the same wheel files (kept on XFS, in the page cache):

- fastlink: `python -m fastlink install -q --python VENV/bin/python --cache-dir C
  [--methods M] WHEEL...`, the CLI as users run it (so its interpreter's start-up and
  its query of VENV's interpreter for the install scheme are counted). M: `reflink` for
  the clone, `hardlink`, and the default (`reflink,copy`, which copies across
  filesystems) for XFS → btrfs.
- uv: `uv pip install --no-deps --offline --link-mode clone|hardlink|copy --cache-dir C
  --python VENV/bin/python WHEEL...`.
- pip: `VENV/bin/python -m pip install --no-deps --no-index --no-compile WHEEL...`, pip
  importable through PYTHONPATH (a directory holding only a link to the harness's pip),
  as if installed in VENV: one interpreter start, pip's best case (`pip --python VENV`
  would start a second one). pip has no cache for local wheel files: it unpacks every
  wheel every time, so it is the same warm or cold; it runs in the groups with a
  destination of their own (XFS: warm clone and cold; btrfs: warm copy).

Cases (each a group, its candidates interleaved round by round, see conftest.py):

- warm: both caches on the source XFS, filled by one untimed install of the wheel set
  before the first round; the venv on XFS (clone, hard link) or btrfs (copy).
- cold: a fresh empty cache directory on XFS every round, the venv on XFS, so the timed
  process unpacks every wheel into its cache and then installs from it (clone).

Every round, untimed: the venv is created afresh with `uv venv` (identically for every
candidate, without pip), the previous venv and cold cache are removed, and `sync` runs.
Neither installer compiles bytecode. Round 0 checks the work: one RECORD per wheel in
site-packages; on the hard-link path a placed file with st_nlink >= 2; on the clone path
(when filefrag is there) the biggest module placed has shared extents.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from fs_pairs import PAIRS
from skips import skip_or_fail

ROUNDS = 5
SITE = f"lib/python{sys.version_info[0]}.{sys.version_info[1]}/site-packages"
WHEELSETS = ("packages", "corpus")
# (cache state, pair, fastlink's --methods or None for its default)
CASES = {
    "warm-xfs-reflink": ("warm", PAIRS["xfs-reflink"], "reflink"),
    "warm-xfs-hardlink": ("warm", PAIRS["xfs-hardlink"], "hardlink"),
    "warm-xfs-btrfs-copy": ("warm", PAIRS["xfs-btrfs-copy"], None),
    "cold-xfs-reflink": ("cold", PAIRS["xfs-reflink"], "reflink"),
}
PIP_CASES = ("warm-xfs-reflink", "warm-xfs-btrfs-copy", "cold-xfs-reflink")
INSTALLS = [
    pytest.param(w, case, c, id=f"{w}-{case}-{c}")
    for w in WHEELSETS
    for case in CASES
    for c in ("fastlink", "uv", "pip")
    if c != "pip" or case in PIP_CASES
]
# Without FASTLINK_METHODS (it would override the default), the caller's venv or paths.
DROP = ("FASTLINK_METHODS", "FASTLINK_CACHE_DIR", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
ENV = {k: v for k, v in os.environ.items() if k not in DROP}
ENV |= {"UV_NO_PROGRESS": "1", "UV_PYTHON_DOWNLOADS": "never", "PIP_NO_INPUT": "1"}
# fastlink's own process imports fastlink as the harness does (PYTHONPATH kept, if any).
FASTLINK_ENV = ENV | {k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ}


@pytest.fixture(scope="session")
def installers(mount, sources) -> SimpleNamespace:
    """The three installers' command lines, and per wheel set the warm caches on XFS."""
    try:
        import uv as uv_module

        uv_bin = uv_module.find_uv_bin()
    except (ImportError, FileNotFoundError):
        skip_or_fail("uv is not installed (the bench extra has it)")
    try:
        import pip
    except ImportError:
        skip_or_fail("pip is not installed in the harness's interpreter")
    root = mount("xfs") / "wheel-installs"
    shutil.rmtree(root, ignore_errors=True)
    pip_path = root / "pip-only"  # PYTHONPATH: pip and nothing else
    pip_path.mkdir(parents=True)
    (pip_path / "pip").symlink_to(Path(pip.__file__).parent)

    def venv(path: Path) -> None:
        argv = [uv_bin, "venv", "--no-config", "--offline", "--quiet"]
        subprocess.run([*argv, "--python", sys.executable, path], env=ENV, check=True)

    def run(argv: list, env: dict[str, str] = ENV) -> None:
        proc = subprocess.run([*map(str, argv)], env=env, capture_output=True)
        assert proc.returncode == 0, (argv[:6], proc.stderr.decode()[-2000:])

    def fastlink(venv: Path, wheels: list[Path], cache: Path, methods: str | None) -> None:
        argv = [sys.executable, "-m", "fastlink", "install", "-q", "--python"]
        argv += [venv / "bin" / "python", "--cache-dir", cache]
        run([*argv, *(["--methods", methods] if methods else []), *wheels], FASTLINK_ENV)

    def uv(venv: Path, wheels: list[Path], cache: Path, link_mode: str) -> None:
        argv = [uv_bin, "pip", "install", "--no-config", "--quiet", "--no-deps", "--offline"]
        argv += ["--link-mode", link_mode, "--cache-dir", cache]
        run([*argv, "--python", venv / "bin" / "python", *wheels])

    def pip_install(venv: Path, wheels: list[Path]) -> None:
        argv = [venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps"]
        argv += ["--no-index", "--no-compile", "--disable-pip-version-check"]
        run([*argv, *wheels], ENV | {"PYTHONPATH": str(pip_path)})

    warmed: set[str] = set()

    def wheels(wheelset: str) -> list[Path]:
        """The wheel set's files, the warm caches filled with them on first use."""
        files = sources.wheels(wheelset)
        if wheelset not in warmed:
            for f in files:  # into the page cache
                f.read_bytes()
            scratch = root / "warm-up"
            for install in (
                lambda: fastlink(scratch, files, warm_cache("fastlink"), "reflink"),
                lambda: uv(scratch, files, warm_cache("uv"), "clone"),
            ):
                venv(scratch)
                install()
                shutil.rmtree(scratch)
            warmed.add(wheelset)
        return files

    def warm_cache(candidate: str) -> Path:
        cache = root / f"cache-warm-{candidate}"
        cache.mkdir(exist_ok=True)
        return cache

    return SimpleNamespace(
        root=root,
        venv=venv,
        wheels=wheels,
        warm_cache=warm_cache,
        fastlink=fastlink,
        uv=uv,
        pip=pip_install,
    )


@pytest.mark.parametrize(("wheelset", "case", "candidate"), INSTALLS)
def test_wheel_install(wheelset, case, candidate, round_, sources, mount, installers, timed_round):
    state, pair, methods = CASES[case]
    wheels = installers.wheels(wheelset)
    venv = mount(pair.dst_fs) / "dst" / f"wheel-install.{wheelset}.{case}.{candidate}"
    if state == "warm":
        cache = installers.warm_cache(candidate)
    else:
        cache = installers.root / f"cache-cold-{candidate}"

    def clean() -> None:
        shutil.rmtree(venv, ignore_errors=True)
        if state == "cold":
            shutil.rmtree(cache, ignore_errors=True)

    def prepare() -> None:
        installers.venv(venv)
        if state == "cold":
            cache.mkdir()  # empty (fastlink wants the directory to exist)

    def target() -> None:
        if candidate == "fastlink":
            installers.fastlink(venv, wheels, cache, methods)
        elif candidate == "uv":
            installers.uv(venv, wheels, cache, pair.uv_link_mode)
        else:
            installers.pip(venv, wheels)

    timed_round(
        target,
        clean=clean,
        prepare=prepare,
        group=f"wheel installs {wheelset} {case}",
        part=f"install-{state}",
        workload=wheelset,
        title=sources.title(wheelset),
        pair=pair.key,
        candidate=candidate,
        round=round_,
        wheels=len(wheels),
    )
    if round_ == 0:
        site = venv / SITE
        records = list(site.glob("*.dist-info/RECORD"))
        assert len(records) == len(wheels), (candidate, len(records), len(wheels))
        if pair.op == "hardlink" and candidate != "pip":
            placed = next(p for p in site.rglob("*.py") if p.is_file() and not p.is_symlink())
            assert placed.stat().st_nlink >= 2, placed
        if pair.op == "reflink" and candidate != "pip" and shutil.which("filefrag"):
            # The biggest module placed shares its extents with the cache's copy (FIEMAP).
            placed = max(site.rglob("*.py"), key=lambda p: p.lstat().st_size)
            frag = subprocess.run(["filefrag", "-v", placed], capture_output=True, text=True)
            assert "shared" in frag.stdout, (candidate, placed, frag.stdout)
