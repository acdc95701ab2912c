"""virtualenv seeding: the seeders test_seeding.py times, each creating a fresh
environment as a whole `python -m virtualenv` process, all offline from one app-data
folder:

- `--seeder fastlink` (fastlink's seeder: installs the seed wheels with
  `fastlink.install_wheels`, from its cache inside app-data),
- `--seeder app-data` (virtualenv's default: copies them),
- `--seeder app-data --symlink-app-data` (symlinks them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CANDIDATES: dict[str, list[str]] = {
    "fastlink": ["--seeder", "fastlink"],
    "app-data copy": ["--seeder", "app-data"],
    "app-data symlink": ["--seeder", "app-data", "--symlink-app-data"],
}
OFFLINE = ["--no-download", "--no-periodic-update"]
TIMEOUT_S = 300


def create(dest: Path, app_data: Path, seeder: str) -> str:
    """`python -m virtualenv` making *dest* with *seeder*; its output."""
    argv = [sys.executable, "-m", "virtualenv", *OFFLINE, "--app-data", str(app_data)]
    argv += [*CANDIDATES[seeder], str(dest)]
    proc = subprocess.run(
        argv,
        env=environ(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=TIMEOUT_S,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout}")
    return proc.stdout


def remove(path: Path) -> None:
    """Remove a tree if it is there (as root: virtualenv's read-only images too)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def environ() -> dict[str, str]:
    """os.environ without the caller's virtualenv settings or config file, and
    without the benches' FASTLINK_WRITEBACK_SECONDS=0: a seed runs as a user's
    does (a freshly built app-data's cache is fresh data, and takes its route)."""
    drop = ("FASTLINK_WRITEBACK_SECONDS",)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUALENV_") and k not in drop}
    env["VIRTUALENV_CONFIG_FILE"] = os.devnull
    return env


def check_seeded(name: str, dest: Path, output: str) -> None:
    """*dest* was seeded the way the seeder's name says."""
    (pip,) = dest.glob("lib/python3.*/site-packages/pip")
    if name == "fastlink" and "FastlinkFromAppData(" not in output:
        raise RuntimeError(f"virtualenv did not use the fastlink seeder:\n{output}")
    if pip.is_symlink() != (name == "app-data symlink"):
        raise RuntimeError(f"{name}: {pip} is {'' if pip.is_symlink() else 'not '}a symlink")
