"""A file list per call: `clone_files(src, dst, files)` placing every file of the corpus
by its relative path (as an installer does from a wheel's RECORD), against the Python
loop an installer would otherwise run: os.makedirs for each new directory, then
shutil.copy2 per file (os.link on the hard-link pair). Both in-process."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import fastlink
import pytest
from fs_pairs import PAIRS

ROUNDS = 5
PAIR_KEYS = ("xfs-reflink", "xfs-hardlink", "xfs-btrfs-copy")


@pytest.fixture(scope="module")
def corpus_files(sources) -> tuple[Path, list[str]]:
    root = sources.tree("corpus")
    names = [
        os.path.relpath(os.path.join(d, n), root) for d, _, files in os.walk(root) for n in files
    ]
    return root, sorted(names)


def python_loop(src: Path, dst: Path, files: list[str], hardlink: bool) -> None:
    place = os.link if hardlink else shutil.copy2
    made: set[str] = set()
    for rel in files:
        parent = os.path.dirname(rel)
        if parent not in made:
            os.makedirs(dst / parent, exist_ok=True)
            made.add(parent)
        place(src / rel, dst / rel)


@pytest.mark.parametrize("candidate", ["fastlink", "loop"])
@pytest.mark.parametrize("pair_key", PAIR_KEYS)
def test_file_list(pair_key, candidate, round_, corpus_files, mount, timed_round):
    pair = PAIRS[pair_key]
    src, files = corpus_files
    dst = mount(pair.dst_fs) / "dst" / f"file-list.{pair_key}.{candidate}"
    if candidate == "fastlink":
        target = lambda: fastlink.clone_files(src, dst, files, methods=pair.methods)  # noqa: E731
    else:
        target = lambda: python_loop(src, dst, files, pair.op == "hardlink")  # noqa: E731
    result = timed_round(
        target,
        clean=dst,
        group=f"file-list corpus {pair_key}",
        part="file-list",
        workload="corpus",
        pair=pair_key,
        candidate=candidate,
        round=round_,
        files=len(files),
    )
    if round_ == 0:
        assert sum(len(f) for _, _, f in os.walk(dst)) == len(files)
        if candidate == "fastlink":
            assert (result.method, result.files) == (pair.op, len(files))
