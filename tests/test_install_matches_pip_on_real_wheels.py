"""fastlink.install_wheels makes the venv pip 26 makes (`pip install --no-deps
--no-index --no-compile`), on four small real wheels from PyPI:

  * six: one module and a dist-info;
  * pybind11_global: `.data/headers` (into <venv>/include/site/python3.X/<name>)
    and `.data/data` (CMake and pkg-config files under <venv>/share);
  * jmespath: `.data/scripts/jp.py`, whose `#!python` becomes the venv's python;
  * json5: a console-script launcher.

The same comparison as the held-out check (`make install-check`, over 112
wheels) through installcompare: two venvs made alike, one by the pinned pip run
from its wheel, one by install_wheels, one call per wheel with what pip's
command line implies (requested=True, and the direct_url.json pip wrote). They
must be equal but for INSTALLER ("fastlink"), every RECORD true and complete,
the scripts' shebangs the venv's python, the same distributions found; the
packages import and the scripts run; `pip uninstall` removes all of it. A
batch with a corrupt wheel raises, names the wheel and leaves nothing of it.

The wheels are downloaded once into ~/.cache/fastlink-install-check/wheels (or
$INSTALL_CHECK_WHEELS) with pip: under CI a failed download fails.

The venvs are this Python's when it is 3.10 or later; under 3.9 (which pip 26
no longer runs on) they are those of the oldest CPython 3.10+ on the machine:
fastlink, running on 3.9, installs into another interpreter's environment, as
`--python` lets an installer do. Under CI a missing one fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import fastlink
import installcompare as ic
import pytest
from skips import skip_or_fail


def venv_python() -> str:
    """The interpreter the two venvs are made with: pip 26 needs 3.10+."""
    if sys.version_info >= (3, 10):
        return sys.executable
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for minor in range(10, 15):
        # pyenv's own first: a pyenv shim on PATH runs only where pyenv
        # has that version selected.
        installed = sorted(pyenv.glob(f"3.{minor}.*/bin/python3.{minor}"))
        on_path = shutil.which(f"python3.{minor}")
        if installed:
            return str(installed[0])
        if on_path and "shims" not in Path(on_path).parts:
            return on_path
    skip_or_fail("no CPython 3.10 or later for pip 26 to run on")
    raise AssertionError("unreachable")


PINS = [
    ("six", "1.17.0"),
    ("pybind11_global", "3.1.0"),
    ("jmespath", "1.1.0"),
    ("json5", "0.17.3"),
]
WHEELS_DIR = Path(
    os.environ.get(
        "INSTALL_CHECK_WHEELS", Path.home() / ".cache" / "fastlink-install-check" / "wheels"
    )
)


@dataclass(frozen=True)
class Wheels:
    by_name: dict[str, Path]
    pip: Path  # the reference pip's wheel

    @property
    def all(self) -> list[Path]:
        return [self.by_name[name] for name, _ in PINS]


@dataclass(frozen=True)
class Pair:
    """Two venvs made alike: `pip` by the reference pip, `new` by fastlink."""

    pip: Path
    new: Path
    fresh: ic.Snapshot  # either venv before the install

    def python(self, root: Path) -> Path:
        return root / "bin" / "python"


@pytest.fixture(scope="session")
def wheels() -> Wheels:
    pip_name, pip_version = ic.REFERENCE_PIP.split("==")
    try:
        # Downloaded by the venvs' Python: the reference pip needs 3.10+, and
        # a 3.9 pip would find no wheel of it.
        paths = ic.fetch_wheels(
            [*PINS, (pip_name, pip_version)], WHEELS_DIR, [venv_python(), "-m", "pip"]
        )
    except (subprocess.CalledProcessError, OSError) as e:
        skip_or_fail(f"cannot download the pinned wheels into {WHEELS_DIR}: {e}")
        raise
    return Wheels({name: path for (name, _), path in zip(PINS, paths)}, paths[-1])


def fastlink_install(python: Path, wheel_paths: list[Path], pip_root: Path, cache: Path) -> None:
    """install_wheels, one call per wheel, as pip's command line: requested,
    and with the direct_url.json pip wrote for it."""
    site = next((pip_root / "lib").glob("python*/site-packages"))
    for wheel in wheel_paths:
        name, version = wheel.name.split("-")[:2]
        direct_url = (site / f"{name}-{version}.dist-info" / "direct_url.json").read_text()
        fastlink.install_wheels(
            [wheel], python=str(python), cache_dir=cache, requested=True, direct_url=direct_url
        )


def install_pair(base: Path, wheels: Wheels) -> Pair:
    # The same path but for one word of the same length (the prompt in
    # bin/activate is the directory's name; pip's shebang form the path's length).
    pip, new = base / "pip" / "venv", base / "new" / "venv"
    for root in (pip, new):
        ic.make_venv(root, venv_python())
    pair = Pair(pip, new, ic.snapshot(pip))
    assert ic.differences(pair.fresh, ic.snapshot(new)) == []
    ic.pip_install(pair.python(pair.pip), wheels.pip, wheels.all)
    fastlink_install(pair.python(pair.new), wheels.all, pair.pip, base / "cache")
    return pair


@pytest.fixture(scope="module")
def pair(wheels: Wheels, tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return install_pair(tmp_path_factory.mktemp("install-vs-pip"), wheels)


def test_the_venv_is_pips_but_for_installer(pair: Pair) -> None:
    assert ic.differences(ic.snapshot(pair.pip), ic.snapshot(pair.new)) == []


def test_installer_says_fastlink_for_every_distribution(pair: Pair) -> None:
    found = ic.installers(ic.snapshot(pair.new))
    assert sorted(found.values()) == ["fastlink"] * len(PINS), found


def test_every_record_lists_exactly_the_installed_files_with_true_hashes(pair: Pair) -> None:
    snap = ic.snapshot(pair.new)
    dists, problems = ic.verify_records(pair.new, snap, pair.fresh)
    assert problems == []
    assert len(dists) == len(PINS)
    headers = [f for d in dists for f in d.files if f.startswith("include/site/python")]
    assert headers, "pybind11_global's .data/headers are installed and in its RECORD"


def test_scripts_start_with_the_venvs_python(pair: Pair) -> None:
    snap = ic.snapshot(pair.new)
    dists, _ = ic.verify_records(pair.new, snap, pair.fresh)
    assert ic.shebang_problems(pair.new, snap, dists) == []
    scripts = ic.launchers(snap, dists)
    assert {"bin/jp.py", "bin/pyjson5"} <= set(scripts), scripts
    plain, _ = ic.shebang_forms(str(pair.python(pair.new)))
    assert (pair.new / "bin" / "jp.py").read_bytes().startswith(plain)


def test_importlib_metadata_finds_the_same_distributions(pair: Pair) -> None:
    found = ic.distributions(pair.python(pair.new))
    assert found == ic.distributions(pair.python(pair.pip))
    assert sorted((ic.normalize_name(n), v) for n, v in found) == sorted(
        (ic.normalize_name(n), v) for n, v in PINS
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["bin/python", "-I", "-c", "import six, jmespath, json5"],
        ["bin/pyjson5", "--help"],
        ["bin/jp.py", "--help"],
    ],
    ids=["import", "launcher", "data-script"],
)
def test_packages_import_and_scripts_run(pair: Pair, argv: list[str]) -> None:
    proc = subprocess.run(
        [str(pair.new / argv[0]), *argv[1:]],
        capture_output=True,
        text=True,
        env=ic.quiet_env(),
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_pip_uninstall_removes_all_of_it(wheels: Wheels, tmp_path: Path) -> None:
    pair = install_pair(tmp_path, wheels)
    names = [name for name, _ in PINS]
    for root in (pair.pip, pair.new):
        ic.run_pip(pair.python(root), wheels.pip, ["uninstall", "-y", *names])
    after = ic.snapshot(pair.new)
    # Whatever pip leaves behind (empty directories), it leaves after itself too.
    assert ic.differences(ic.snapshot(pair.pip), after) == []
    assert ic.verify_records(pair.new, after, pair.fresh) == ([], [])


@pytest.mark.parametrize("kind", ["truncated", "hash"])
def test_a_corrupt_wheel_fails_naming_it_and_leaves_nothing_half_installed(
    wheels: Wheels, tmp_path: Path, kind: str
) -> None:
    bad = ic.corrupt_copy(wheels.by_name["jmespath"], kind, tmp_path / "corrupt")
    root = tmp_path / "venv"
    python = ic.make_venv(root, venv_python())
    fresh = ic.snapshot(root)
    batch = [wheels.by_name["six"], bad, wheels.by_name["json5"]]
    with pytest.raises((OSError, ValueError)) as raised:
        fastlink.install_wheels(batch, python=str(python), cache_dir=tmp_path / "cache")
    assert bad.name in str(raised.value)
    snap = ic.snapshot(root)
    dists, problems = ic.verify_records(root, snap, fresh)
    assert problems == []
    assert "jmespath" not in [ic.normalize_name(n) for n, _ in ic.distributions(python)]
    assert ic.leftovers(snap, fresh, dists) == []
