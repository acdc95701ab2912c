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
  * the seeder is registered, `import fastlink` does not import virtualenv,
    and the seeder uses no underscore-private name of virtualenv's;
  * whichever way it is selected (--seeder, VIRTUALENV_SEEDER, through tox),
    under umasks 022, 002 and 077, and at a path with a space, the fastlink
    seeder makes the environment virtualenv's own copy seeder makes at the
    same path: the same entries, types, modes and bytes (INSTALLER and
    console scripts included), RECORD with the same rows (virtualenv writes
    the rows it adds in a set's order, which changes from run to run); only
    times differ. It never builds, reads or changes the copy seeder's images;
  * it unpacks each seed wheel once, into fastlink's cache inside the
    app-data folder, and a second seed unpacks nothing; clearing app-data
    clears that cache, and the next seed unpacks again;
  * same filesystem (XFS): every seeded file is a reflink (FIEMAP shared
    extents), but for the INSTALLER and RECORD the install writes, also with
    FASTLINK_METHODS=hardlink; across filesystems (app-data on XFS, the
    environment on btrfs) every one is a file of its own. In both, nothing
    seeded is a symlink, the environment's pip runs and installs a wheel
    built here, and all of that still works once the app-data folder is
    deleted;
  * its owner, without CAP_DAC_OVERRIDE, can `pip uninstall pip` and
    `rm -rf` the environment;
  * --symlink-app-data and VIRTUALENV_SYMLINK_APP_DATA are answered alike:
    a warning that says why, and the same environment, with no symlink.
"""

from __future__ import annotations

import ast
import csv
import importlib.metadata
import importlib.util
import os
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from types import FunctionType
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
# fastlink's cache inside app-data.
CACHE = b"fastlink"

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


# The files the install writes rather than places from the unpacked wheel.
WRITTEN = ("INSTALLER", "RECORD")


def assert_every_seeded_file_is_a_reflink(env: Path) -> None:
    """Every non-empty seeded file the wheel holds shares all its extents
    (FIEMAP): only app-data (fastlink's cache in it) holds the same data, so
    each is a clone of its unpacked file."""
    files = [
        f
        for f in seeded_files(env)
        if f.stat().st_size and not (f.parent.suffix == ".dist-info" and f.name in WRITTEN)
    ]
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


def env_snapshot(env: Path) -> Snapshot:
    """snapshot(env), each RECORD described by its rows, sorted, rather than
    by its bytes: virtualenv's copy seeder appends the rows it adds (INSTALLER,
    its marker, the launchers, bytecode) in the order of a set of paths,
    which changes with each process's hash seed."""
    seeded = snapshot(env)
    for key, entry in seeded.items():
        path = env / os.fsdecode(key)
        if path.name == "RECORD" and path.parent.suffix == ".dist-info":
            rows = csv.reader(path.read_text(encoding="utf-8").splitlines())
            entry["digest"] = sorted(tuple(row) for row in rows if row)
            del entry["size"]
    return seeded


def seeded_by_copy(env: Path, app_data: Path, *args: str, **env_vars: str) -> Snapshot:
    """The environment virtualenv's own copy seeder makes at `env`, with the
    same command line otherwise (pyvenv.cfg records it; shebangs and activate
    scripts hold the path), as an env_snapshot; the env is removed again."""
    out = create_env(env, app_data, "--seeder", "app-data", *args, **env_vars)
    assert SEEDER_REPR not in out
    seeded = env_snapshot(env)
    remove_tree(env)
    return seeded


def assert_seeded_as_by_copy(by_copy: Snapshot, env: Path) -> None:
    assert tree_differences(by_copy, env_snapshot(env), modes="exact", times=False) == []


def app_data_files(app_data: Path) -> Snapshot:
    """app-data's regular files and directories, by identity, less what
    virtualenv rewrites on every run (its interpreter cache, locks) and
    fastlink's cache (and so the folder's own entry, which it changes)."""
    return {
        k: v
        for k, v in snapshot(app_data, identity=True).items()
        if k != b"."
        and b"py_info" not in k
        and not k.endswith(b".lock")
        and not k.startswith(CACHE + b"/")
        and k != CACHE
    }


def cache_files(app_data: Path) -> Snapshot:
    """fastlink's cache in app-data, by identity, less its lock files."""
    return {
        k: v
        for k, v in snapshot(app_data / os.fsdecode(CACHE), identity=True).items()
        if not k.endswith(b".lock")
    }


def unpacked_copies(app_data: Path, module: str) -> list[Path]:
    """Where under app-data a seed package's `module/__init__.py` is: the
    trees the seed packages were unpacked into."""
    return sorted(p for p in app_data.rglob("__init__.py") if p.parent.name == module)


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


def test_the_seeder_uses_no_underscore_private_name_of_virtualenv() -> None:
    """What it imports from virtualenv has no `_` in its module path or name,
    and its seeder class overrides no `_` method of a virtualenv base class
    (the copy seeder's `_sync`, its image layout, changed under it before)."""
    import fastlink.virtualenv_seeder as seeder

    tree = ast.parse(Path(seeder.__file__).read_text(encoding="utf-8"))
    private = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("virtualenv"):
            parts = [*(node.module or "").split("."), *(alias.name for alias in node.names)]
            private += [
                f"from {node.module} import {p}"
                for p in parts
                if p.startswith("_") and not (p.startswith("__") and p.endswith("__"))
            ]
    methods = {
        name
        for name, value in vars(seeder.FastlinkFromAppData).items()
        if name.startswith("_")
        and not name.startswith("__")
        and isinstance(value, (FunctionType, classmethod, staticmethod, property))
    }
    for cls in seeder.FastlinkFromAppData.__mro__[1:]:
        if cls.__module__.startswith("virtualenv"):
            overridden = sorted(methods & set(vars(cls)))
            private += [f"{cls.__qualname__}.{name} overridden" for name in overridden]
    # The image-building app-data seeder is not a base: its run() is private machinery.
    private += [
        f"derives from {cls.__module__}.{cls.__qualname__}"
        for cls in seeder.FastlinkFromAppData.__mro__
        if cls.__module__.startswith("virtualenv.seed.embed.via_app_data")
    ]
    assert private == []


def test_without_virtualenvs_script_maker_distlib_writes_the_same_launchers(
    tmp_path: Path,
) -> None:
    """The fallback for a virtualenv without ScriptMakerCustom (the copy
    seeder's launcher writer, which the seeder uses) writes the same files."""
    from fastlink import virtualenv_seeder as seeder

    exe = tmp_path / "env" / "bin" / "python"
    made = {}
    for how, write in (
        ("virtualenv", seeder._write_launchers),
        ("distlib", seeder._write_launchers_with_distlib),
    ):
        scripts = tmp_path / how
        scripts.mkdir()
        names = write("pip", "pip._internal.cli.main:main", scripts, exe, sys.version_info)
        made[how] = {n: ((scripts / n).read_bytes(), (scripts / n).stat().st_mode) for n in names}
    major, minor = sys.version_info[:2]
    assert sorted(made["virtualenv"]) == sorted(
        ["pip", f"pip{major}", f"pip-{major}.{minor}", f"pip{major}.{minor}"]
    )
    assert made["distlib"] == made["virtualenv"]


def test_a_fresh_app_data_is_unpacked_once_into_fastlinks_cache_and_reused(
    xfs: Path, fresh_dir
) -> None:
    """Into an empty app-data folder: each seed package is unpacked once, in
    `<app-data>/fastlink`, and nowhere else (no image of the copy seeder's);
    a second environment is seeded from it, unpacking nothing; clearing
    app-data clears it, and the next seed unpacks again. Every environment
    is the copy seeder's."""
    work = fresh_dir(xfs)
    env, app_data = work / "env", work / "app-data"
    by_copy = seeded_by_copy(env, work / "app-data-of-the-copy-seeder")

    assert SEEDER_REPR in create_env(env, app_data, "--seeder", "fastlink")
    assert_seeded_as_by_copy(by_copy, env)
    assert_every_seeded_file_is_a_reflink(env)
    (pip_tree,) = unpacked_copies(app_data, "pip")
    assert pip_tree.is_relative_to(app_data / os.fsdecode(CACHE))

    cached = cache_files(app_data)
    remove_tree(env)
    assert SEEDER_REPR in create_env(env, app_data, "--seeder", "fastlink")
    assert_seeded_as_by_copy(by_copy, env)
    assert cache_files(app_data) == cached  # nothing unpacked, nothing changed
    assert unpacked_copies(app_data, "pip") == [pip_tree]

    remove_tree(env)
    remove_tree(app_data)
    assert SEEDER_REPR in create_env(env, app_data, "--seeder", "fastlink")
    assert_seeded_as_by_copy(by_copy, env)
    assert_every_seeded_file_is_a_reflink(env)
    assert [p.relative_to(app_data) for p in unpacked_copies(app_data, "pip")] == [
        pip_tree.relative_to(app_data)
    ]


def test_fastlink_methods_hardlink_does_not_tie_the_env_to_app_data(
    xfs: Path, fresh_dir, tmp_path: Path
) -> None:
    work = fresh_dir(xfs)
    env, app_data = work / "env", work / "app-data"
    by_copy = seeded_by_copy(env, app_data)
    create_env(env, app_data, "--seeder", "fastlink", FASTLINK_METHODS="hardlink")
    assert_seeded_as_by_copy(by_copy, env)
    assert [f for f in seeded_files(env) if f.stat().st_nlink != 1] == []
    assert_every_seeded_file_is_a_reflink(env)
    assert_env_outlives_app_data(env, app_data, build_probe_wheel(tmp_path))


def test_an_env_at_a_path_with_a_space_is_seeded_as_by_copy(
    xfs: Path, fresh_dir, tmp_path: Path
) -> None:
    """Its launchers' shebangs (which then run through /bin/sh) included."""
    work = fresh_dir(xfs)
    env, app_data = work / "my env", work / "app-data"
    by_copy = seeded_by_copy(env, app_data)
    create_env(env, app_data, "--seeder", "fastlink")
    assert_seeded_as_by_copy(by_copy, env)
    assert_env_installs_and_imports(env, build_probe_wheel(tmp_path))


def odd_pip_wheel(directory: Path, version: str) -> Path:
    """virtualenv's bundled pip wheel as pip `version`, with what no bundled
    wheel has: a `.data/scripts` wrapper of its console script (which pip,
    and install_wheels, leave out, keeping its RECORD row) and a module
    whose name holds U+2028 (a line break to str.splitlines, not to csv)."""
    import zipfile

    import virtualenv

    embed = Path(virtualenv.__file__).parent / "seed" / "wheels" / "embed"

    def release(wheel: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in wheel.name.split("-")[1].split("."))

    # Any bundled pip will do: its Requires-Python is dropped below, so that
    # virtualenv finds pip 99.0 for this Python, whichever it is.
    bundled = min(embed.glob("pip-*.whl"), key=release)
    old_dist_info = "-".join(bundled.name.split("-")[:2]) + ".dist-info"
    dist_info = f"pip-{version}.dist-info"
    members: dict[str, tuple[bytes, int]] = {}
    with zipfile.ZipFile(bundled) as zf:
        for info in zf.infolist():
            if info.is_dir() or info.filename == f"{old_dist_info}/RECORD":
                continue
            name = info.filename.replace(old_dist_info, dist_info, 1)
            content = zf.read(info)
            if name == f"{dist_info}/METADATA":
                lines = content.decode("utf-8").split("\n")
                lines = [
                    f"Version: {version}" if line.startswith("Version: ") else line
                    for line in lines
                    if not line.startswith("Requires-Python: ")
                ]
                content = "\n".join(lines).encode("utf-8")
            members[name] = (content, (info.external_attr >> 16) & 0o777 or 0o644)
    members[f"pip-{version}.data/scripts/pip"] = (b"#!python\nimport pip\n", 0o755)
    members["pip/odd\u2028name.py"] = (b"ODD = 1\n", 0o644)
    directory.mkdir(parents=True, exist_ok=True)
    return write_wheel(directory / f"pip-{version}-py3-none-any.whl", members, dist_info)


def test_a_seed_wheel_with_a_data_wrapper_and_an_odd_name_is_seeded_as_by_copy(
    xfs: Path, fresh_dir
) -> None:
    """A seed wheel from --extra-search-dir whose RECORD lists a file the
    install leaves out and a name with U+2028 in it: seeded, with the copy
    seeder's files, modes and RECORD rows. The copy seeder also copies the
    `pip-99.0.data` directory into site-packages, which a pip-style install
    never makes: that directory alone is left out of the comparison."""
    work = fresh_dir(xfs)
    env, app_data = work / "env", work / "app-data"
    wheels = odd_pip_wheel(work / "wheels", "99.0").parent
    args = ("--extra-search-dir", str(wheels), "--pip", "99.0", "--no-setuptools")
    data_dir = b"/pip-99.0.data"
    by_copy = seeded_by_copy(env, app_data, *args)
    assert any(data_dir in path for path in by_copy)  # the copy seeder's own
    by_copy = {path: entry for path, entry in by_copy.items() if data_dir not in path}
    assert SEEDER_REPR in create_env(env, app_data, "--seeder", "fastlink", *args)
    assert_seeded_as_by_copy(by_copy, env)
    assert (site_packages(env) / "pip" / "odd\u2028name.py").is_file()


def test_same_filesystem_seed_reflinks_every_file_and_the_env_outlives_app_data(
    xfs: Path, fresh_dir, tmp_path: Path
) -> None:
    work = fresh_dir(xfs)
    env, app_data = work / "env", work / "app-data"
    by_copy = seeded_by_copy(env, app_data)
    assert SEEDER_REPR in create_env(env, app_data, "--seeder", "fastlink")

    assert_seeded_as_by_copy(by_copy, env)
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

    assert_seeded_as_by_copy(by_copy, env)
    assert_nothing_seeded_is_a_symlink(env)
    assert_no_seeded_file_shares_anything(env)

    assert_env_outlives_app_data(env, app_data, build_probe_wheel(tmp_path))


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077], ids=lambda m: f"umask-{m:03o}")
def test_seeder_env_var_seeds_what_the_copy_seeder_seeds_and_leaves_its_images_alone(
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
    assert_seeded_as_by_copy(by_copy, env)
    # What the copy seeder keeps in app-data (its images) is left as it was.
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
    assert_seeded_as_by_copy(by_copy, env)
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
    by_fastlink = {part: env_snapshot(env / part) for part in ("bin", "lib")}
    remove_tree(work / "tox")
    run(tox, cwd=project, VIRTUALENV_OVERRIDE_APP_DATA=os.fspath(app_data))
    for part, seeded in by_fastlink.items():
        differences = tree_differences(env_snapshot(env / part), seeded, modes="exact", times=False)
        assert without_bytecode(differences) == []
