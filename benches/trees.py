"""The deterministic source trees: site-packages-like synthetic trees, one big file of
real data, a deep tree, and tiny valid wheels for a smoke run (no download)."""

from __future__ import annotations

import base64
import hashlib
import math
import os
import random
import zipfile
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
    """One file of *size* bytes of real data (a random block, counter-stamped per 16 MiB)."""
    root.mkdir(parents=True)
    rng = random.Random(f"big-{seed}")
    path = root / "big.bin"
    buf = bytearray(rng.randbytes(16 * MiB))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        written = 0
        n = 0
        while written < size:
            want = min(len(buf), size - written)
            buf[:8] = n.to_bytes(8, "little")  # no two blocks alike
            view = memoryview(buf)[:want]
            done = 0
            while done < want:
                done += os.write(fd, view[done:])
            written += want
            n += 1
        os.fsync(fd)
    finally:
        os.close(fd)
    st = os.stat(path)
    if st.st_size != size or st.st_blocks * 512 < size:
        raise RuntimeError(f"{path} is sparse or short: {st.st_size} bytes, {st.st_blocks} blocks")


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


def make_fake_wheels(
    dest: Path, count: int = 2, files: int = 25, *, console_script: bool = False
) -> list[Path]:
    """Tiny valid pure-Python wheels (smoke mode: no download); with *console_script*
    each declares one, so an installer writes a script to bin/."""
    dest.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"wheels-{SEED}")
    wheels = []
    for n in range(count):
        name, version = f"fastlink_bench_fake{n}", "1.0"
        info = f"{name}-{version}.dist-info"
        entries: dict[str, bytes] = {f"{name}/__init__.py": b""}
        for j in range(files):
            lines = "".join(
                f"X{k} = {rng.randint(0, 1 << 30)}\n" for k in range(rng.randint(1, 80))
            )
            entries[f"{name}/sub{j % 3}/m{j:02d}.py"] = lines.encode()
        entries[f"{info}/METADATA"] = (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
        )
        if console_script:
            entries[f"{name}/__main__.py"] = b"def main():\n    return 0\n"
            entries[f"{info}/entry_points.txt"] = (
                f"[console_scripts]\n{name} = {name}.__main__:main\n".encode()
            )
        entries[f"{info}/WHEEL"] = (
            b"Wheel-Version: 1.0\nGenerator: fastlink-bench\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        )
        record = []
        for path, data in entries.items():
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{path},sha256={digest.decode()},{len(data)}")
        record.append(f"{info}/RECORD,,")
        entries[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
        whl = dest / f"{name}-{version}-py3-none-any.whl"
        with zipfile.ZipFile(whl, "w", zipfile.ZIP_DEFLATED) as zf:
            for path, data in entries.items():
                zi = zipfile.ZipInfo(path, date_time=(2024, 6, 1, 0, 0, 0))
                zi.create_system = 3
                zi.external_attr = (0o100644 << 16) & 0xFFFF0000
                zi.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(zi, data)
        wheels.append(whl)
    return wheels
