"""Packaging: what users get from `pip install .`, `maturin build` and `maturin sdist`.

Every build starts from a fresh clone of the working tree: the files git would
commit (tracked, plus untracked files that are not ignored), copied in their
working-tree state into a temporary directory. Uncommitted edits are included;
target/, .venv/, benchmark corpora and stray extension builds are not.

From that clone the module builds, once each:
  * `pip install <clone>` into a fresh venv (pip fetches maturin into an
    isolated build environment, so this one needs PyPI);
  * `maturin build --release`: one abi3 wheel, installed into another venv;
  * `maturin sdist`, then `pip wheel --no-deps <sdist>`, installed into a third.
Each installed copy must import and place a small tree. The wheel's METADATA
is checked field by field.

All builds share one CARGO_TARGET_DIR so the dependencies compile once:
$FASTLINK_PACKAGING_TARGET_DIR if set, else <repo>/target/packaging-tests. It
is kept between runs, so a rerun compiles only the fastlink crate itself, for
the sdist build (~8 s): ~15 s in all, ~35 s from cold on 2 cores. It is never
target/release, which `make develop` uses.
"""

from __future__ import annotations

import configparser
import email.message
import email.parser
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import pytest
from packaging.requirements import Requirement
from packaging.utils import parse_wheel_filename
from packaging.version import Version
from procutil import run_or_fail
from skips import skip_or_fail

REPO = Path(__file__).resolve().parent.parent
DIST_NAME = "fastlink-fs"
REPO_URL = "https://github.com/fastlink-fs/fastlink"
LICENSE_FILES = ("LICENSE-MIT", "LICENSE-APACHE")
BUILD_TIMEOUT = 1200  # seconds; a cold build of every dependency takes ~30 s on 2 cores

StrPath = Union[str, "os.PathLike[str]"]


# --------------------------------------------------------------------------------------
# Helpers


def run(argv: Sequence[StrPath], *, cwd: Path, env: Mapping[str, str]) -> str:
    """Run a command; fail the test with the tail of its output if it fails."""
    return run_or_fail(argv, cwd=cwd, env=env, timeout=BUILD_TIMEOUT)


def cargo_version(manifest: Path) -> str:
    """The [package] version of a Cargo.toml (no tomllib: it is 3.11+)."""
    package = manifest.read_text().split("[package]", 1)[1].split("\n[", 1)[0]
    match = re.search(r'^version\s*=\s*"([^"]+)"', package, re.MULTILINE)
    assert match, f"no [package] version in {manifest}"
    return match.group(1)


def pip_supports_python_option() -> bool:
    """pip >= 22.3 can install into another interpreter (`pip --python`)."""
    if importlib.util.find_spec("pip") is None:
        return False
    import pip

    return Version(pip.__version__) >= Version("22.3")


@dataclass(frozen=True)
class Venv:
    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def pip(self) -> list[str]:
        if (self.path / "bin" / "pip").exists():
            return [str(self.python), "-m", "pip"]
        return [sys.executable, "-m", "pip", "--python", str(self.python)]


def make_venv(path: Path, env: Mapping[str, str]) -> Venv:
    """A fresh venv of the running interpreter. Without its own pip when the
    running pip can install into it (saves ~4 s of ensurepip per venv)."""
    argv = [sys.executable, "-m", "venv", str(path)]
    if pip_supports_python_option():
        argv.insert(3, "--without-pip")
    run(argv, cwd=path.parent, env=env)
    return Venv(path)


# Runs inside an installed venv (so: Python 3.9 syntax, stdlib only). Places a
# small tree and prints what the installed package reports, as JSON.
SMOKE = r"""
import importlib.metadata, json, os, sys, tempfile
import fastlink, fastlink._fastlink

with tempfile.TemporaryDirectory() as tmp:
    src, dst = os.path.join(tmp, "src"), os.path.join(tmp, "dst")
    contents = {"a.txt": b"hello\n", os.path.join("sub", "b.bin"): bytes(range(256)) * 64}
    os.makedirs(os.path.join(src, "sub"))
    for rel, data in contents.items():
        with open(os.path.join(src, rel), "wb") as f:
            f.write(data)
    os.symlink("a.txt", os.path.join(src, "link"))
    report = fastlink.clone_or_copy(src, dst)
    placed = {}
    for rel in contents:
        with open(os.path.join(dst, rel), "rb") as f:
            placed[rel] = f.read() == contents[rel]
    link = os.readlink(os.path.join(dst, "link"))

dist = importlib.metadata.distribution("fastlink-fs")
print(json.dumps({
    "prefix": sys.prefix,
    "package": fastlink.__file__,
    "extension": fastlink._fastlink.__file__,
    "version": fastlink.__version__,
    "dist_version": importlib.metadata.version("fastlink-fs"),
    "generator": dist.read_text("WHEEL"),
    "method": report.method,
    "counts": [report.files, report.dirs, report.symlinks, report.bytes],
    "placed": placed,
    "link": link,
}))
"""


def assert_installed_fastlink_works(venv: Venv, version: str, env: Mapping[str, str]) -> None:
    """Import the venv's fastlink (not the repo's: cwd is elsewhere) and place a tree."""
    out = run([venv.python, "-c", SMOKE], cwd=venv.path, env=env)
    got: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    prefix = Path(got["prefix"]).resolve()
    assert prefix == venv.path.resolve()
    assert Path(got["package"]).resolve().is_relative_to(prefix / "lib")
    assert re.search(r"_fastlink\.abi3\.so$", got["extension"]), got["extension"]
    assert got["version"] == version
    assert Version(got["dist_version"]) == Version(version)
    assert "Generator: maturin" in got["generator"]
    assert got["method"] in {"reflink", "copy"}
    assert got["counts"] == [2, 2, 1, len(b"hello\n") + 256 * 64]
    assert all(got["placed"].values()), got["placed"]
    assert got["link"] == "a.txt"


def only_wheel(directory: Path) -> Path:
    wheels = sorted(directory.glob("*.whl"))
    assert len(wheels) == 1, f"expected one wheel in {directory}, found {wheels}"
    return wheels[0]


def assert_abi3_wheel(wheel: Path) -> None:
    name, _, _, tags = parse_wheel_filename(wheel.name)
    assert name == DIST_NAME
    assert {(t.interpreter, t.abi) for t in tags} == {("cp39", "abi3")}, wheel.name


def wheel_metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as zf:
        (path,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        return email.parser.Parser().parsestr(zf.read(path).decode())


# --------------------------------------------------------------------------------------
# Fixtures: one clone, one build of each kind, per module


@pytest.fixture(scope="module")
def build_env() -> dict[str, str]:
    target = os.environ.get("FASTLINK_PACKAGING_TARGET_DIR") or REPO / "target" / "packaging-tests"
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    env.update(
        CARGO_TARGET_DIR=str(target),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
    )
    return env


@pytest.fixture(scope="module")
def maturin() -> Path:
    here = Path(sys.executable).parent / "maturin"
    found = here if here.exists() else shutil.which("maturin")
    if found is None:
        skip_or_fail("maturin is not installed next to the running Python nor on PATH")
    return Path(str(found))


def files_git_would_commit(repo: Path) -> list[str]:
    """Tracked files plus untracked, not-ignored ones, that exist in the working tree."""
    if shutil.which("git") is None or not (repo / ".git").exists():
        skip_or_fail(f"{repo} is not a git checkout (or git is missing)")
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo,
        stdout=subprocess.PIPE,
        check=True,
    ).stdout
    names = dict.fromkeys(os.fsdecode(n) for n in out.split(b"\0") if n)
    return [n for n in names if os.path.lexists(repo / n)]


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone of the working tree (mtimes kept, so cargo's fingerprints hold)."""
    dest = tmp_path_factory.mktemp("packaging") / "fastlink"
    for name in files_git_would_commit(REPO):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target, follow_symlinks=False)
    return dest


@pytest.fixture(scope="module")
def version(clone: Path) -> str:
    return cargo_version(clone / "Cargo.toml")


@pytest.fixture(scope="module")
def pip_installed(clone: Path, build_env: dict[str, str]) -> Venv:
    """`pip install <clone>` into a fresh venv, with build isolation."""
    venv = make_venv(clone.parent / "venv-pip", build_env)
    run([*venv.pip, "install", clone], cwd=clone.parent, env=build_env)
    return venv


@pytest.fixture(scope="module")
def wheel(clone: Path, maturin: Path, build_env: dict[str, str]) -> Path:
    """The one wheel of `maturin build --release`."""
    out = clone.parent / "wheelhouse"
    run([maturin, "build", "--release", "--out", out], cwd=clone, env=build_env)
    return only_wheel(out)


@pytest.fixture(scope="module")
def wheel_installed(wheel: Path, build_env: dict[str, str]) -> Venv:
    venv = make_venv(wheel.parent.parent / "venv-wheel", build_env)
    run([*venv.pip, "install", "--no-index", "--no-deps", wheel], cwd=venv.path, env=build_env)
    return venv


# What a developer's checkout accumulates; none of it may reach the sdist.
LEFTOVERS = (
    "target/release/libfastlink.so",
    ".venv/pyvenv.cfg",
    "benches/.corpus/wheels/numpy-2.0.0-cp311-cp311-linux_x86_64.whl",
    "dist/fastlink_fs-0.1.0-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
    "python/fastlink/_fastlink.abi3.so",
)


@pytest.fixture(scope="module")
def sdist(clone: Path, maturin: Path, build_env: dict[str, str]) -> Path:
    """`maturin sdist` of a copy of the clone littered with build leftovers."""
    used = clone.parent / "used-checkout"
    shutil.copytree(clone, used, symlinks=True)
    for name in LEFTOVERS:
        (used / name).parent.mkdir(parents=True, exist_ok=True)
        (used / name).write_bytes(b"leftover\n")
    out = clone.parent / "sdist"
    run([maturin, "sdist", "--out", out], cwd=used, env=build_env)
    (found,) = out.glob("*.tar.gz")
    return found


@pytest.fixture(scope="module")
def sdist_members(sdist: Path) -> list[str]:
    """The sdist's file names, without the top `fastlink_fs-X.Y.Z/` directory."""
    with tarfile.open(sdist) as tf:
        names = [m.name for m in tf.getmembers() if m.isfile()]
    tops = {n.split("/", 1)[0] for n in names}
    assert len(tops) == 1, tops
    return sorted(n.split("/", 1)[1] for n in names)


def forget_fastlink_build(target_dir: Path) -> None:
    """Make cargo recompile the fastlink crate itself (not its dependencies) next time.

    The sdist's files carry a fixed old mtime, so cargo would take the artifact
    built from the clone as up to date and never compile the sdist's sources.
    """
    for fingerprint in target_dir.glob("*/.fingerprint/fastlink-*"):
        shutil.rmtree(fingerprint)


@pytest.fixture(scope="module")
def sdist_wheel(sdist: Path, build_env: dict[str, str]) -> Path:
    """`pip wheel --no-deps <sdist>`, compiling the sources the sdist holds."""
    forget_fastlink_build(Path(build_env["CARGO_TARGET_DIR"]))
    out = sdist.parent.parent / "wheel-from-sdist"
    log = run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w", out, sdist],
        cwd=sdist.parent,
        env=build_env,
    )
    assert re.search(r"Compiling fastlink v", log), "the sdist's sources were not compiled"
    return only_wheel(out)


@pytest.fixture(scope="module")
def metadata(wheel: Path) -> email.message.Message:
    return wheel_metadata(wheel)


# --------------------------------------------------------------------------------------
# pip install from a clone


def test_pip_install_from_a_fresh_clone_builds_and_imports(
    pip_installed: Venv, version: str, build_env: dict[str, str]
) -> None:
    assert_installed_fastlink_works(pip_installed, version, build_env)


# --------------------------------------------------------------------------------------
# maturin build: the wheel


def test_maturin_build_makes_one_abi3_wheel(wheel: Path, version: str) -> None:
    assert_abi3_wheel(wheel)
    assert parse_wheel_filename(wheel.name)[1] == Version(version)


def test_the_wheel_holds_the_package_stubs_extension_and_licenses(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    dist_info = f"fastlink_fs-{parse_wheel_filename(wheel.name)[1]}.dist-info"
    assert {n.split("/", 1)[0] for n in names} == {"fastlink", dist_info}
    for name in ["__init__.py", "_fastlink.pyi", "py.typed", "_fastlink.abi3.so"]:
        assert f"fastlink/{name}" in names
    for name in LICENSE_FILES:
        assert f"{dist_info}/licenses/{name}" in names


def test_the_wheel_declares_the_fastlink_console_script_and_virtualenv_seeder(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        (path,) = [n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt")]
        entry_points = configparser.ConfigParser()
        entry_points.read_string(zf.read(path).decode())
    assert dict(entry_points["console_scripts"]) == {"fastlink": "fastlink._cli:main"}
    # `virtualenv --seeder fastlink`: only virtualenv loads it (it is not a dependency).
    seeder = "fastlink.virtualenv_seeder:FastlinkFromAppData"
    assert dict(entry_points["virtualenv.seed"]) == {"fastlink": seeder}


def test_the_wheel_installs_into_a_fresh_venv_and_imports(
    wheel_installed: Venv, version: str, build_env: dict[str, str]
) -> None:
    assert_installed_fastlink_works(wheel_installed, version, build_env)


def test_the_installed_wheel_has_a_fastlink_command(
    wheel_installed: Venv, clone: Path, version: str, build_env: dict[str, str]
) -> None:
    script = wheel_installed.path / "bin" / "fastlink"
    assert script.is_file() and os.access(script, os.X_OK)
    if not (clone / "python" / "fastlink" / "_cli.py").exists():
        return  # the CLI module isn't written yet: the script would fail to import it
    run([script, "--version"], cwd=wheel_installed.path, env=build_env)


# --------------------------------------------------------------------------------------
# maturin sdist, and a wheel built from it


def test_the_sdist_holds_the_sources_and_licenses(sdist_members: list[str]) -> None:
    required = [
        "PKG-INFO",
        "Cargo.toml",
        "Cargo.lock",
        "pyproject.toml",
        "README.md",
        "src/lib.rs",
        "python/fastlink/__init__.py",
        "python/fastlink/_fastlink.pyi",
        "python/fastlink/py.typed",
        *LICENSE_FILES,
    ]
    assert [name for name in required if name not in sdist_members] == []


def test_the_sdist_leaves_out_build_leftovers(sdist_members: list[str]) -> None:
    leaked = [
        name
        for name in sdist_members
        if name.startswith(("target/", ".venv/", "benches/.corpus/", "dist/"))
        or name.endswith((".so", ".whl"))
    ]
    assert leaked == []


def test_the_sdist_pkg_info_has_the_license_expression(sdist: Path, version: str) -> None:
    with tarfile.open(sdist) as tf:
        (member,) = [
            m for m in tf.getmembers() if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO")
        ]
        extracted = tf.extractfile(member)
        assert extracted is not None
        pkg_info = email.parser.Parser().parsestr(extracted.read().decode())
    assert pkg_info["Name"] == DIST_NAME
    assert Version(pkg_info["Version"]) == Version(version)
    assert pkg_info["License-Expression"] == "MIT OR Apache-2.0"


def test_pip_wheel_builds_an_abi3_wheel_from_the_sdist_that_imports(
    sdist_wheel: Path, version: str, build_env: dict[str, str]
) -> None:
    assert_abi3_wheel(sdist_wheel)
    venv = make_venv(sdist_wheel.parent.parent / "venv-sdist", build_env)
    run(
        [*venv.pip, "install", "--no-index", "--no-deps", sdist_wheel], cwd=venv.path, env=build_env
    )
    assert_installed_fastlink_works(venv, version, build_env)


# --------------------------------------------------------------------------------------
# The wheel's METADATA


def test_metadata_names_the_distribution_version_and_python(
    metadata: email.message.Message, version: str
) -> None:
    assert metadata["Name"] == DIST_NAME
    assert Version(metadata["Version"]) == Version(version)
    assert metadata["Requires-Python"] == ">=3.9"
    assert Version(metadata["Metadata-Version"]) >= Version("2.4")  # PEP 639 fields


def test_metadata_declares_the_dual_license_and_ships_both_texts(
    metadata: email.message.Message,
) -> None:
    assert metadata["License-Expression"] == "MIT OR Apache-2.0"
    assert sorted(metadata.get_all("License-File", [])) == sorted(LICENSE_FILES)
    # PEP 639: with a License-Expression, "License ::" classifiers are deprecated
    # (setuptools rejects the mix); the expression alone says it.
    classifiers = metadata.get_all("Classifier", [])
    assert [c for c in classifiers if c.startswith("License ::")] == []


def test_metadata_has_the_classifiers(metadata: email.message.Message) -> None:
    expected = {
        "Development Status :: 3 - Alpha",
        "Environment :: Console",
        "Intended Audience :: Developers",
        "Operating System :: POSIX :: Linux",
        "Operating System :: MacOS",
        "Programming Language :: Python :: 3",
        *(f"Programming Language :: Python :: 3.{minor}" for minor in range(9, 15)),
        "Programming Language :: Python :: Implementation :: CPython",
        "Programming Language :: Rust",
        "Topic :: System :: Filesystems",
        "Typing :: Typed",
    }
    assert expected - set(metadata.get_all("Classifier", [])) == set()


def test_metadata_links_the_project_pages(metadata: email.message.Message) -> None:
    urls = dict(
        (label.strip(), url.strip())
        for label, url in (line.split(",", 1) for line in metadata.get_all("Project-URL", []))
    )
    assert set(urls) >= {"Homepage", "Repository", "Documentation", "Issues"}
    assert urls["Repository"] == REPO_URL
    assert urls["Issues"] == f"{REPO_URL}/issues"
    assert all(url.startswith(REPO_URL) for url in urls.values()), urls


def test_metadata_has_no_runtime_dependencies_and_rich_only_for_the_cli_extra(
    metadata: email.message.Message,
) -> None:
    requirements = [Requirement(line) for line in metadata.get_all("Requires-Dist", [])]
    unconditional = [str(r) for r in requirements if r.marker is None]
    assert unconditional == []
    no_extra = {"extra": ""}
    assert [str(r) for r in requirements if r.marker and r.marker.evaluate(no_extra)] == []

    assert "cli" in metadata.get_all("Provides-Extra", [])
    cli = [r for r in requirements if r.marker and r.marker.evaluate({"extra": "cli"})]
    assert [(r.name, str(r.specifier)) for r in cli] == [("rich", ">=13")]


def test_the_test_extra_brings_what_the_cli_seeder_tests_and_stubtest_need(
    metadata: email.message.Message,
) -> None:
    requirements = [Requirement(line) for line in metadata.get_all("Requires-Dist", [])]
    for extra in ["test", "dev"]:
        names = {r.name for r in requirements if r.marker and r.marker.evaluate({"extra": extra})}
        assert {"pytest", "pexpect", "rich", "mypy", "virtualenv", "tox"} <= names, (extra, names)
