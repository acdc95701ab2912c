"""The deterministic source trees: site-packages-like synthetic trees, one big file of
real data, a deep tree, and tiny valid wheels for a smoke run (no download)."""

from __future__ import annotations

import math
import os
import random
from pathlib import Path

KiB, MiB = 1 << 10, 1 << 20
SEED = 20240601
# The tree workloads: key -> (kind, size, title), size being files, levels or bytes; the
# smoke run's sizes; the slow ones, run only with --bench-big.
WORKLOADS = {
    "corpus": ("corpus", 0, "the 6-wheel corpus (numpy, pandas, scipy, botocore, django, sympy)"),
    "synth-1k": ("synth", 1_000, "1,000 small files"),
    "synth-10k": ("synth", 10_000, "10,000 small files"),
    "deep-1000": ("deep", 1_000, "1,000-level deep tree, a file per level"),
    "synth-100k": ("synth", 100_000, "100,000 small files"),
    "big-4g": ("big", 4 << 30, "one 4 GiB file"),
}
SMOKE_SIZES = {"synth-1k": 200, "synth-10k": 500, "deep-1000": 40, "synth-100k": 1_000}
SMOKE_SIZES["big-4g"] = 8 * MiB
BIG_WORKLOADS = ("synth-100k", "big-4g")

# Sizes of files <= 64 KiB in the pinned corpus fit a log-normal with median ~2.8 KiB and
# sigma ~1.73 (mean ~8 KiB), with ~4 % empty files (__init__.py and friends).
SYNTH_MAX = 64 * KiB
SYNTH_MEDIAN = 2760
SYNTH_SIGMA = 1.73
SYNTH_EMPTY = 0.04
SYNTH_EXTS = (".py",) * 12 + (".pyi", ".so", ".json", ".txt", ".pyc", ".dat")


def synth_size(rng: random.Random) -> int:
    if rng.random() < SYNTH_EMPTY:
        return 0
    return min(SYNTH_MAX, int(rng.lognormvariate(math.log(SYNTH_MEDIAN), SYNTH_SIGMA)))


def make_synth(root: Path, n_files: int, seed: int = SEED) -> None:
    """A site-packages-like tree: packages nested up to 6 deep, 10-50 files per directory."""
    rng = random.Random(f"synth-{seed}-{n_files}")
    pool = memoryview(rng.randbytes(8 * MiB))
    root.mkdir(parents=True)
    dirs: list[tuple[Path, int]] = []
    made = 0
    i = 0
    while made < n_files:
        if not dirs or rng.random() < 0.15:
            parent, depth = root, 0  # a new top-level package
        else:
            parent, depth = rng.choice(dirs[-30:])  # a subpackage of a recent one
            if depth >= 6:
                parent, depth = root, 0
        d = parent / f"pkg{i:05d}"
        os.mkdir(d)
        dirs.append((d, depth + 1))
        k = min(rng.randint(10, 50), n_files - made)
        for j in range(k):
            size = synth_size(rng)
            off = rng.randrange(len(pool) - size + 1)
            p = d / f"m{j:02d}{rng.choice(SYNTH_EXTS)}"
            with open(p, "xb") as f:
                f.write(pool[off : off + size])
            if rng.random() < 0.02:
                os.chmod(p, 0o755)
        made += k
        i += 1


def make_big(root: Path, size: int, seed: int = SEED) -> None:
    """One file of *size* bytes of real data (a random block, counter-stamped per 16 MiB):
    no holes, no two blocks alike, so neither a sparse copy nor dedup can shortcut it."""
    root.mkdir(parents=True)
    block = bytearray(random.Random(f"big-{seed}").randbytes(16 * MiB))
    with open(root / "big.bin", "xb") as f:
        for n, start in enumerate(range(0, size, len(block))):
            block[:8] = n.to_bytes(8, "little")
            f.write(memoryview(block)[: min(len(block), size - start)])
        os.fsync(f.fileno())
    st = os.stat(root / "big.bin")
    assert st.st_size == size and st.st_blocks * 512 >= size, "sparse or short"


def make_deep(root: Path, levels: int) -> None:
    """root/d/d/.../d, *levels* directories deep (root is level 1), a small file in each."""
    rng = random.Random(f"deep-{SEED}-{levels}")
    root.mkdir(parents=True)
    d = root
    for lvl in range(levels):
        (d / f"f{lvl:04d}.py").write_bytes(rng.randbytes(rng.randint(64, 2048)))
        if lvl < levels - 1:
            d = d / "d"
            os.mkdir(d)
    if len(os.fsencode(d)) > 3500:
        raise RuntimeError("deep tree is too close to PATH_MAX for cp/copytree")


MAIN = b"def main():\n    return 0\n"


def make_fake_wheels(dest: Path, count: int) -> list[Path]:
    """*count* tiny valid pure-Python wheels (a smoke run downloads nothing), written by
    the tests' wheelutil; each declares a console script, so uv writes one to bin/."""
    from wheelutil import write_wheel  # tests/, on sys.path (conftest.py)

    dest.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"wheels-{SEED}")
    wheels = []
    for n in range(count):
        name, info = f"fastlink_bench_fake{n}", f"fastlink_bench_fake{n}-1.0.dist-info"
        members = {f"{name}/__init__.py": (b"", 0o644), f"{name}/__main__.py": (MAIN, 0o644)}
        for j in range(12):
            text = "".join(f"X{k} = {rng.randint(0, 1 << 30)}\n" for k in range(rng.randint(1, 80)))
            members[f"{name}/sub{j % 3}/m{j:02d}.py"] = (text.encode(), 0o644)
        members[f"{info}/METADATA"] = (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode(),
            0o644,
        )
        members[f"{info}/entry_points.txt"] = (
            f"[console_scripts]\n{name} = {name}.__main__:main\n".encode(),
            0o644,
        )
        members[f"{info}/WHEEL"] = (
            b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
            0o644,
        )
        wheels.append(write_wheel(dest / f"{name}-1.0-py3-none-any.whl", members, info))
    return wheels
