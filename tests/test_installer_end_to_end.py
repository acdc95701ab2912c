"""End to end, the way an installer uses fastlink: wheels unpacked into a cache
directory on one filesystem are merged into a fresh venv's site-packages, and
that venv's python then imports and runs them.

The cache is on the XFS mount; the venv is either on the same XFS mount (every
file reflinked) or on the btrfs mount (reflink skipped with EXDEV, every file
copied). Two wheels are installed:

  * a small wheel built here with zipfile: a package reading a data file via
    importlib.resources, a shell script and a fake extension module with exec
    bits, and a dist-info whose RECORD hashes are checked inside the venv;
  * numpy, the real wheel pinned in the benchmark corpus (benches/corpus.py).
    It is taken from the benchmarks' wheel cache, and downloaded into it with
    pip when missing: under CI that download must work, locally a failed
    download skips the numpy tests.

Wheels are unpacked with the corpus' unpack_wheel: one directory per wheel
holding the archive's contents with the zip's unix modes applied, as uv's
cache does.
"""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import fastlink
import pytest
from fdwalk import make_fresh_dir, remove_tree
from fiemap import FIEMAP_MIN_SIZE, describe_extents, is_fully_shared
from skips import skip_or_fail
from snapshots import assert_trees_equal, snapshot, tree_counts
from treespec import random_bytes
from wheelutil import write_wheel


def _load_corpus():
    path = Path(__file__).resolve().parents[1] / "benches" / "corpus.py"
    spec = importlib.util.spec_from_file_location("fastlink_bench_corpus", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    # dataclasses looks the module up in sys.modules while building TreeStats.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


corpus = _load_corpus()

# --------------------------------------------------------------------------
# Where the venv goes, and what fastlink must report for it
# --------------------------------------------------------------------------

CACHE_FS = "xfs"


@dataclass(frozen=True)
class Placement:
    venv_fs: str
    method: str
    skipped_errno: int | None  # the errno reflink is skipped with, if it is


PLACEMENTS = [
    pytest.param(Placement("xfs", "reflink", None), id="same-fs-xfs"),
    pytest.param(Placement("btrfs", "copy", errno.EXDEV), id="cross-fs-xfs-to-btrfs"),
]


@pytest.fixture(params=PLACEMENTS)
def placement(request) -> Placement:
    return request.param


def assert_report_matches_placement(report, placement: Placement, src_snap: dict) -> None:
    assert report.method == placement.method, report
    assert report.files == tree_counts(src_snap)["files"], report
    if placement.method == "reflink":
        assert report.reflinked == report.files and report.copied == 0, report
        assert report.skipped == (), report
    else:
        assert report.copied == report.files and report.reflinked == 0, report
        assert [s[:2] for s in report.skipped] == [("reflink", placement.skipped_errno)], report
        assert isinstance(report.skipped[0][2], str), report


# --------------------------------------------------------------------------
# Venvs
# --------------------------------------------------------------------------


@dataclass
class Venv:
    root: Path
    python: Path
    site_packages: Path

    def run_python(self, code: str) -> str:
        """Run `code` in this venv's python, isolated (-I: no PYTHONPATH, no
        cwd on sys.path), and return its stdout."""
        proc = subprocess.run(
            [str(self.python), "-I", "-c", code],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, f"venv python failed:\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout


def create_venv(path: Path, interpreter: str = sys.executable) -> Venv:
    subprocess.run([interpreter, "-m", "venv", "--without-pip", str(path)], check=True)
    venv = Venv(path, path / "bin" / "python", Path())
    venv.site_packages = Path(
        venv.run_python("import sysconfig; print(sysconfig.get_path('platlib'))").strip()
    )
    assert venv.site_packages.is_dir() and path in venv.site_packages.parents, venv
    assert os.listdir(venv.site_packages) == [], "a --without-pip venv starts empty"
    return venv


@pytest.fixture(scope="module")
def cache_dir(mounts):
    """The installer cache on the source filesystem, shared by the module."""
    d = make_fresh_dir(mounts.get(CACHE_FS), "installer-cache-")
    yield d
    remove_tree(d)


# --------------------------------------------------------------------------
# A small wheel, built here
# --------------------------------------------------------------------------

PKG = "fastlink_e2e_pkg"
VERSION = "1.0.0"
DIST_INFO = f"{PKG}-{VERSION}.dist-info"
WHEEL_NAME = f"{PKG}-{VERSION}-cp311-cp311-linux_x86_64.whl"
GREETING = "hello from a cloned wheel"
SCRIPT = f"{PKG}/bin/hello.sh"
# Never imported: arbitrary bytes with exec bits, like a real extension module.
# Big enough for FIEMAP to tell a clone from a copy (btrfs inlines tiny files).
EXTENSION = f"{PKG}/_speedups.cpython-311-x86_64-linux-gnu.so"
EXTENSION_BYTES = b"\x7fELF" + random_bytes(FIEMAP_MIN_SIZE + 4096, 11)

# path in the wheel -> (content, mode)
PAYLOAD: dict[str, tuple[bytes, int]] = {
    f"{PKG}/__init__.py": (
        textwrap.dedent(
            """\
            from importlib.resources import files


            def greeting():
                data = files(__name__).joinpath("data", "greeting.txt")
                return data.read_text(encoding="utf-8").strip()
            """
        ).encode(),
        0o644,
    ),
    f"{PKG}/data/greeting.txt": (f"{GREETING}\n".encode(), 0o644),
    SCRIPT: (b'#!/bin/sh\necho "hello.sh ran with: $1"\n', 0o755),
    EXTENSION: (EXTENSION_BYTES, 0o755),
    f"{DIST_INFO}/METADATA": (
        f"Metadata-Version: 2.1\nName: {PKG}\nVersion: {VERSION}\n"
        "Summary: fastlink's end-to-end test package\n".encode(),
        0o644,
    ),
    f"{DIST_INFO}/WHEEL": (
        b"Wheel-Version: 1.0\nGenerator: fastlink-tests\nRoot-Is-Purelib: false\n"
        b"Tag: cp311-cp311-linux_x86_64\n",
        0o644,
    ),
}


def build_wheel(directory: Path) -> Path:
    """A real wheel: the payload, plus a RECORD listing every file's sha256."""
    return write_wheel(directory / WHEEL_NAME, PAYLOAD, DIST_INFO)


@pytest.fixture(scope="module")
def unpacked_wheel(cache_dir, tmp_path_factory) -> tuple[Path, dict]:
    """(the small wheel unpacked in the cache, its snapshot)."""
    wheel = build_wheel(tmp_path_factory.mktemp("wheel"))
    stats = corpus.unpack_wheel(wheel, cache_dir)
    unpacked = cache_dir / corpus.wheel_stem(wheel)
    assert stats.files == len(PAYLOAD) + 1  # + RECORD
    assert stat.S_IMODE(os.stat(unpacked / SCRIPT).st_mode) == 0o755
    return unpacked, snapshot(unpacked)


@dataclass
class Installed:
    venv: Venv
    report: fastlink.Report
    src: Path
    src_snap: dict


@pytest.fixture
def installed_wheel(unpacked_wheel, placement, mounts, fresh_dir) -> Installed:
    """The small wheel merged from the cache into a fresh venv's site-packages."""
    src, src_snap = unpacked_wheel
    venv = create_venv(fresh_dir(mounts.get(placement.venv_fs)) / "venv")
    report = fastlink.clone_or_copy(src, venv.site_packages, dirs_exist_ok=True)
    return Installed(venv, report, src, src_snap)


def test_wheel_merge_into_site_packages_reflinks_on_same_fs_and_copies_across(
    installed_wheel, placement
):
    assert_report_matches_placement(installed_wheel.report, placement, installed_wheel.src_snap)
    if placement.method == "reflink":
        so = installed_wheel.venv.site_packages / EXTENSION
        assert is_fully_shared(so), f"{so} not reflinked: {describe_extents(so)}"


def test_wheel_merged_into_site_packages_is_identical_to_the_cache(installed_wheel):
    # Bytes, modes and mtimes of every entry; site-packages itself keeps its own.
    assert_trees_equal(
        installed_wheel.src_snap, installed_wheel.venv.site_packages, include_root=False
    )


def test_wheel_cloned_into_venv_imports_and_reads_its_data(installed_wheel):
    venv = installed_wheel.venv
    out = venv.run_python(
        f"import {PKG}; print({PKG}.__file__); print({PKG}.greeting())"
    ).splitlines()
    assert out == [str(venv.site_packages / PKG / "__init__.py"), GREETING]


def test_wheel_script_cloned_into_venv_is_still_executable(installed_wheel):
    script = installed_wheel.venv.site_packages / SCRIPT
    assert oct(stat.S_IMODE(os.stat(script).st_mode)) == oct(0o755)
    proc = subprocess.run([script, "world"], capture_output=True, text=True, timeout=30)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "hello.sh ran with: world\n", "")


def test_wheel_extension_module_keeps_exec_mode_and_bytes(installed_wheel):
    so = installed_wheel.venv.site_packages / EXTENSION
    assert oct(stat.S_IMODE(os.stat(so).st_mode)) == oct(0o755)
    assert so.read_bytes() == EXTENSION_BYTES


_CHECK_DIST_INFO = f"""\
import base64, hashlib, importlib.metadata as md, json
dist = md.distribution({PKG!r})
bad = []
for f in dist.files:
    if f.hash is not None:
        digest = hashlib.new(f.hash.mode, f.read_binary()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != f.hash.value:
            bad.append(str(f))
print(json.dumps({{
    "version": md.version({PKG!r}),
    "location": str(dist.locate_file("")),
    "files": len(dist.files),
    "hash_mismatches": bad,
}}))
"""


def test_wheel_dist_info_cloned_into_venv_is_found_by_importlib_metadata(installed_wheel):
    venv = installed_wheel.venv
    found = json.loads(venv.run_python(_CHECK_DIST_INFO))
    assert found == {
        "version": VERSION,
        "location": str(venv.site_packages),
        "files": len(PAYLOAD) + 1,
        "hash_mismatches": [],
    }


# --------------------------------------------------------------------------
# numpy, the real wheel from the benchmark corpus
# --------------------------------------------------------------------------

NUMPY_PIN = next(p for p in corpus.PINS if p.startswith("numpy=="))
NUMPY_VERSION = NUMPY_PIN.partition("==")[2]


def cached_or_downloaded(pin: str, cache: Path) -> Path:
    """The pinned wheel from the benchmarks' cache, downloading only it if missing.

    Under CI a failed download fails the test; locally it skips.
    """
    wheel = corpus.find_cached(pin, cache)
    if wheel is not None:
        return wheel
    try:
        (wheel,) = corpus.ensure_wheels(cache, pins=(pin,))
    except (corpus.CorpusError, OSError) as e:
        skip_or_fail(f"{pin} is not in {cache} and downloading it failed: {e}")
    return wheel


def interpreter_for(version: str) -> str:
    """A python of the corpus' version (its wheels are built for it)."""
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        return sys.executable
    found = shutil.which(f"python{version}")
    if found is None:
        skip_or_fail(f"the corpus wheels need python{version}, which is not installed")
    return found


@pytest.fixture(scope="module")
def unpacked_numpy(cache_dir) -> tuple[Path, dict]:
    """(numpy unpacked in the cache, its snapshot)."""
    wheel = cached_or_downloaded(NUMPY_PIN, corpus.DEFAULT_CACHE_DIR)
    corpus.unpack_wheel(wheel, cache_dir)
    unpacked = cache_dir / corpus.wheel_stem(wheel)
    return unpacked, snapshot(unpacked)


@pytest.fixture
def installed_numpy(unpacked_numpy, placement, mounts, fresh_dir) -> Installed:
    src, src_snap = unpacked_numpy
    venv_dir = fresh_dir(mounts.get(placement.venv_fs)) / "venv"
    venv = create_venv(venv_dir, interpreter_for(corpus.PYTHON_VERSION))
    report = fastlink.clone_or_copy(src, venv.site_packages, dirs_exist_ok=True)
    return Installed(venv, report, src, src_snap)


def test_numpy_wheel_cloned_into_venv_imports_and_computes(installed_numpy, placement):
    assert_report_matches_placement(installed_numpy.report, placement, installed_numpy.src_snap)
    out = installed_numpy.venv.run_python(
        "import numpy; print(numpy.arange(10).sum(), numpy.__version__)"
    )
    assert out.split() == ["45", NUMPY_VERSION]


def test_numpy_wheel_clone_keeps_every_file_and_the_exec_bits_of_shared_objects(
    installed_numpy,
):
    src, dst = installed_numpy.src, installed_numpy.venv.site_packages
    shared_objects = sorted(
        p.relative_to(src) for p in src.rglob("*") if p.is_file() and ".so" in p.suffixes
    )
    assert len(shared_objects) >= 10, shared_objects
    for rel in shared_objects:
        src_mode = stat.S_IMODE(os.stat(src / rel).st_mode)
        dst_mode = stat.S_IMODE(os.stat(dst / rel).st_mode)
        assert src_mode & 0o111, f"{rel}: the wheel should store exec bits ({src_mode:#o})"
        assert dst_mode == src_mode, f"{rel}: mode {dst_mode:#o}, source {src_mode:#o}"
    assert_trees_equal(installed_numpy.src_snap, dst, include_root=False)
