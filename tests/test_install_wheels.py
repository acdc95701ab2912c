"""`fastlink.install_wheels` and `fastlink install`: wheels the tests build
(every `.data` kind, entry points, a `#!python` script, non-ASCII names) go
from `.whl` files through the cache on XFS into venvs on XFS (clones, proven
by FIEMAP) and on btrfs (copies across devices), and come out as pip would
install them. Failures are typed, per distribution, and leave nothing of the
failed wheel behind. pip's own byte-for-byte comparison is in the core's
tests (crates/fastlink-core/tests/wheel_install.rs) and, on real wheels, in
test_install_matches_pip_on_real_wheels.py.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import fastlink
import pytest
from fastlink import _environment
from fiemap import is_fully_shared
from hypothesis import given, settings
from hypothesis import strategies as st
from wheelutil import record_hash, write_wheel

XY = f"python{sys.version_info[0]}.{sys.version_info[1]}"


def demo_members(name: str = "demo", version: str = "1.0", body: bytes = b"") -> dict:
    """A wheel's members: a package, one of each `.data` kind, a `#!python`
    script, a console and a GUI entry point, a non-ASCII file name."""
    dist_info = f"{name}-{version}.dist-info"
    data = f"{name}-{version}.data"
    return {
        f"{name}/__init__.py": (
            b"def main():\n    print('hello from " + name.encode() + b"')\n" + body,
            0o644,
        ),
        f"{name}/donn\u00e9es.txt": ("caf\u00e9\n".encode(), 0o644),
        f"{data}/scripts/{name}-tool": (b"#!python\nprint('tool')\n", 0o755),
        f"{data}/headers/{name}.h": (b"int demo;\n", 0o644),
        f"{data}/data/share/{name}/readme.txt": (b"data\n", 0o644),
        f"{dist_info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
            0o644,
        ),
        f"{dist_info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
            0o644,
        ),
        f"{dist_info}/entry_points.txt": (
            f"[console_scripts]\n{name}-hello = {name}:main\n"
            f"[gui_scripts]\n{name}-gui = {name}:main\n".encode(),
            0o644,
        ),
    }


def build(directory: Path, name: str = "demo", version: str = "1.0", body: bytes = b"") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    return write_wheel(wheel, demo_members(name, version, body), f"{name}-{version}.dist-info")


def make_venv(path: Path, *options: str) -> Path:
    argv = [sys.executable, "-m", "venv", "--without-pip", *options, str(path)]
    subprocess.run(argv, check=True)
    return path / "bin" / "python"


def files_below(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def record_rows(dist_info: Path) -> list[list[str]]:
    with open(dist_info / "RECORD", newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def assert_record_is_true(dist_info: Path) -> None:
    """Every row's path exists with its hash and size (RECORD's own row
    bare), relative to the dist-info's parent."""
    site = dist_info.parent
    for path, digest, size in record_rows(dist_info):
        target = (site / path).resolve()
        assert target.is_file(), path
        if path.endswith(".dist-info/RECORD"):
            assert (digest, size) == ("", "")
            continue
        content = target.read_bytes()
        assert digest == record_hash(content), path
        assert size == str(len(content)), path


@pytest.fixture
def cache(xfs, fresh_dir) -> Path:
    return fresh_dir(xfs, "cache-")


@pytest.fixture
def wheels_dir(xfs, fresh_dir) -> Path:
    return fresh_dir(xfs, "wheels-")


@pytest.mark.parametrize("venv_fs", ["xfs", "btrfs"])
def test_a_wheel_installs_as_pip_lays_it_out_and_runs(
    venv_fs, mounts, fresh_dir, cache, wheels_dir
):
    wheel = build(wheels_dir)
    venv = fresh_dir(mounts.get(venv_fs), "venv-")
    python = make_venv(venv / "v")
    before = files_below(venv / "v")

    [dist] = fastlink.install_wheels([wheel], python=python, cache_dir=cache)

    assert (dist.name, dist.version, dist.unpacked) == ("demo", "1.0", True)
    site = venv / "v" / "lib" / XY / "site-packages"
    assert dist.dist_info == site / "demo-1.0.dist-info"
    headers = Path("include", "site", XY, "demo", "demo.h")
    expected_new = (
        {f"lib/{XY}/site-packages/{p}" for p in ("demo/__init__.py", "demo/donn\u00e9es.txt")}
        | {
            f"lib/{XY}/site-packages/demo-1.0.dist-info/{f}"
            for f in ("METADATA", "WHEEL", "entry_points.txt", "RECORD", "INSTALLER")
        }
        | {"bin/demo-tool", "bin/demo-hello", "bin/demo-gui", str(headers), "share/demo/readme.txt"}
    )
    assert files_below(venv / "v") - before == expected_new
    assert_record_is_true(dist.dist_info)
    recorded = {(site / row[0]).resolve() for row in record_rows(dist.dist_info)}
    assert recorded == {(venv / "v" / p).resolve() for p in expected_new}
    assert (dist.dist_info / "INSTALLER").read_text() == "fastlink\n"

    tool = venv / "v" / "bin" / "demo-tool"
    assert tool.read_bytes().split(b"\n")[0] == b"#!" + bytes(python)
    assert os.access(tool, os.X_OK)
    out = subprocess.run([venv / "v" / "bin" / "demo-hello"], capture_output=True, check=True)
    assert out.stdout == b"hello from demo\n"
    assert subprocess.run([tool], capture_output=True, check=True).stdout == b"tool\n"

    placed = site / "demo" / "__init__.py"
    if venv_fs == "xfs":
        assert dist.report.method == "reflink" and dist.report.reflinked == dist.placed
        assert is_fully_shared(placed)
    else:
        assert dist.report.method == "copy" and dist.report.copied == dist.placed
        assert [s[:2] for s in dist.report.skipped] == [("reflink", 18)]  # EXDEV
        assert not is_fully_shared(placed)


def test_a_wheel_is_unpacked_once_and_the_cache_never_changes(xfs, fresh_dir, cache, wheels_dir):
    wheel = build(wheels_dir)
    first = fastlink.install_wheels(
        [wheel], python=make_venv(fresh_dir(xfs) / "a"), cache_dir=cache
    )
    entry_files = {p: p.read_bytes() for p in first[0].entry.rglob("*") if p.is_file()}
    second = fastlink.install_wheels(
        [wheel], python=make_venv(fresh_dir(xfs) / "b"), cache_dir=cache
    )
    assert (first[0].unpacked, second[0].unpacked) == (True, False)
    assert second[0].entry == first[0].entry
    assert {p: p.read_bytes() for p in first[0].entry.rglob("*") if p.is_file()} == entry_files

    # Another wheel under the same file name gets an entry of its own.
    rebuilt = build(wheels_dir, body=b"# rebuilt\n")
    third = fastlink.install_wheels(
        [rebuilt], python=make_venv(fresh_dir(xfs) / "c"), cache_dir=cache
    )
    assert third[0].unpacked is True and third[0].entry != first[0].entry
    assert b"# rebuilt" in (third[0].dist_info.parent / "demo" / "__init__.py").read_bytes()


def test_an_unpacked_tree_is_installed_as_it_is(xfs, fresh_dir, cache, wheels_dir):
    entry = fastlink.unpack_wheel(build(wheels_dir), cache).path
    [dist] = fastlink.install_wheels(
        [entry], python=make_venv(fresh_dir(xfs) / "v"), cache_dir=cache
    )
    assert dist.unpacked is None and dist.entry == entry and dist.placed > 0


def test_an_explicit_scheme_puts_each_kind_where_it_says(tmp_path, cache, wheels_dir):
    scheme = {key: tmp_path / key for key in ("purelib", "platlib", "scripts", "data", "headers")}
    [dist] = fastlink.install_wheels(
        [build(wheels_dir)], scheme=scheme, python=sys.executable, cache_dir=cache
    )
    assert (tmp_path / "purelib" / "demo" / "__init__.py").is_file()
    assert (tmp_path / "headers" / "demo.h").is_file()  # as given: no name appended
    assert (tmp_path / "data" / "share" / "demo" / "readme.txt").is_file()
    assert (
        (tmp_path / "scripts" / "demo-tool")
        .read_bytes()
        .startswith(b"#!" + os.fsencode(sys.executable))
    )
    assert not (tmp_path / "platlib").exists()
    assert_record_is_true(dist.dist_info)


def test_a_corrupt_wheel_in_a_batch_fails_alone_and_leaves_nothing(tmp_path, cache, wheels_dir):
    good = build(wheels_dir, "good")
    bad = build(wheels_dir, "bad")
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])  # truncated
    scheme = {key: tmp_path / key for key in ("purelib", "platlib", "scripts", "data", "headers")}

    with pytest.raises(fastlink.InvalidWheelError) as raised:
        fastlink.install_wheels([bad, good], scheme=scheme, python=sys.executable, cache_dir=cache)
    assert raised.value.filename == str(bad)
    assert (tmp_path / "purelib" / "good-1.0.dist-info" / "RECORD").is_file()
    assert not any("bad" in p for p in files_below(tmp_path))
    assert not (cache / "wheels-v1" / bad.name).exists()
    assert [p.name for p in cache.iterdir()] == ["wheels-v1"]


def test_a_member_whose_bytes_lie_about_its_record_is_refused(tmp_path, cache, wheels_dir):
    wheel = build(wheels_dir)
    with zipfile.ZipFile(wheel) as zf:
        members = {i.filename: (zf.read(i), i.external_attr >> 16) for i in zf.infolist()}
    lying = wheels_dir / "lying" / wheel.name
    lying.parent.mkdir()
    with zipfile.ZipFile(lying, "w") as zf:
        for name, (content, _mode) in members.items():
            zf.writestr(name, content + b"#" if name == "demo/__init__.py" else content)
    scheme = {key: tmp_path / key for key in ("purelib", "platlib", "scripts", "data", "headers")}
    with pytest.raises(fastlink.InvalidWheelError, match=r"demo/__init__\.py"):
        fastlink.install_wheels([lying], scheme=scheme, python=sys.executable, cache_dir=cache)
    assert not (tmp_path / "purelib").exists()


def test_installing_an_installed_distribution_is_a_typed_error(tmp_path, cache, wheels_dir):
    scheme = {key: tmp_path / key for key in ("purelib", "platlib", "scripts", "data", "headers")}
    fastlink.install_wheels(
        [build(wheels_dir)], scheme=scheme, python=sys.executable, cache_dir=cache
    )
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(fastlink.DistributionExistsError) as raised:
        fastlink.install_wheels(
            [build(wheels_dir, version="2.0")],
            scheme=scheme,
            python=sys.executable,
            cache_dir=cache,
        )
    assert raised.value.errno == 17  # EEXIST
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_two_wheels_of_one_distribution_are_refused_before_any_is_read(tmp_path, cache):
    scheme = {key: tmp_path / key for key in ("purelib", "platlib", "scripts", "data", "headers")}
    wheels = [tmp_path / "Foo_Bar-1.0-py3-none-any.whl", tmp_path / "foo.bar-2.0-py3-none-any.whl"]
    for wheel in wheels:
        wheel.write_bytes(b"never read")
    with pytest.raises(ValueError, match="one distribution"):
        fastlink.install_wheels(wheels, scheme=scheme, python=sys.executable, cache_dir=cache)


def test_without_an_environment_the_error_says_how_to_name_one(monkeypatch):
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    monkeypatch.setattr(sys, "prefix", sys.base_prefix)
    with pytest.raises(fastlink.NoEnvironmentError, match="python="):
        fastlink.install_wheels([])


def test_the_cache_is_the_platforms_user_cache_unless_named(monkeypatch, tmp_path):
    monkeypatch.delenv("FASTLINK_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert fastlink.user_cache_dir() == tmp_path / "xdg" / "fastlink"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert fastlink.user_cache_dir() == Path.home() / ".cache" / "fastlink"
    monkeypatch.setenv("FASTLINK_CACHE_DIR", str(tmp_path / "mine"))
    assert fastlink.user_cache_dir() == tmp_path / "mine"


def test_fastlink_methods_is_honoured(monkeypatch, xfs, fresh_dir, cache, wheels_dir):
    monkeypatch.setenv("FASTLINK_METHODS", "copy")
    [dist] = fastlink.install_wheels(
        [build(wheels_dir)], python=make_venv(fresh_dir(xfs) / "v"), cache_dir=cache
    )
    assert dist.report.method == "copy" and dist.report.copied == dist.placed
    assert not is_fully_shared(dist.dist_info.parent / "demo" / "__init__.py")


def run_cli(*argv: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fastlink", "install", *map(str, argv)],
        capture_output=True,
        text=True,
        env=env,
    )


def test_the_command_installs_what_it_can_and_exits_non_zero_naming_the_rest(
    xfs, fresh_dir, cache, wheels_dir
):
    good = build(wheels_dir, "good")
    bad = build(wheels_dir, "bad")
    bad.write_bytes(b"not a zip")
    python = make_venv(fresh_dir(xfs) / "v")

    done = run_cli("--python", python, "--cache-dir", cache, "--json", good, bad)

    assert done.returncode == 1, done.stderr
    assert f"fastlink: error: {bad}:" in done.stderr
    answer = json.loads(done.stdout)
    assert [d["name"] for d in answer["installed"]] == ["good"]
    assert answer["installed"][0]["method"] == "reflink"
    [failed] = answer["failed"]
    assert (failed["wheel"], failed["exception"], failed["error"]) == (
        str(bad),
        "InvalidWheelError",
        "EBADMSG",
    )


def test_the_command_defaults_to_the_active_virtual_environment(xfs, fresh_dir, cache, wheels_dir):
    venv = fresh_dir(xfs) / "v"
    make_venv(venv)
    env = {**os.environ, "VIRTUAL_ENV": str(venv), "FASTLINK_CACHE_DIR": str(cache)}
    done = run_cli(build(wheels_dir), env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"installed 1 distribution for {venv}/bin/python in ")
    assert "cloned" in done.stdout and "1 wheel unpacked into " + str(cache) in done.stdout
    assert (venv / "lib" / XY / "site-packages" / "demo-1.0.dist-info" / "RECORD").is_file()


# The fresh-data route is XFS's, on Linux: the macOS backend never takes it.
@pytest.mark.linux_backend
def test_the_commands_json_names_a_not_written_back_fallback_as_the_report_does(
    xfs, fresh_dir, cache, wheels_dir
):
    # The kernel's writeback window: a wheel unpacked just now is copied on XFS.
    env = {k: v for k, v in os.environ.items() if k != "FASTLINK_WRITEBACK_SECONDS"}
    python = make_venv(fresh_dir(xfs) / "v")

    done = run_cli("--python", python, "--cache-dir", cache, "--json", build(wheels_dir), env=env)

    assert done.returncode == 0, done.stderr
    [installed] = json.loads(done.stdout)["installed"]
    [fallback] = installed["fallbacks"]
    assert (fallback["errno"], fallback["error"]) == (0, "NOT_WRITTEN_BACK")
    assert (installed["method"], installed["copied"]) == ("copy", installed["placed"])


# Member names a wheel may carry: any printable text, commas and quotes
# included (RECORD is CSV), path components that are not "." or "..".
_component = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\\x00"),
    min_size=1,
    max_size=12,
).filter(lambda c: c not in (".", "..") and len(c.encode()) < 200)


@settings(max_examples=25, deadline=None)
@given(names=st.lists(st.lists(_component, min_size=1, max_size=3), min_size=1, max_size=4))
def test_record_round_trips_any_member_names(names, tmp_path_factory):
    work = tmp_path_factory.mktemp("names")
    members = demo_members()
    paths = {"/".join(["demo", *parts]) for parts in names}
    # A path that is also a directory of another cannot be a file.
    paths = {p for p in paths if not any(q.startswith(p + "/") for q in paths)}
    for i, path in enumerate(sorted(paths)):
        members[path] = (f"content {i}\n".encode(), 0o644)
    wheel = write_wheel(work / "demo-1.0-py3-none-any.whl", members, "demo-1.0.dist-info")
    scheme = {key: work / key for key in ("purelib", "platlib", "scripts", "data", "headers")}

    [dist] = fastlink.install_wheels(
        [wheel], scheme=scheme, python=sys.executable, cache_dir=work / "cache"
    )

    assert_record_is_true(dist.dist_info)
    listed = {row[0] for row in record_rows(dist.dist_info)}
    assert paths <= listed


_hostile = st.sampled_from(
    ["../x", "/abs", "demo/../../x", "a/./b", "a//b", "a\\..\\b", ".", "demo/.."]
)


@settings(max_examples=20, deadline=None)
@given(bad_name=_hostile)
def test_hostile_member_names_are_refused_and_nothing_is_written(bad_name, tmp_path_factory):
    work = tmp_path_factory.mktemp("hostile")
    members = demo_members()
    members[bad_name] = (b"x", 0o644)
    # RECORD lists it like any other member, so that only its name is wrong.
    wheel = write_wheel(work / "demo-1.0-py3-none-any.whl", members, "demo-1.0.dist-info")
    scheme = {
        key: work / "env" / key for key in ("purelib", "platlib", "scripts", "data", "headers")
    }

    with pytest.raises(fastlink.InvalidWheelError):
        fastlink.install_wheels(
            [wheel], scheme=scheme, python=sys.executable, cache_dir=work / "cache"
        )
    assert not (work / "env").exists()
    assert set(os.listdir(work)) <= {"cache", wheel.name}
    if (work / "cache").exists():
        assert [p for p in (work / "cache").rglob("*") if p.is_file()] == []
    assert not Path("/abs").exists() and not (work.parent / "x").exists()


def test_an_interpreter_is_asked_once_and_again_only_when_its_answer_can_change(
    monkeypatch, xfs, fresh_dir, cache
):
    venv = fresh_dir(xfs) / "v"
    python = make_venv(venv)
    asked = []
    real_ask = _environment._ask
    monkeypatch.setattr(_environment, "_ask", lambda path: asked.append(path) or real_ask(path))
    monkeypatch.setattr(_environment, "_asked", {})

    first = _environment.environment_of(python, str(cache))
    assert _environment.environment_of(python, str(cache)) == first and len(asked) == 1
    assert first["purelib"] == str(venv / "lib" / XY / "site-packages")
    assert first["include"] == str(venv / "include" / "site" / XY)

    # Another process (this one's memory cleared) finds the memo in the cache.
    monkeypatch.setattr(_environment, "_asked", {})
    assert _environment.environment_of(python, str(cache)) == first and len(asked) == 1

    # Made again at the same path, from the same Python with the same options
    # (an installer's fresh venv): every inode is new, the answer is the same.
    shutil.rmtree(venv)
    make_venv(venv)
    monkeypatch.setattr(_environment, "_asked", {})
    assert _environment.environment_of(python, str(cache)) == first and len(asked) == 1

    # Made with other options (pyvenv.cfg's text differs): asked again.
    shutil.rmtree(venv)
    make_venv(venv, "--system-site-packages")
    monkeypatch.setattr(_environment, "_asked", {})
    assert _environment.environment_of(python, str(cache)) == first and len(asked) == 2

    # Moved: another path, asked again.
    venv.rename(venv.with_name("moved"))
    moved = venv.with_name("moved") / "bin" / "python"
    monkeypatch.setattr(_environment, "_asked", {})
    assert _environment.environment_of(moved, str(cache))["purelib"].startswith(
        str(venv.with_name("moved"))
    )
    assert len(asked) == 3


def test_replace_uninstalls_the_old_version_by_its_record(tmp_path, cache, wheels_dir):
    scheme = {key: tmp_path / key for key in ("purelib", "platlib", "scripts", "data", "headers")}
    members = demo_members()
    members["demo/only_in_v1.py"] = (b"", 0o644)
    v1 = write_wheel(wheels_dir / "demo-1.0-py3-none-any.whl", members, "demo-1.0.dist-info")
    fastlink.install_wheels([v1], scheme=scheme, python=sys.executable, cache_dir=cache)

    [dist] = fastlink.install_wheels(
        [build(wheels_dir, version="2.0")],
        scheme=scheme,
        python=sys.executable,
        cache_dir=cache,
        replace=True,
    )

    assert dist.replaced is not None
    assert (dist.replaced.name, dist.replaced.version) == ("demo", "1.0")
    # v1 installed every file v2 does, and only_in_v1.py.
    assert dist.replaced.removed == len(record_rows(dist.dist_info)) + 1
    assert dist.replaced.left_alone == []
    assert not (tmp_path / "purelib" / "demo" / "only_in_v1.py").exists()
    assert not (tmp_path / "purelib" / "demo-1.0.dist-info").exists()
    assert_record_is_true(dist.dist_info)


def many_files_wheels(directory: Path, count: int, files: int) -> list[Path]:
    wheels = []
    for i in range(count):
        name = f"pkg{i}"
        members = demo_members(name)
        for j in range(files):
            members[f"{name}/m{j}.py"] = (f"x = {j}\n".encode(), 0o644)
        wheels.append(
            write_wheel(
                directory / f"{name}-1.0-py3-none-any.whl", members, f"{name}-1.0.dist-info"
            )
        )
    return wheels


def test_an_exception_from_progress_stops_the_batch_and_rolls_back_what_was_not_complete(
    tmp_path, cache, wheels_dir
):
    wheels = many_files_wheels(wheels_dir, 24, 300)
    scheme = {key: tmp_path / key for key in ("purelib", "platlib", "scripts", "data", "headers")}
    calls = []

    def stop_at_the_second_call(progress: fastlink.Progress) -> None:
        calls.append(progress)
        if len(calls) == 2:
            raise ZeroDivisionError("stop")

    with pytest.raises(ZeroDivisionError) as raised:
        fastlink.install_wheels(
            wheels,
            scheme=scheme,
            python=sys.executable,
            cache_dir=cache,
            threads=2,
            progress=stop_at_the_second_call,
        )
    # The callback ran while the batch was under way, not once at its end.
    assert len(calls) == 2 and calls[0].files_done < 24 * 300
    done = {d.name for d in raised.value.installed}
    assert len(done) < len(wheels)
    for i in range(len(wheels)):
        dist_info = tmp_path / "purelib" / f"pkg{i}-1.0.dist-info"
        if f"pkg{i}" in done:
            assert_record_is_true(dist_info)
        else:
            assert not (tmp_path / "purelib" / f"pkg{i}").exists()
            assert not dist_info.exists()
            assert not (tmp_path / "scripts" / f"pkg{i}-hello").exists()


def test_arguments_that_cannot_work_are_refused_before_anything_is_written(
    tmp_path, cache, wheels_dir
):
    wheel = build(wheels_dir)
    scheme = {key: tmp_path / key for key in ("purelib", "platlib", "scripts", "data", "headers")}
    with pytest.raises(ValueError, match="python="):
        fastlink.install_wheels([wheel], scheme=scheme, cache_dir=cache)
    with pytest.raises(ValueError, match="not JSON"):
        fastlink.install_wheels(
            [wheel], scheme=scheme, python=sys.executable, cache_dir=cache, direct_url="{no"
        )
    with pytest.raises(TypeError, match="direct_url"):
        fastlink.install_wheels(
            [wheel], scheme=scheme, python=sys.executable, cache_dir=cache, direct_url=42
        )
    missing = wheels_dir / "gone-1.0-py3-none-any.whl"
    with pytest.raises(FileNotFoundError) as raised:
        fastlink.install_wheels(
            [wheel, missing], scheme=scheme, python=sys.executable, cache_dir=cache
        )
    assert (raised.value.filename, raised.value.filename2) == (str(missing), None)
    assert not any(tmp_path.iterdir())


def test_an_installed_distribution_error_names_the_wheel_given(tmp_path, cache, wheels_dir):
    scheme = {key: tmp_path / key for key in ("purelib", "platlib", "scripts", "data", "headers")}
    wheel = build(wheels_dir)
    fastlink.install_wheels([wheel], scheme=scheme, python=sys.executable, cache_dir=cache)
    with pytest.raises(fastlink.DistributionExistsError) as raised:
        fastlink.install_wheels([wheel], scheme=scheme, python=sys.executable, cache_dir=cache)
    assert raised.value.filename == str(wheel)
    assert raised.value.filename2 == str(tmp_path / "purelib" / "demo-1.0.dist-info")


def test_the_command_refuses_two_wheels_of_one_distribution_and_installs_none(
    xfs, fresh_dir, cache, wheels_dir
):
    python = make_venv(fresh_dir(xfs) / "v")
    other = build(wheels_dir, "other")
    done = run_cli(
        "--python",
        python,
        "--cache-dir",
        cache,
        other,
        build(wheels_dir),
        build(wheels_dir / "2", version="2.0"),
    )
    assert done.returncode == 2 and "one distribution" in done.stderr
    assert not list((python.parent.parent / "lib").rglob("*.dist-info"))


def test_the_command_needs_an_environment_named_or_active(cache, wheels_dir):
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    done = run_cli("--cache-dir", cache, build(wheels_dir), env=env)
    assert done.returncode == 2 and "--python" in done.stderr


def test_pip_gets_the_launchers_pip_gives_itself(xfs, fresh_dir, cache, wheels_dir):
    """pip's wheel names `pip` and `pip3`; pip adds `pipX.Y` of the target
    Python and drops a versioned one made for the Python that built it."""
    members = demo_members("pip", "99.0")
    members["pip-99.0.dist-info/entry_points.txt"] = (
        b"[console_scripts]\npip = pip:main\npip3 = pip:main\npip3.7 = pip:main\n",
        0o644,
    )
    wheel = write_wheel(wheels_dir / "pip-99.0-py3-none-any.whl", members, "pip-99.0.dist-info")
    venv = fresh_dir(xfs) / "v"
    fastlink.install_wheels([wheel], python=make_venv(venv), cache_dir=cache)
    major, minor = sys.version_info[:2]
    launchers = {p.name for p in (venv / "bin").iterdir() if p.name.startswith("pip")}
    assert launchers - {"pip-tool"} == {"pip", f"pip{major}", f"pip{major}.{minor}"}
    out = subprocess.run([venv / "bin" / f"pip{major}.{minor}"], capture_output=True, check=True)
    assert out.stdout == b"hello from pip\n"


def test_json_prints_an_error_object_on_stdout_when_the_install_fails(tmp_path):
    """As `fastlink SRC DST --json` does (docs/cli.md): the paths given, the exit
    code, the exception, its errno and paths; the line on stderr stays."""
    missing = tmp_path / "missing-1.0-py3-none-any.whl"
    done = run_cli("--json", "--python", sys.executable, "--cache-dir", tmp_path / "c", missing)
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout) == {
        "python": sys.executable,
        "cache_dir": str(tmp_path / "c"),
        "wheels": [str(missing)],
        "exit_code": 1,
        "exception": "FileNotFoundError",
        "errno": errno.ENOENT,
        "error": "ENOENT",
        "message": os.strerror(errno.ENOENT),
        "filename": str(missing),
        "filename2": None,
        "hint": None,
    }
    assert done.stderr.startswith("fastlink: error: No such file or directory (ENOENT): ")


def test_json_prints_an_error_object_for_a_usage_error_of_install_too(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    done = run_cli("--json", tmp_path / "x-1.0-py3-none-any.whl", env=env)
    assert done.returncode == 2, done.stderr
    error = json.loads(done.stdout)
    assert (error["exit_code"], error["exception"], error["errno"]) == (2, None, None), error
    assert error["message"].startswith("no environment to install into"), error
