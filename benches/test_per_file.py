"""Per-file calls: what one `clone_or_copy(src_file, dst_file)` costs an installer that
places files one by one, against `shutil.copy2` (which copies: Python's copy2 never
clones) and, for hard links, `os.link`, into a directory already holding 10 or 10,000
entries; and `fastlink.copy2`, the drop-in, against `shutil.copy2` (part
"per-file-copy2", its candidate recorded as "fastlink"). A round is CALLS calls one
after another, new names, the sources distinct small files on XFS; the report divides
by CALLS.
"""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fastlink
import pytest
import trees
from fs_pairs import PAIRS, FsPair

ROUNDS = 7
CALLS = 300  # a smoke run makes 30
ENTRIES = (10, 10_000)
PEERS = {"xfs-reflink": "copy2", "xfs-btrfs-copy": "copy2", "xfs-hardlink": "link"}
CALLERS: dict[str, Callable[[FsPair], Callable[[Path, Path], Any]]] = {
    "fastlink": lambda p: lambda s, d: fastlink.clone_or_copy(s, d, methods=p.methods),
    "copy2": lambda p: shutil.copy2,
    "link": lambda p: os.link,
    "fastlink.copy2": lambda p: fastlink.copy2,
}
COPY2_PAIRS = [key for key, peer in PEERS.items() if peer == "copy2"]


@pytest.fixture(scope="module")
def source_files(mount, pytestconfig) -> Iterator[list[Path]]:
    """Distinct files of corpus-like sizes (a few empty, some executable), read once;
    then a few untimed calls of every caller, so no round pays for fastlink's first call
    setting up its worker pool.

    The files are synced, so their data is written back, as a cache's long since is:
    FASTLINK_WRITEBACK_SECONDS=0 tells fastlink (which otherwise copies, on XFS, a file
    changed within the writeback window instead of waiting for its clone) for the
    module's calls."""
    saved = os.environ.get("FASTLINK_WRITEBACK_SECONDS")
    os.environ["FASTLINK_WRITEBACK_SECONDS"] = "0"
    calls = CALLS // 10 if pytestconfig.getoption("benchmark_disable") else CALLS
    root = mount("xfs") / "src" / "per-file"
    root.mkdir(parents=True)
    rng = random.Random(f"per-file-{trees.SEED}-{calls}")
    files = []
    for i in range(calls):
        path = root / f"m{i:04d}{'.py' if i % 5 else '.so'}"
        path.write_bytes(rng.randbytes(trees.synth_size(rng)))
        if i % 50 == 7:
            path.chmod(0o755)
        files.append(path)
    os.sync()
    for key, peer in PEERS.items():
        pair = PAIRS[key]
        for cand in ("fastlink", peer, *(["fastlink.copy2"] if key in COPY2_PAIRS else [])):
            warm_up = mount(pair.dst_fs) / "dst" / "per-file-warm-up"
            warm_up.mkdir(parents=True)
            for src in files[:10]:
                CALLERS[cand](pair)(src, warm_up / src.name)
            shutil.rmtree(warm_up)
    yield files
    if saved is None:
        del os.environ["FASTLINK_WRITEBACK_SECONDS"]
    else:
        os.environ["FASTLINK_WRITEBACK_SECONDS"] = saved


@pytest.fixture(scope="module")
def filled_dir(mount):
    """filled_dir(pair, entries, candidate): a directory holding *entries* empty files,
    made once per module, one per candidate so neither inherits the other's names."""
    made: dict[tuple[str, int, str], Path] = {}

    def get(pair: FsPair, entries: int, candidate: str) -> Path:
        key = (pair.key, entries, candidate)
        if key not in made:
            d = mount(pair.dst_fs) / "dst" / "per-file" / f"{pair.key}.{entries}.{candidate}"
            d.mkdir(parents=True)
            for i in range(entries):
                os.close(os.open(d / f"e{i:05d}.py", os.O_WRONLY | os.O_CREAT | os.O_EXCL))
            made[key] = d
        return made[key]

    return get


@pytest.mark.parametrize("candidate", ["fastlink", "peer"])
@pytest.mark.parametrize("entries", ENTRIES)
@pytest.mark.parametrize("pair_key", list(PEERS))
def test_per_file(pair_key, entries, candidate, round_, source_files, filled_dir, timed_round):
    candidate = PEERS[pair_key] if candidate == "peer" else candidate
    place_files(
        "per-file", pair_key, entries, candidate, round_, source_files, filled_dir, timed_round
    )


@pytest.mark.parametrize("candidate", ["fastlink.copy2", "peer"])
@pytest.mark.parametrize("entries", ENTRIES)
@pytest.mark.parametrize("pair_key", COPY2_PAIRS)
def test_per_file_copy2(
    pair_key, entries, candidate, round_, source_files, filled_dir, timed_round
):
    candidate = PEERS[pair_key] if candidate == "peer" else candidate
    place_files(
        "per-file-copy2",
        pair_key,
        entries,
        candidate,
        round_,
        source_files,
        filled_dir,
        timed_round,
    )


def place_files(part, pair_key, entries, candidate, round_, source_files, filled_dir, timed_round):
    pair = PAIRS[pair_key]
    d = filled_dir(pair, entries, candidate)
    dsts = [d / f"new-{src.name}" for src in source_files]
    call = CALLERS[candidate](pair)

    def place_each() -> Any:
        return [call(src, dst) for src, dst in zip(source_files, dsts)]

    def clean() -> None:
        """Back to the *entries* it held; anything else left there (staging) fails."""
        for name in os.listdir(d):
            if not name.startswith("e"):
                assert name.startswith("new-"), f"{name} left in {d}"
                os.unlink(d / name)

    results = timed_round(
        place_each,
        clean=clean,
        group=f"{part} {pair_key} {entries}",
        part=part,
        pair=pair_key,
        entries=entries,
        candidate="fastlink" if candidate == "fastlink.copy2" else candidate,
        round=round_,
        calls=len(dsts),
    )
    if round_ == 0:
        if candidate == "fastlink":
            assert {r.method for r in results} == {pair.op}
        if candidate == "fastlink.copy2":
            assert results == dsts
        for src, dst in zip(source_files, dsts):
            s, t = os.stat(src), os.stat(dst)
            assert s.st_size == t.st_size and (s.st_ino == t.st_ino) == (pair.op == "hardlink")
