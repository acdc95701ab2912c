"""The benchmark harness: pytest-benchmark plus what every benchmark module shares.

- Filesystems: tests/mounts.py's session mounts (XFS with reflink, btrfs, ext4, tmpfs),
  with bigger images than the tests use. Root only; without root or the mkfs tools the
  benchmarks skip (fail under CI, as the tests do).
- Sources: the pinned 6-wheel corpus (corpus.py), synthetic trees (trees.py), built once
  on XFS, copied to btrfs for btrfs → btrfs, synced and read into the page cache; taken
  as written back (FASTLINK_WRITEBACK_SECONDS=0), but in test_fresh_trees.py.
- `timed_round`: one pedantic round of one candidate: outside the timing the previous
  destination is removed and `sync` runs (cloning dirty data is much slower), or, with
  `sync=False` (test_fresh_trees.py), runs before the source is written.
- Interleaving: a module's tests take a `round_` parameter (ROUNDS of them, `--rounds`
  overrides); the tests are ordered round by round, each round running every candidate
  of a group once, the order rotated by one per round, so drift on a noisy machine falls
  on all candidates alike. Each benchmark in the JSON is one round; report.py takes the
  medians.
- `--benchmark-disable` (make bench-smoke) runs every benchmark once, on small trees and
  generated wheels; `--bench-big` adds the 100,000-file tree and the 4 GiB file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent / "tests"))  # mounts.py and the tree helpers: the tests
sys.path.insert(0, str(BENCH_DIR))

import corpus  # noqa: E402
import fastlink  # noqa: E402
import mounts  # noqa: E402
import report  # noqa: E402
import trees  # noqa: E402
import wheelsets  # noqa: E402
from fs_pairs import DEFAULT_THREADS, FLOOR_BIN  # noqa: E402
from skips import skip_or_fail  # noqa: E402

# Image sizes in MiB (sparse: they cost what is written; tmpfs: a cap on RAM). The big
# run keeps a 4 GiB source on XFS and btrfs and its copies.
IMAGE_MIB = {"xfs": 4096, "btrfs": 4096, "ext4": 2048, "tmpfs": 2048}
BIG_IMAGE_MIB = {"xfs": 16384, "btrfs": 16384, "ext4": 8192, "tmpfs": 5120}
SMOKE_IMAGE_MIB = {"xfs": 1024, "btrfs": 1024, "ext4": 512, "tmpfs": 512}
# Every benchmark but test_fresh_trees.py (which removes this) syncs its sources before
# each timed round and measures what a call does with data written back; but the sources
# are built moments before the first rounds, so on XFS the fresh-data route (a copy
# where the clone would wait, chosen by ctime, which a sync does not change) would take
# them. A window of 0 takes every file as written back, here and in every child process.
os.environ["FASTLINK_WRITEBACK_SECONDS"] = "0"
RESULTS: list[dict[str, Any]] = []  # this run's rounds, for the ratios printed at the end
# shutil.copytree and rmtree recurse a frame or two per level (before 3.12/3.13): the
# deep tree's 1,000 levels need more than the default limit of 1,000.
sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fastlink benches")
    group.addoption("--rounds", type=int, help="rounds per benchmark (default: the module's)")
    group.addoption("--bench-big", action="store_true", help="add the 100k-file and 4 GiB trees")


def smoke(config: pytest.Config) -> bool:
    return bool(config.getoption("benchmark_disable"))


def pytest_configure(config: pytest.Config) -> None:
    sizes = IMAGE_MIB
    if smoke(config):
        sizes = SMOKE_IMAGE_MIB
    elif config.getoption("bench_big"):
        sizes = BIG_IMAGE_MIB
    for fs, mib in sizes.items():  # read by mounts.Mounts when it mounts: no edit of tests/
        mounts.SESSION_FILESYSTEMS[fs] = (fs, mib)
    compile_fastlink()


def compile_fastlink() -> None:
    """Byte-compile the fastlink package the benches run, as pip does when it
    installs the wheel. The dev venv's install is editable, and where
    PYTHONDONTWRITEBYTECODE is set (it is on the CI machines) Python never
    writes its bytecode: every timed `python -m fastlink` and every seeding
    would parse fastlink's modules from source, about 25 ms a process that
    no installed copy pays (virtualenv's modules, for one, are compiled)."""
    import compileall

    package = Path(fastlink.__file__).parent
    if not compileall.compile_dir(package, quiet=1):
        raise RuntimeError(f"compileall failed on {package}")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "round_" in metafunc.fixturenames:
        config = metafunc.config
        n = 1 if smoke(config) else config.getoption("rounds") or metafunc.module.ROUNDS
        metafunc.parametrize("round_", range(n), ids=lambda r: f"r{r + 1}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Drop the big workloads unless asked for; order each group's tests round by round,
    the candidates rotated (see the module docstring)."""
    if not config.getoption("bench_big"):
        big = [i for i in items if params_of(i).get("workload") in trees.BIG_WORKLOADS]
        config.hook.pytest_deselected(items=big)
        items[:] = [i for i in items if i not in big]
    groups: dict[tuple[Any, ...], list[pytest.Item]] = {}
    for item in items:
        params = params_of(item)
        rest = tuple((k, str(v)) for k, v in params.items() if k not in ("round_", "candidate"))
        groups.setdefault((item.path, getattr(item, "originalname", ""), rest), []).append(item)
    ordered = []
    for members in groups.values():
        cands = list(dict.fromkeys(str(params_of(m).get("candidate")) for m in members))

        def slot(m: pytest.Item, cands: list[str] = cands) -> tuple[int, int]:
            r = params_of(m).get("round_", 0)
            return r, (cands.index(str(params_of(m).get("candidate"))) - r) % len(cands)

        ordered += sorted(members, key=slot)
    items[:] = ordered


def params_of(item: pytest.Item) -> dict[str, Any]:
    callspec = getattr(item, "callspec", None)
    return dict(callspec.params) if callspec else {}


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def warm(root: Path) -> None:
    """Read every file under *root* once, so timed runs find the source in the page cache
    (a stack of its own: os.walk recurses before 3.12, and the deep tree is deep)."""
    stack = [str(root)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    with open(entry.path, "rb") as f:
                        while f.read(1 << 20):
                            pass


@pytest.fixture(scope="session")
def mount(request: pytest.FixtureRequest) -> Iterator[Callable[[str], Path]]:
    """mount("xfs") -> the mount point; the first use of each runs one untimed copy onto
    it, so no timed run pays for a fresh filesystem's first allocations."""
    registry = mounts.Mounts()
    warmed: dict[str, Path] = {}

    def get(fs: str) -> Path:
        if fs not in warmed:
            root = registry.get(fs)
            warm_up = root / "fs-warm-up"
            trees.make_synth(warm_up, 300, seed=trees.SEED + 1)
            shutil.rmtree(warm_up)
            os.sync()
            warmed[fs] = root
        return warmed[fs]

    try:
        yield get
    finally:
        registry.close()


class Sources:
    """The source trees, built on first use: on XFS, then copied to other filesystems."""

    def __init__(self, mount: Callable[[str], Path], smoke: bool) -> None:
        self.mount = mount
        self.smoke = smoke
        self.trees: dict[tuple[str, str], Path] = {}
        self.stats: dict[str, corpus.TreeStats] = {}
        self.wheel_files: dict[str, list[Path]] = {}

    def title(self, workload: str) -> str:
        if self.smoke and workload in trees.SMOKE_SIZES:
            return f"{workload} at smoke size ({trees.SMOKE_SIZES[workload]:,})"
        return {**wheelsets.TITLES, **{k: w[2] for k, w in trees.WORKLOADS.items()}}[workload]

    def tree(self, workload: str, fs: str = "xfs") -> Path:
        if (workload, fs) not in self.trees:
            if fs == "xfs":
                root = self.mount("xfs") / "src" / workload
                remove(root)  # what a build that failed midway left
                self.build(workload, root)
            else:  # a plain copy, not a clone of XFS's blocks
                root = self.mount(fs) / "src" / workload
                root.parent.mkdir(exist_ok=True)
                argv = ["cp", "-a", "--reflink=never", "--sparse=never"]
                subprocess.run([*argv, self.tree(workload), root], check=True)
            os.sync()
            warm(root)
            self.trees[workload, fs] = root
        return self.trees[workload, fs]

    def build(self, workload: str, root: Path) -> None:
        kind, size, _ = trees.WORKLOADS.get(workload, ("wheels", 0, ""))
        size = trees.SMOKE_SIZES.get(workload, size) if self.smoke else size
        if kind in ("corpus", "wheels"):  # one directory per unpacked wheel
            corpus.unpack_all(root, self.wheels(workload))
        else:
            getattr(trees, f"make_{kind}")(root, size)
        self.stats[workload] = corpus.tree_stats(root)

    def wheels(self, name: str) -> list[Path]:
        """The wheel files of "corpus" or "packages", kept on XFS (where uv reads them)."""
        if name not in self.wheel_files:
            scratch = self.mount("xfs") / "wheels" / name
            scratch.mkdir(parents=True)
            got = wheelsets.wheels(name, scratch, smoke=self.smoke)
            for w in got:
                if w.parent != scratch:
                    shutil.copy2(w, scratch / w.name)
            self.wheel_files[name] = [scratch / w.name for w in got]
        return self.wheel_files[name]

    def wheel_trees(self, name: str) -> list[Path]:
        """One unpacked tree per wheel, as an installer's cache holds them."""
        root = self.tree(name)
        return [root / corpus.wheel_stem(w) for w in self.wheel_files[name]]


@pytest.fixture(scope="session")
def sources(mount: Callable[[str], Path], pytestconfig: pytest.Config) -> Sources:
    return Sources(mount, smoke(pytestconfig))


@pytest.fixture(scope="session")
def floor() -> Path:
    """benches/floor's binary (make bench builds it)."""
    if not os.access(FLOOR_BIN, os.X_OK):
        skip_or_fail("benches/floor is not built: cargo build --release in benches/floor")
    return FLOOR_BIN


@pytest.fixture
def timed_round(benchmark: Any) -> Iterator[Callable[..., Any]]:
    """timed_round(target, clean=dst, group=..., **info): one pedantic round of target().

    Before it, outside the timing: `clean` (a path to remove, or a function), `prepare`
    (e.g. a fresh venv) and `sync`; after the test, `clean` again. With `sync=False` the
    sync runs between `clean` and `prepare` instead, so what `prepare` writes is still
    dirty when the timing starts (and nothing else is). `info` goes to the JSON's
    extra_info, from which report.py groups the rounds; a target may set
    extra_info["seconds"] to report a time of its own (the floor's, process start
    excluded)."""
    cleaners: list[Callable[[], None]] = []

    def run(
        target: Callable[[], Any],
        *,
        clean: Path | Callable[[], None],
        group: str,
        prepare: Callable[[], None] = lambda: None,
        sync: bool = True,
        **info: Any,
    ) -> Any:
        cleaner = clean if callable(clean) else lambda: remove(clean)
        cleaners.append(cleaner)

        def setup() -> None:
            cleaner()
            if not sync:
                os.sync()
            prepare()
            if sync:
                os.sync()

        benchmark.group = group
        benchmark.extra_info.update(info)
        result = benchmark.pedantic(target, setup=setup, rounds=1, iterations=1)
        if benchmark.stats is not None:
            RESULTS.append(report.record(benchmark.extra_info, benchmark.stats.stats.median))
        return result

    yield run
    for cleaner in cleaners:
        cleaner()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if RESULTS:
        terminalreporter.section("fastlink ÷ peer (medians of this run's rounds)")
        for line in report.ratio_lines(RESULTS):
            terminalreporter.write_line(line)


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    def version(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        except OSError:
            return "-"
        return ((out.stdout or out.stderr).strip().splitlines() or ["-"])[0]

    uv = Path(sys.executable).with_name("uv")
    machine_info["fastlink"] = {
        "usable_cores": len(os.sched_getaffinity(0)),
        "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "fastlink": fastlink.__version__,
        "fastlink_default_threads": DEFAULT_THREADS,
        "uv": version([str(uv), "--version"]),
        "cp": version(["cp", "--version"]),
        "mkfs.xfs": version(["mkfs.xfs", "-V"]),
        "mkfs.btrfs": version(["mkfs.btrfs", "--version"]),
        "image_mib": {fs: mib for fs, (_, mib) in mounts.SESSION_FILESYSTEMS.items()},
        "smoke": smoke(config),
    }
