"""The virtualenv seeder, `virtualenv --seeder fastlink`, through the real
virtualenv (and tox) from PyPI: the `test` extra installs both.

Every environment is created offline (--no-download, --no-periodic-update)
with virtualenv's app-data folder inside the test's own directory on the XFS
mount (--app-data, or VIRTUALENV_OVERRIDE_APP_DATA for tox), so the user's
real app-data is never touched, and with the caller's VIRTUALENV_*, PIP_* and
TOX_* settings and config files out of the way.

What is pinned:
  * the seeder is registered, and `import fastlink` does not import virtualenv;
  * same filesystem (XFS): every seeded file is a reflink of the app-data
    image (FIEMAP shared extents); across filesystems (app-data on XFS, the
    environment on btrfs) every one is a copy. In both, nothing seeded is a
    symlink, the environment's pip runs and installs a wheel built here, and
    all of that still works once the app-data folder is deleted;
  * VIRTUALENV_SEEDER=fastlink seeds, from the copy seeder's own image, the
    same environment as `--seeder app-data` (copy mode): the same entries,
    types, modes and bytes (RECORD, INSTALLER and console scripts included);
    only times differ;
  * tox passes VIRTUALENV_SEEDER=fastlink through to the environments it makes.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Union

from procutil import run_or_fail
from treeutil import (
    describe_extents,
    is_fully_shared,
    regular_files,
    remove_tree,
    skip_or_fail,
    snapshot,
    tree_differences,
)
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


def images(app_data: Path) -> list[Path]:
    """The unpacked wheel images in app-data. Only the copy seeder's folder
    exists: the fastlink seeder reads (and builds) those very images."""
    (python_dir,) = (app_data / "wheel").iterdir()
    image_root = python_dir / "image" / "1"
    assert sorted(p.name for p in image_root.iterdir()) == ["CopyPipInstall"]
    found = sorted(p for p in (image_root / "CopyPipInstall").iterdir() if p.is_dir())
    assert any(p.name.startswith("pip-") for p in found), found
    return found


def seeded_entries(env: Path, app_data: Path) -> list[tuple[Path, Path]]:
    """(image entry, its seeded copy in site-packages) for every top-level
    entry of every image."""
    site = site_packages(env)
    return [(entry, site / entry.name) for image in images(app_data) for entry in image.iterdir()]


def assert_seeded_like_the_image(env: Path, app_data: Path, *, ran: bool = False) -> None:
    """Each seeded entry holds what its image entry holds (names, types,
    modes, bytes; not times), and nothing in site-packages is a symlink. ran=True: the
    env's python has run since, so __pycache__ entries may have appeared."""
    for image_entry, seeded in seeded_entries(env, app_data):
        differences = tree_differences(image_entry, seeded, modes="exact", times=False)
        if ran:
            bytecode = [
                d for d in differences if d.startswith("unexpected: ") and "__pycache__" in d
            ]
            differences = [d for d in differences if d not in bytecode]
        assert differences == []
    links = [k for k, v in snapshot(site_packages(env)).items() if v["type"] == "symlink"]
    assert links == []


def seeded_files(env: Path, app_data: Path) -> list[tuple[bytes, bytes]]:
    """(image file, its seeded copy) for every regular file of every image,
    as bytes paths."""
    pairs = []
    for image_entry, seeded in seeded_entries(env, app_data):
        src, dst = os.fsencode(image_entry), os.fsencode(seeded)
        if not image_entry.is_dir():  # the `<dist-info stem>.virtualenv` marker, a .pth
            pairs.append((src, dst))
            continue
        pairs += [(f, os.path.join(dst, os.path.relpath(f, src))) for f in regular_files(src)]
    return pairs


def assert_every_seeded_file_is_a_reflink(env: Path, app_data: Path) -> None:
    """Every non-empty seeded file shares all its extents (FIEMAP)."""
    files = [copy for _, copy in seeded_files(env, app_data) if os.path.getsize(copy)]
    assert len(files) > 100
    not_reflinked = [
        f"{os.fsdecode(p)}: {describe_extents(p)}" for p in files if not is_fully_shared(p)
    ]
    assert not_reflinked == []


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
    assert SEEDER_REPR in create_env(env, app_data, "--seeder", "fastlink")

    assert_seeded_like_the_image(env, app_data)
    assert_every_seeded_file_is_a_reflink(env, app_data)

    assert_env_outlives_app_data(env, app_data, build_probe_wheel(tmp_path))


def test_cross_device_seed_copies_every_file_and_the_env_outlives_app_data(
    xfs: Path, btrfs: Path, fresh_dir, tmp_path: Path
) -> None:
    app_data = fresh_dir(xfs) / "app-data"
    env = fresh_dir(btrfs) / "env"
    assert SEEDER_REPR in create_env(env, app_data, "--seeder", "fastlink")

    assert_seeded_like_the_image(env, app_data)
    for image_file, copy in seeded_files(env, app_data):
        st = os.stat(copy)
        assert (st.st_dev != os.stat(image_file).st_dev, st.st_nlink) == (True, 1), copy

    assert_env_outlives_app_data(env, app_data, build_probe_wheel(tmp_path))


def test_seeder_env_var_seeds_what_the_copy_seeder_seeds_from_its_own_image(
    xfs: Path, fresh_dir
) -> None:
    work = fresh_dir(xfs)
    env, app_data = work / "env", work / "app-data"
    # The same command line both times (pyvenv.cfg records it), at the same
    # path (shebangs and activate scripts hold it): only the seeder differs.
    assert SEEDER_REPR not in create_env(env, app_data)
    by_copy = snapshot(env)
    image_dirs = images(app_data)
    built = [snapshot(image, identity=True) for image in image_dirs]
    remove_tree(env)

    assert SEEDER_REPR in create_env(env, app_data, VIRTUALENV_SEEDER="fastlink")
    assert tree_differences(by_copy, snapshot(env), modes="exact", times=False) == []
    # The copy seeder's images were used as they were: not rebuilt, not changed.
    assert [snapshot(image, identity=True) for image in image_dirs] == built


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
    log = run(
        [sys.executable, "-m", "tox", "-vv", "-e", "seeded", "--workdir", work / "tox"],
        cwd=project,
        VIRTUALENV_SEEDER="fastlink",
        VIRTUALENV_OVERRIDE_APP_DATA=os.fspath(app_data),
    )
    assert f"add seed packages via {SEEDER_REPR}" in log
    env = work / "tox" / "seeded"
    # Under CI, tox also runs the env's pip (to list its packages): bytecode appears.
    assert_seeded_like_the_image(env, app_data, ran=True)
    assert_every_seeded_file_is_a_reflink(env, app_data)
