"""Peak memory: the peak RSS of a fresh process making one tree call (fastlink's, cp's,
the floor's), and of a Python that only imports fastlink, measured by GNU time's %M.
GNU time forks the command from its own small process: a child spawned straight from
pytest would start with pytest's peak RSS as its own (exec keeps the high-water mark).
The 100,000-file tree needs --bench-big; the default run measures the 10,000-file one."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile

import pytest
from fs_pairs import PAIRS
from skips import skip_or_fail

ROUNDS = 1
GNU_TIME = shutil.which("time", path="/usr/bin")
ONE_CALL = "import sys, fastlink; sys.argv[1:] and fastlink.clone_or_copy(*sys.argv[1:])"


def peak_rss_kib(argv: list[str]) -> int:
    if GNU_TIME is None:
        skip_or_fail("GNU time (/usr/bin/time) is not installed")
    with tempfile.NamedTemporaryFile("r") as out:
        subprocess.run([GNU_TIME, "-f", "%M", "-o", out.name, *argv], check=True)
        return int(out.read().split()[-1])


@pytest.mark.parametrize("candidate", ["fastlink", "cp", "floor"])
@pytest.mark.parametrize("pair_key", ["xfs-reflink", "xfs-btrfs-copy"])
@pytest.mark.parametrize("workload", ["synth-10k", "synth-100k"])
def test_peak_rss(
    workload, pair_key, candidate, round_, sources, mount, timed_round, benchmark, request
):
    pair = PAIRS[pair_key]
    src = sources.tree(workload, pair.src_fs)
    dst = mount(pair.dst_fs) / "dst" / f"rss.{pair_key}.{candidate}"
    if candidate == "floor":
        request.getfixturevalue("floor")  # skips (fails under CI) when it is not built
    argv = {
        "fastlink": [sys.executable, "-c", ONE_CALL, str(src), str(dst)],
        "cp": [*pair.cp_argv, str(src), str(dst)],
        "floor": pair.floor_argv(src, dst),
    }[candidate]

    def run() -> None:
        benchmark.extra_info["maxrss_kib"] = peak_rss_kib(argv)

    group = f"rss {workload} {pair_key}"
    info = {"workload": workload, "pair": pair_key, "files": sources.stats[workload].files}
    timed_round(run, clean=dst, group=group, part="rss", candidate=candidate, **info)


@pytest.mark.parametrize("candidate", ["import fastlink"])
def test_peak_rss_baseline(candidate, round_, timed_round, benchmark):
    def run() -> None:
        benchmark.extra_info["maxrss_kib"] = peak_rss_kib([sys.executable, "-c", ONE_CALL])

    info = {"workload": "python start", "candidate": candidate}
    timed_round(run, clean=lambda: None, group="rss python start", part="rss", **info)
