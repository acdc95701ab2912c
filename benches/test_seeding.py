"""virtualenv seeding, whole processes: `python -m virtualenv` creating a fresh
environment on XFS with fastlink's seeder, virtualenv's default copying app-data seeder,
and its symlinking one (seeding.py). The app-data folder is built and each seeder checked
once, untimed, before the rounds."""

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
        pair="xfs-reflink",
        candidate=candidate,
        round=round_,
        reflink=fastlink.probe(app_data, app_data.parent)["reflink"],
    )
