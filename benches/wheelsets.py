"""Where the wheels of a package workload come from: the pinned 6-wheel corpus
(corpus.py), jupyterlab's 91-wheel closure pinned by hash in packages-jupyterlab.txt,
or, in a smoke run, tiny generated wheels (no network)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import corpus
import trees

PACKAGES_REQUIREMENTS = corpus.BENCH_DIR / "packages-jupyterlab.txt"
PACKAGES_CACHE = corpus.DEFAULT_CACHE_DIR.parent / "jupyterlab"  # benches/.corpus/, ignored
TITLES = {
    "corpus": "the 6-wheel corpus (numpy, pandas, scipy, botocore, django, sympy)",
    "packages": "jupyterlab's dependency closure (91 wheels)",
}
SMOKE_COUNTS = {"corpus": 2, "packages": 12}


def pinned_files(requirements: Path = PACKAGES_REQUIREMENTS) -> list[str]:
    """The wheel file named after each `name==version --hash=...  # wheel-file` entry."""
    text = requirements.read_text().replace("\\\n", " ")
    return re.findall(r"--hash=sha256:[0-9a-f]{64}\s+#\s*(\S+\.whl)", text)


def packages_wheels(cache: Path = PACKAGES_CACHE) -> list[Path]:
    """The 91 pinned wheels, fetched by `pip download` into *cache* (which checks every
    hash, --require-hashes being implied by them) unless all are there already."""
    wanted = [cache / name for name in pinned_files()]
    if not all(w.is_file() for w in wanted):
        cache.mkdir(parents=True, exist_ok=True)
        argv = [*corpus.pip_command(), "download", "--no-deps", "--disable-pip-version-check"]
        argv += ["-q", *corpus.target_args(), "-r", str(PACKAGES_REQUIREMENTS), "-d", str(cache)]
        subprocess.run(argv, check=True)
    return wanted


def wheels(name: str, scratch: Path, *, smoke: bool) -> list[Path]:
    """The wheel files of *name* ("corpus" or "packages"); generated under *scratch* in a
    smoke run, each with a console script so uv writes one as with real wheels."""
    if smoke:
        return trees.make_fake_wheels(scratch / f"fake-{name}", SMOKE_COUNTS[name])
    return corpus.ensure_wheels() if name == "corpus" else packages_wheels()
