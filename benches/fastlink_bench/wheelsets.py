"""Where the wheels of an install workload come from: the pinned 6-wheel corpus
(corpus.py), jupyterlab's 91-wheel closure pinned by hash in packages-jupyterlab.txt,
or, in a smoke run, tiny generated wheels (no network)."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import subprocess
from pathlib import Path

import corpus  # benches/corpus.py

from .config import BENCH_DIR
from .system import log
from .trees import make_fake_wheels

PACKAGES_REQUIREMENTS = BENCH_DIR / "packages-jupyterlab.txt"
PACKAGES_CACHE = corpus.DEFAULT_CACHE_DIR.parent / "jupyterlab"  # benches/.corpus/, ignored


@dataclasses.dataclass(frozen=True)
class Pin:
    name: str
    version: str
    sha256: str
    filename: str  # the wheel file the hash is of


def read_pins(path: Path = PACKAGES_REQUIREMENTS) -> list[Pin]:
    """The `name==version --hash=sha256:H  # wheel-file` entries of a requirements file."""
    text = path.read_text().replace("\\\n", " ")
    pins = []
    for line in text.splitlines():
        m = re.match(
            r"\s*([A-Za-z0-9._-]+)==(\S+)\s+--hash=sha256:([0-9a-f]{64})\s+#\s*(\S+)", line
        )
        if m:
            pins.append(Pin(*m.groups()))
    if not pins:
        raise RuntimeError(f"no pins in {path}")
    return pins


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def cached(pins: list[Pin], cache: Path) -> list[Path] | None:
    """The pinned wheel files in *cache*, when every one is there with its hash."""
    out = []
    for pin in pins:
        f = cache / pin.filename
        if not f.is_file() or sha256(f) != pin.sha256:
            return None
        out.append(f)
    return out


def packages_wheels(cache: Path = PACKAGES_CACHE) -> list[Path]:
    """The 91 pinned wheels, downloaded from PyPI into *cache* unless all are there."""
    pins = read_pins()
    have = cached(pins, cache)
    if have is not None:
        return have
    log(f"downloading the {len(pins)} pinned wheels of {PACKAGES_REQUIREMENTS.name} to {cache}")
    cache.mkdir(parents=True, exist_ok=True)
    # The same interpreter and platform tags as the corpus (corpus.py), hashes required.
    argv = [*corpus.pip_command(), "download", "--no-deps", "--disable-pip-version-check", "-q"]
    argv += [*corpus.target_args(), "-r", str(PACKAGES_REQUIREMENTS), "-d", str(cache)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    have = cached(pins, cache)
    if proc.returncode != 0 or have is None:
        raise RuntimeError(
            f"pip download of {PACKAGES_REQUIREMENTS.name} failed (exit {proc.returncode}): "
            f"{(proc.stderr or proc.stdout).strip()[-1500:]}"
        )
    return have


def corpus_wheels(cache: Path) -> list[Path]:
    """The pinned 6-wheel corpus (downloaded by corpus.py unless cached)."""
    return corpus.ensure_wheels(cache)


def smoke_wheels(dest: Path, count: int) -> list[Path]:
    """*count* tiny generated wheels, each with a console script (so uv writes one)."""
    return make_fake_wheels(dest, count=count, files=12, console_script=True)
