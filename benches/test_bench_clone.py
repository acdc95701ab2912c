"""pytest-benchmark: copy a synthetic tree of ~1,000 small files with each implementation.

    pytest benches                          # benchmark (pytest-benchmark required)
    pytest benches --benchmark-disable      # smoke run: each implementation once, checked

Implementations: fastlink, shutil.copytree, cp -a --reflink=auto and the floor
(benches/floor, skipped until built). The full harness is run_benchmarks.py.

The source tree is made once per session in tmp_path_factory (or under
$FASTLINK_BENCH_DIR if set, e.g. a mount of a reflink-capable filesystem such as XFS
or btrfs; the default tmp dir is often ext4/tmpfs, where fastlink falls back to "copy").
Every timed call copies into a fresh destination path picked by the pedantic setup,
which also removes the previous destination (outside the timing).
"""

from __future__ import annotations

import os
import random
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import fastlink
import pytest

N_FILES = 1000
MAX_SIZE = 64 * 1024
N_DIRS = 60
N_SYMLINKS = 20
SEED = 20240601
ROUNDS = 10


def _make_tree(root: Path) -> dict:
    """Deterministic tree: N_FILES files of 0..64 KiB (skewed small, like source trees),
    spread over N_DIRS nested dirs, a few executables and relative symlinks."""
    rng = random.Random(SEED)
    root.mkdir(parents=True, exist_ok=True)
    dirs = [root]
    for i in range(N_DIRS):
        parent = rng.choice(dirs[: 1 + len(dirs) // 2])  # bias to shallow-ish nesting
        d = parent / f"pkg{i:02d}"
        d.mkdir()
        dirs.append(d)
    total = 0
    files = []
    for i in range(N_FILES):
        d = rng.choice(dirs)
        size = int(MAX_SIZE * rng.random() ** 3)  # mean ~16 KiB, many tiny, a few ~64 KiB
        if i % 50 == 0:
            size = 0
        elif i % 97 == 0:
            size = MAX_SIZE
        p = d / f"mod{i:04d}.py"
        p.write_bytes(rng.randbytes(size))
        if i % 40 == 1:
            p.chmod(0o755)
        files.append(p)
        total += size
    for i in range(N_SYMLINKS):
        target = rng.choice(files)
        link = rng.choice(dirs) / f"link{i:02d}"
        os.symlink(os.path.relpath(target, link.parent), link)
    return {"files": N_FILES, "dirs": len(dirs), "symlinks": N_SYMLINKS, "bytes": total}


def _summarize(root: Path) -> dict:
    out = {"files": 0, "dirs": 0, "symlinks": 0, "bytes": 0}
    for dirpath, dirnames, filenames in os.walk(root):
        out["dirs"] += 1
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if stat.S_ISLNK(st.st_mode):
                out["symlinks"] += 1
            elif stat.S_ISREG(st.st_mode):
                out["files"] += 1
                out["bytes"] += st.st_size
    return out


@pytest.fixture(scope="session")
def bench_root(tmp_path_factory) -> Iterator[Path]:
    base = os.environ.get("FASTLINK_BENCH_DIR")
    if base:
        root = Path(tempfile.mkdtemp(prefix="fastlink-bench-", dir=base))
        yield root
        shutil.rmtree(root, ignore_errors=True)
    else:
        yield tmp_path_factory.mktemp("bench_clone")


@pytest.fixture(scope="session")
def small_tree(bench_root: Path) -> tuple[Path, dict]:
    src = bench_root / "src"
    expected = _make_tree(src)
    return src, expected


def _fastlink(src: Path, dst: Path):
    return fastlink.clone_or_copy(src, dst)


def _copytree(src: Path, dst: Path):
    return shutil.copytree(src, dst, symlinks=True)


def _cp(src: Path, dst: Path):
    return subprocess.run(
        ["cp", "-a", "--reflink=auto", os.fspath(src), os.fspath(dst)], check=True
    )


FLOOR = Path(__file__).resolve().parent / "floor" / "target" / "release" / "fastlink-floor"


def _floor(src: Path, dst: Path):
    """benches/floor, the bare-syscalls lower bound (clone where fastlink would clone)."""
    mode = "clone" if fastlink.probe(src, dst.parent)["reflink"] else "copy"
    return subprocess.run([os.fspath(FLOOR), mode, os.fspath(src), os.fspath(dst)], check=True)


IMPLS = {"fastlink": _fastlink, "copytree": _copytree, "cp": _cp, "floor": _floor}


@pytest.mark.parametrize("impl", list(IMPLS))
def test_clone_small_tree(benchmark, small_tree, bench_root, impl):
    if impl == "floor" and not os.access(FLOOR, os.X_OK):
        message = "benches/floor is not built (cargo build --release in benches/floor)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    src, expected = small_tree
    fn = IMPLS[impl]
    work = bench_root / f"dst-{impl}"
    work.mkdir(exist_ok=True)
    state = {"n": 0, "dst": None}

    def setup():
        if state["dst"] is not None:
            shutil.rmtree(state["dst"])
        state["n"] += 1
        state["dst"] = work / f"d{state['n']}"
        return (src, state["dst"]), {}

    benchmark.group = "clone ~1000 small files"
    result = benchmark.pedantic(fn, setup=setup, rounds=ROUNDS, warmup_rounds=1, iterations=1)

    dst = state["dst"]
    assert _summarize(dst) == expected
    if impl == "fastlink":
        benchmark.extra_info["method"] = result.method
        assert result.files == expected["files"]
        assert result.bytes == expected["bytes"]
    shutil.rmtree(work)
