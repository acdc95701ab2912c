"""virtualenv seeding, whole processes: `python -m virtualenv` creating a fresh
environment on XFS with fastlink's seeder, virtualenv's default copying app-data seeder,
and its symlinking one (seeding.py), in two cases:

- old image: from an app-data folder that is built, and each seeder checked once,
  untimed, before the rounds (the copy seeder's wheel images, fastlink's cache in it);
- fresh image: from an app-data folder emptied before each round (untimed), so each
  seeder builds what it seeds from: virtualenv's seeders their wheel images, fastlink's
  its cache entries, which it keeps inside app-data (nothing else to empty). Emptied, the
  folder also loses virtualenv's interpreter cache, for every seeder alike.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import fastlink
import pytest
import seeding

ROUNDS = 7


@pytest.fixture(scope="module")
def app_data(mount) -> Path:
    folder = mount("xfs") / "seeding" / "app-data"
    for seeder in seeding.CANDIDATES:
        dest = folder.parent / "check"
        seeding.check_seeded(seeder, dest, seeding.create(dest, folder, seeder))
        shutil.rmtree(dest)
    return folder


@pytest.mark.parametrize("candidate", list(seeding.CANDIDATES))
def test_seeding(candidate, round_, app_data, timed_round):
    dest = app_data.parent / f"env.{candidate.replace(' ', '-')}"
    timed_round(
        lambda: seeding.create(dest, app_data, candidate),
        clean=dest,
        group="seeding",
        part="seeding",
        workload="old image",
        pair="xfs-reflink",
        candidate=candidate,
        round=round_,
        reflink=fastlink.probe(app_data, app_data.parent)["reflink"],
    )


@pytest.mark.parametrize("candidate", list(seeding.CANDIDATES))
def test_seeding_fresh_image(candidate, round_, mount, timed_round):
    root = mount("xfs") / "seeding-fresh"
    root.mkdir(exist_ok=True)
    app_data = root / "app-data"
    dest = root / f"env.{candidate.replace(' ', '-')}"

    def clean() -> None:
        for path in (dest, app_data):
            seeding.remove(path)

    output = timed_round(
        lambda: seeding.create(dest, app_data, candidate),
        clean=clean,
        group="seeding-fresh",
        part="seeding",
        workload="fresh image",
        pair="xfs-reflink",
        candidate=candidate,
        round=round_,
        reflink=fastlink.probe(root, root)["reflink"],
    )
    seeding.check_seeded(candidate, dest, output)
