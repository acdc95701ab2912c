"""The virtualenv seeder, `virtualenv --seeder fastlink`, through the real
virtualenv (and tox) from PyPI: the `test` extra installs both.

Every environment is created offline (--no-download, --no-periodic-update)
with virtualenv's app-data folder inside the test's own directory on the XFS
mount (--app-data, or VIRTUALENV_OVERRIDE_APP_DATA for tox), so the user's
real app-data is never touched, and with the caller's VIRTUALENV_*, PIP_* and
TOX_* settings and config files out of the way.

Only virtualenv's public interfaces are looked at: its command line, the
environments it makes, and the seeded distributions' RECORDs; never how it
names or lays out its app-data images. `make wheel-test` runs this file
against the newest virtualenv and tox in the `test` extra's range and, with
tests/constraints-oldest.txt, the oldest.

What is pinned:
  * the seeder is registered, and `import fastlink` does not import virtualenv;
  * whichever way it is selected (--seeder, VIRTUALENV_SEEDER, through tox),
    and under umasks 022, 002 and 077, the fastlink seeder makes the
    environment virtualenv's own copy seeder makes at the same path: the
    same entries, types, modes and bytes (RECORD, INSTALLER and console
    scripts included); only times differ. It reads app-data and never
    changes it;
  * same filesystem (XFS): every seeded file is a reflink (FIEMAP shared
    extents); across filesystems (app-data on XFS, the environment on
    btrfs) every one is a file of its own. In both, nothing seeded is a
    symlink, the environment's pip runs and installs a wheel built here, and
    all of that still works once the app-data folder is deleted;
  * its owner, without CAP_DAC_OVERRIDE, can `pip uninstall pip` and
    `rm -rf` the environment;
  * --symlink-app-data and VIRTUALENV_SYMLINK_APP_DATA are answered alike:
    a warning that says why, and the same environment, with no symlink.
"""

from __future__ import annotations

import csv
import importlib.metadata
import importlib.util
import os
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Union

import pytest
from faultutil import unprivileged_prefix
from fdwalk import remove_tree
from fiemap import describe_extents, is_fully_shared
from procutil import run_or_fail
from skips import skip_or_fail
from snapshots import Snapshot, snapshot, tree_differences
from wheelutil import write_wheel

StrPath = Union[str, "os.PathLike[str]"]
TIMEOUT_S = 300
OFFLINE = ["--no-download", "--no-periodic-update"]
# What virtualenv prints for the seeder it used ("seeder FastlinkFromAppData(...)").
SEEDER_REPR = "FastlinkFromAppData("

# A wheel for the seeded pip to install.
PROBE = "fastlink_seeder_probe"
PROBE_DIST_INFO = f"{PROBE}-1.0.dist-info"
PROBE_MEMBERS = {
    f"{PROBE}/__init__.py": (b"ANSWER = 42\n", 0o644),
    f"{PROBE_DIST_INFO}/METADATA": (
        f"Metadata-Version: 2.1\nName: {PROBE}\nVersion: 1.0\n".encode(),
        0o644,
    ),
    f"{PROBE_DIST_INFO}/WHEEL": (
        b"Wheel-Version: 1.0\nGenerator: fastlink-tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
        0o644,
    ),
}


def isolated_environ(**extra: str) -> dict[str, str]:
    """os.environ without the caller's virtualenv, pip and tox settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUALENV_", "PIP_", "TOX_"))}
    env.update(
        VIRTUALENV_CONFIG_FILE=os.devnull,
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        TOX_USER_CONFIG_FILE=os.devnull,
    )
    env.update(extra)
    return env


def run(argv: Sequence[StrPath], *, cwd: StrPath | None = None, **env: str) -> str:
    """Run a command in isolated_environ(**env); its output, or the test fails with it."""
    return run_or_fail(argv, cwd=cwd, env=isolated_environ(**env), timeout=TIMEOUT_S, tail_lines=40)


def create_env(dest: Path, app_data: Path, *args: str, **env: str) -> str:
    """`python -m virtualenv` offline, with this app-data folder; its output."""
    argv = [sys.executable, "-m", "virtualenv", *OFFLINE, "--app-data", app_data, *args, dest]
    return run(argv, **env)


def site_packages(env: Path) -> Path:
    (site,) = env.glob("lib/python3.*/site-packages")
    return site


def seeded_files(env: Path) -> list[Path]:
    """The regular files the seed distributions installed in site-packages,
    as their RECORDs (the wheel format's public list) name them."""
    site = site_packages(env)
    files = []
    for record in site.glob("*.dist-info/RECORD"):
        for row in csv.reader(record.read_text(encoding="utf-8").splitlines()):
            path = Path(os.path.normpath(site / row[0]))
            if path.is_relative_to(site) and path.is_file() and not path.is_symlink():
                files.append(path)
    assert len(files) > 100, files
    return files


def assert_nothing_seeded_is_a_symlink(env: Path) -> None:
    links = [k for k, v in snapshot(site_packages(env)).items() if v["type"] == "symlink"]
    assert links == []


def assert_every_seeded_file_is_a_reflink(env: Path) -> None:
    """Every non-empty seeded file shares all its extents (FIEMAP): only
    app-data holds the same data, so each is a clone of its image file."""
    files = [f for f in seeded_files(env) if f.stat().st_size]
    not_reflinked = [f"{f}: {describe_extents(f)}" for f in files if not is_fully_shared(f)]
    assert not_reflinked == []


def assert_no_seeded_file_shares_anything(env: Path) -> None:
    """Every seeded file is a file of its own: one link, no shared extents."""
    shared = [f for f in seeded_files(env) if f.stat().st_nlink != 1 or is_fully_shared(f)]
    assert shared == []


def without_bytecode(differences: list[str]) -> list[str]:
    """Differences, less those in __pycache__: bytecode written when an
    environment's python ran (tox lists its packages), which records the
    times of the sources it was compiled from."""
    return [d for d in differences if "/__pycache__" not in d]


def seeded_by_copy(env: Path, app_data: Path, *args: str, **env_vars: str) -> Snapshot:
    """The environment virtualenv's own copy seeder makes at `env`, with the
    same command line otherwise (pyvenv.cfg records it; shebangs and activate
    scripts hold the path), as a snapshot; the env is removed again, while
    the app-data images it built stay for the fastlink seeder."""
    out = create_env(env, app_data, "--seeder", "app-data", *args, **env_vars)
    assert SEEDER_REPR not in out
    seeded = snapshot(env)
    remove_tree(env)
    return seeded


def app_data_files(app_data: Path) -> Snapshot:
    """app-data's regular files and directories, by identity, less what
    virtualenv rewrites on every run (its interpreter cache, locks)."""
    return {
        k: v
        for k, v in snapshot(app_data, identity=True).items()
        if b"py_info" not in k and not k.endswith(b".lock")
    }


def build_probe_wheel(directory: Path) -> Path:
    return write_wheel(directory / f"{PROBE}-1.0-py3-none-any.whl", PROBE_MEMBERS, PROBE_DIST_INFO)


def assert_env_installs_and_imports(env: Path, wheel: Path) -> None:
    """The env's pip runs, installs `wheel` from the file alone, and the env's
    python imports what it installed."""
    assert f"from {site_packages(env)}" in run([env / "bin" / "pip", "--version"])
    pip_install = ["install", "--no-index", "--force-reinstall", wheel]
    run([env / "bin" / "pip", *pip_install])
    answer = run([env / "bin" / "python", "-c", f"import {PROBE}; print({PROBE}.ANSWER)"])
    assert answer.strip() == "42"


def assert_env_outlives_app_data(env: Path, app_data: Path, wheel: Path) -> None:
    assert_env_installs_and_imports(env, wheel)
    remove_tree(app_data)
    assert_env_installs_and_imports(env, wheel)


# --------------------------------------------------------------------------


def test_import_fastlink_does_not_import_virtualenv() -> None:
    code = "import sys, fastlink; print(sorted(m for m in sys.modules if 'virtualenv' in m))"
    assert run([sys.executable, "-c", code]).strip() == "[]"


def test_fastlink_is_registered_as_a_virtualenv_seeder() -> None:
    from fastlink.virtualenv_seeder import FastlinkFromAppData

    eps = importlib.metadata.entry_points()
    group = (
        eps.select(group="virtualenv.seed")
        if hasattr(eps, "select")
        else eps.get("virtualenv.seed", [])  # Python 3.9
    )
    assert {ep.name: ep.load() for ep in group}.get("fastlink") is FastlinkFromAppData
    assert "fastlink" in run([sys.executable, "-m", "virtualenv", "--help"])


def test_same_filesystem_seed_reflinks_every_file_and_the_env_outlives_app_data(
    xfs: Path, fresh_dir, tmp_path: Path
) -> None:
    work = fresh_dir(xfs)
    env, app_data = work / "env", work / "app-data"
    by_copy = seeded_by_copy(env, app_data)
    assert SEEDER_REPR in create_env(env, app_data, "--seeder", "fastlink")

    assert tree_differences(by_copy, snapshot(env), modes="exact", times=False) == []
    assert_nothing_seeded_is_a_symlink(env)
    assert_every_seeded_file_is_a_reflink(env)

    assert_env_outlives_app_data(env, app_data, build_probe_wheel(tmp_path))


def test_cross_device_seed_copies_every_file_and_the_env_outlives_app_data(
    xfs: Path, btrfs: Path, fresh_dir, tmp_path: Path
) -> None:
    app_data = fresh_dir(xfs) / "app-data"
    env = fresh_dir(btrfs) / "env"
    by_copy = seeded_by_copy(env, app_data)
    assert SEEDER_REPR in create_env(env, app_data, "--seeder", "fastlink")

    assert tree_differences(by_copy, snapshot(env), modes="exact", times=False) == []
    assert_nothing_seeded_is_a_symlink(env)
    assert_no_seeded_file_shares_anything(env)

    assert_env_outlives_app_data(env, app_data, build_probe_wheel(tmp_path))


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077], ids=lambda m: f"umask-{m:03o}")
def test_seeder_env_var_seeds_what_the_copy_seeder_seeds_from_its_own_image(
    xfs: Path, fresh_dir, umask: int
) -> None:
    work = fresh_dir(xfs)
    env, app_data = work / "env", work / "app-data"
    old = os.umask(umask)  # the children inherit it
    try:
        by_copy = seeded_by_copy(env, app_data)
        images = app_data_files(app_data)
        assert SEEDER_REPR in create_env(env, app_data, VIRTUALENV_SEEDER="fastlink")
    finally:
        os.umask(old)
    assert tree_differences(by_copy, snapshot(env), modes="exact", times=False) == []
    # The copy seeder's images were used as they were: not rebuilt, not changed.
    assert app_data_files(app_data) == images


def test_the_seeded_env_can_be_removed_and_its_pip_uninstalled_without_root(
    xfs: Path, fresh_dir
) -> None:
    """As the owner without CAP_DAC_OVERRIDE: `pip uninstall -y pip` leaves
    nothing behind, and `rm -rf env` works (virtualenv 21.15.13 made its
    images read-only, and an exact copy of their modes could do neither)."""
    work = fresh_dir(xfs)
    env, app_data = work / "env", work / "app-data"
    create_env(env, app_data, "--seeder", "fastlink")
    as_owner = unprivileged_prefix()  # root keeps its uid, loses CAP_DAC_OVERRIDE
    run([*as_owner, env / "bin" / "python", "-m", "pip", "uninstall", "-y", "pip"])
    # (pip may remove site-packages itself once it is empty: 3.12+ seeds pip alone.)
    # pip's own entries, and the `~ip` directory a failed uninstall leaves.
    leftovers = sorted(
        p.name
        for p in (env / "lib").rglob("*")
        if p.name == "pip" or p.name.startswith(("pip-", "pip.", "~"))
    )
    assert leftovers == []
    run([*as_owner, "rm", "-rf", env])
    assert not env.exists()


@pytest.mark.parametrize("how", ["flag", "env var"])
def test_symlink_app_data_is_answered_alike_with_a_warning_and_never_symlinks(
    xfs: Path, fresh_dir, how: str
) -> None:
    work = fresh_dir(xfs)
    env, app_data = work / "env", work / "app-data"
    by_copy = seeded_by_copy(env, app_data)
    if how == "flag":
        out = create_env(env, app_data, "--seeder", "fastlink", "--symlink-app-data")
    else:
        out = create_env(env, app_data, "--seeder", "fastlink", VIRTUALENV_SYMLINK_APP_DATA="1")
    assert SEEDER_REPR in out
    assert "never links the environment into app-data" in out
    assert tree_differences(by_copy, snapshot(env), modes="exact", times=False) == []
    assert_nothing_seeded_is_a_symlink(env)
    assert_every_seeded_file_is_a_reflink(env)


def test_tox_passes_the_seeder_env_var_through_to_its_environments(xfs: Path, fresh_dir) -> None:
    if importlib.util.find_spec("tox") is None:
        skip_or_fail("tox is not installed (the `test` extra brings it)")
    work = fresh_dir(xfs)
    app_data, project = work / "app-data", work / "project"
    project.mkdir()
    (project / "tox.ini").write_text(
        textwrap.dedent(
            """\
            [tox]
            skipsdist = true
            [testenv:seeded]
            skip_install = true
            commands = python -c "import pip"
            """
        )
    )
    tox = [sys.executable, "-m", "tox", "-vv", "-e", "seeded", "--workdir", work / "tox"]
    log = run(
        tox,
        cwd=project,
        VIRTUALENV_SEEDER="fastlink",
        VIRTUALENV_OVERRIDE_APP_DATA=os.fspath(app_data),
    )
    assert f"add seed packages via {SEEDER_REPR}" in log
    env = work / "tox" / "seeded"
    assert_nothing_seeded_is_a_symlink(env)
    assert_every_seeded_file_is_a_reflink(env)
    # What the copy seeder makes through tox at the same path; under CI, tox
    # also runs the env's pip (to list its packages): bytecode may differ.
    # (tox's own log/ differs between runs: the seeded parts are compared.)
    by_fastlink = {part: snapshot(env / part) for part in ("bin", "lib")}
    remove_tree(work / "tox")
    run(tox, cwd=project, VIRTUALENV_OVERRIDE_APP_DATA=os.fspath(app_data))
    for part, seeded in by_fastlink.items():
        differences = tree_differences(snapshot(env / part), seeded, modes="exact", times=False)
        assert without_bytecode(differences) == []
