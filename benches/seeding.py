"""virtualenv seeding: whole-process environment creation, by seeder.

measure_seeding(workdir, rounds) times `python -m virtualenv DEST` creating a
fresh environment with each of

- `--seeder fastlink` (fastlink's seeder: reflinks the app-data images),
- `--seeder app-data` (virtualenv's default: copies them),
- `--seeder app-data --symlink-app-data` (symlinks them),

all offline, from one app-data folder inside `workdir`, which should be on an
XFS (reflink=1) mount the caller made. Each seeder first runs once untimed,
which builds its app-data image (the fastlink and copy seeders share one) and
checks that the seeder did what its name says. Then `rounds` rounds follow,
the candidates interleaved and their order rotated each round; before every
timed run the previous environment is removed and `sync` runs. The timed
span is the whole `python -m virtualenv` process, interpreter start included.

    sudo .venv/bin/python benches/seeding.py /mnt/xfs --rounds 9
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CANDIDATES: dict[str, list[str]] = {
    "fastlink": ["--seeder", "fastlink"],
    "app-data copy": ["--seeder", "app-data"],
    "app-data symlink": ["--seeder", "app-data", "--symlink-app-data"],
}
OFFLINE = ["--no-download", "--no-periodic-update"]
TIMEOUT_S = 300


def _environ() -> dict[str, str]:
    """os.environ without the caller's virtualenv settings or config file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUALENV_")}
    env["VIRTUALENV_CONFIG_FILE"] = os.devnull
    return env


def _create(dest: Path, app_data: Path, seeder_args: list[str]) -> tuple[float, str]:
    """Remove `dest`, sync, then create it with virtualenv: (seconds, output)."""
    if dest.exists():
        shutil.rmtree(dest)
    subprocess.run(["sync"], check=True)
    argv = [sys.executable, "-m", "virtualenv", *OFFLINE, "--app-data", str(app_data)]
    argv += [*seeder_args, str(dest)]
    start = time.perf_counter()
    proc = subprocess.run(
        argv,
        env=_environ(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=TIMEOUT_S,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout}")
    return elapsed, proc.stdout


def _check_seeded(name: str, dest: Path, output: str) -> None:
    """The warm-up's environment was seeded the way the candidate's name says."""
    (pip,) = dest.glob("lib/python3.*/site-packages/pip")
    if name == "fastlink" and "FastlinkFromAppData(" not in output:
        raise RuntimeError(f"virtualenv did not use the fastlink seeder:\n{output}")
    if pip.is_symlink() != (name == "app-data symlink"):
        raise RuntimeError(f"{name}: {pip} is {'' if pip.is_symlink() else 'not '}a symlink")


def measure_seeding(workdir: Path, rounds: int) -> dict[str, Any]:
    """Time environment creation by each of CANDIDATES in `workdir` (see the
    module docstring). Returns {"workdir", "rounds", "reflink", "virtualenv",
    "python", "candidates": {name: {"argv", "samples", "median"}}}, seconds;
    "reflink" says whether fastlink can clone from app-data into the
    environments' directory."""
    import fastlink
    import virtualenv

    workdir = Path(workdir)
    app_data, envs = workdir / "app-data", workdir / "envs"
    envs.mkdir(parents=True, exist_ok=True)
    dests = {name: envs / f"env-{i}" for i, name in enumerate(CANDIDATES)}
    for name, args in CANDIDATES.items():
        _, output = _create(dests[name], app_data, args)
        _check_seeded(name, dests[name], output)

    samples: dict[str, list[float]] = {name: [] for name in CANDIDATES}
    names = list(CANDIDATES)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            seconds, _ = _create(dests[name], app_data, CANDIDATES[name])
            samples[name].append(seconds)
    for dest in dests.values():
        shutil.rmtree(dest)

    return {
        "workdir": str(workdir),
        "rounds": rounds,
        "reflink": fastlink.probe(app_data, envs)["reflink"],
        "virtualenv": virtualenv.__version__,
        "python": sys.version.split()[0],
        # What benches/fastlink_bench/seeding_hook.py renders.
        "medians": {name: statistics.median(samples[name]) for name in CANDIDATES if samples[name]},
        "notes": [
            f"virtualenv {virtualenv.__version__}, whole-process `python -m virtualenv`, "
            f"{rounds} rounds interleaved; reflink possible from app-data: "
            f"{fastlink.probe(app_data, envs)['reflink']}"
        ],
        "candidates": {
            name: {
                "argv": ["python", "-m", "virtualenv", *CANDIDATES[name], "DEST"],
                "samples": samples[name],
                "median": statistics.median(samples[name]) if samples[name] else None,
            }
            for name in CANDIDATES
        },
    }


def format_table(result: dict[str, Any]) -> str:
    """The medians as a small text table, each against fastlink's."""
    base = result["candidates"]["fastlink"]["median"]
    lines = [
        f"virtualenv {result['virtualenv']}, Python {result['python']}, "
        f"{result['rounds']} rounds, reflink possible: {result['reflink']}",
        f"{'seeder':<18} {'median s':>9} {'min s':>7} {'max s':>7} {'vs fastlink':>12}",
    ]
    for name, c in result["candidates"].items():
        s = c["samples"]
        lines.append(
            f"{name:<18} {c['median']:>9.3f} {min(s):>7.3f} {max(s):>7.3f} "
            f"{c['median'] / base:>11.2f}x"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Time virtualenv environment creation, by seeder.")
    ap.add_argument("workdir", type=Path, help="a directory on an XFS reflink mount")
    ap.add_argument("--rounds", type=int, default=9)
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    work = args.workdir / f"seeding-{os.getpid()}"
    work.mkdir(parents=True)
    try:
        print(format_table(measure_seeding(work, args.rounds)))
    finally:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
