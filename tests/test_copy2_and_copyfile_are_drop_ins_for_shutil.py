"""`fastlink.copy2` and `fastlink.copyfile` are `shutil.copy2` and `shutil.copyfile`
(return values, directories, replacing, same file, named pipes, symlinks, modes,
times, extended attributes, errors), made by clones: issue 20. CPython's own tests
of them run in `make cpython-copytree`; these pin the rest.

Tests of behaviour fastlink shares with shutil run against both (the `impl`
fixture), so each is checked to describe shutil's; those of what fastlink does
on purpose otherwise (a clone, a replace by rename) run against fastlink's only.
"""

from __future__ import annotations

import errno
import json
import os
import pydoc
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import fastlink
import pytest
from faultutil import NOBODY, unprivileged_prefix
from fiemap import FIEMAP_MIN_SIZE, is_fully_shared
from treespec import random_bytes


@pytest.fixture
def base(xfs, fresh_dir) -> Path:
    return fresh_dir(xfs)


@pytest.fixture(params=["shutil", "fastlink"])
def impl(request) -> SimpleNamespace:
    """shutil's functions or fastlink's, looked up at call time."""
    module = shutil if request.param == "shutil" else fastlink
    return SimpleNamespace(
        name=request.param,
        copy2=lambda *a, **k: module.copy2(*a, **k),
        copyfile=lambda *a, **k: module.copyfile(*a, **k),
    )


def write(
    path: Path, data: bytes = b"data", mode: int = 0o644, mtime_ns: int | None = None
) -> Path:
    path.write_bytes(data)
    os.chmod(path, mode)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns - 7_000_000_123, mtime_ns))
    return path


def umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# -- clones, on XFS ---------------------------------------------------------


def test_copy2_clones_and_keeps_mode_times_and_extended_attributes(base):
    src = write(base / "lib.so", random_bytes(FIEMAP_MIN_SIZE), 0o750, 1_600_000_000_123_456_789)
    os.setxattr(src, "user.origin", b"cache")
    dst = base / "placed.so"
    assert fastlink.copy2(src, dst) == dst
    assert is_fully_shared(dst) and is_fully_shared(src)
    s, d = os.stat(src), os.stat(dst)
    assert stat.S_IMODE(d.st_mode) == 0o750
    assert (d.st_atime_ns, d.st_mtime_ns) == (s.st_atime_ns, s.st_mtime_ns)
    assert os.getxattr(dst, "user.origin") == b"cache"
    assert dst.read_bytes() == src.read_bytes()


def test_copyfile_clones_the_data_only_and_a_new_file_gets_the_default_mode(base):
    src = write(base / "tool", random_bytes(FIEMAP_MIN_SIZE, 1), 0o755, 1_600_000_000_000_000_000)
    os.setxattr(src, "user.origin", b"cache")
    dst = base / "copy"
    assert fastlink.copyfile(src, dst) == dst
    assert is_fully_shared(dst)
    d = os.stat(dst)
    assert stat.S_IMODE(d.st_mode) == 0o666 & ~umask()
    assert d.st_mtime_ns != os.stat(src).st_mtime_ns  # the copy's time, as shutil's
    assert "user.origin" not in os.listxattr(dst)


def test_copytree_takes_fastlink_copy2_as_its_fast_path(base, monkeypatch):
    src = base / "tree"
    (src / "sub").mkdir(parents=True)
    write(src / "sub" / "big", random_bytes(FIEMAP_MIN_SIZE, 2))
    write(src / "small", b"x", 0o600)

    def per_file(*args, **kwargs):
        raise AssertionError("fastlink.copy2 called per file: not the engine's one call")

    import fastlink._copyfile

    monkeypatch.setattr(fastlink._copyfile, "clone_or_copy", per_file)
    fastlink.copytree(src, base / "out", copy_function=fastlink.copy2)
    assert is_fully_shared(base / "out" / "sub" / "big")
    assert os.stat(base / "out" / "small").st_mtime_ns == os.stat(src / "small").st_mtime_ns


# -- shutil's behaviour, checked against shutil too --------------------------


def test_copy2_returns_dst_or_the_file_inside_a_directory_dst(base, impl):
    src = write(base / "module.py")
    (base / "pkg").mkdir()
    os.symlink("pkg", base / "pkg-link")
    assert impl.copy2(src, base / "pkg") == os.path.join(base / "pkg", "module.py")
    assert impl.copy2(str(src), str(base / "pkg-link")) == str(base / "pkg-link" / "module.py")
    assert (base / "pkg" / "module.py").read_bytes() == b"data"
    named = base / "named.py"
    assert impl.copy2(src, named) is named
    assert impl.copyfile(src, str(base / "f")) == str(base / "f")
    assert impl.copyfile(os.fsencode(src), os.fsencode(base / "g")) == os.fsencode(base / "g")


def test_copyfile_onto_a_directory_is_IsADirectoryError(base, impl):
    src = write(base / "f")
    (base / "d").mkdir()
    with pytest.raises(IsADirectoryError):
        impl.copyfile(src, base / "d")
    assert os.listdir(base / "d") == []


@pytest.mark.parametrize("function", ["copy2", "copyfile"])
def test_an_existing_file_is_replaced_by_the_new_data(base, impl, function):
    src = write(base / "new", b"new data", 0o755, 1_500_000_000_000_000_000)
    dst = write(base / "old", b"old, longer data", 0o600)
    getattr(impl, function)(src, dst)
    assert dst.read_bytes() == b"new data"
    # copy2 gives the source's mode and times; copyfile keeps dst's mode.
    assert stat.S_IMODE(os.stat(dst).st_mode) == (0o755 if function == "copy2" else 0o600)
    keeps_times = os.stat(dst).st_mtime_ns == 1_500_000_000_000_000_000
    assert keeps_times == (function == "copy2")


@pytest.mark.parametrize("function", ["copy2", "copyfile"])
@pytest.mark.parametrize("alias", ["same path", "hard link", "symlink"])
def test_the_same_file_is_SameFileError_and_stays_whole(base, impl, function, alias):
    src = write(base / "cheese", b"cheddar")
    dst = {"same path": src, "hard link": base / "shop", "symlink": base / "shop"}[alias]
    if alias == "hard link":
        os.link(src, dst)
    elif alias == "symlink":
        os.symlink("cheese", dst)
    with pytest.raises(shutil.SameFileError):
        getattr(impl, function)(src, dst)
    assert src.read_bytes() == b"cheddar"


@pytest.mark.parametrize("function", ["copy2", "copyfile"])
@pytest.mark.parametrize("side", ["src", "dst"])
def test_a_named_pipe_is_SpecialFileError_and_never_opened(base, impl, function, side):
    fifo = base / "fifo"
    os.mkfifo(fifo)
    regular = write(base / "regular")
    src, dst = (fifo, base / "out") if side == "src" else (regular, fifo)
    with pytest.raises(shutil.SpecialFileError, match="is a named pipe"):
        getattr(impl, function)(src, dst)  # opening the fifo would hang here
    assert not (base / "out").exists()
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.parametrize("function", ["copy2", "copyfile"])
def test_follow_symlinks_false_copies_the_link_itself(base, impl, function):
    write(base / "target", b"t")
    os.symlink("target", base / "link")
    getattr(impl, function)(base / "link", base / "copied", follow_symlinks=False)
    assert os.readlink(base / "copied") == "target"
    getattr(impl, function)(base / "link", base / "followed")
    assert not (base / "followed").is_symlink()
    assert (base / "followed").read_bytes() == b"t"


@pytest.mark.parametrize("function", ["copy2", "copyfile"])
@pytest.mark.parametrize("dst", ["missing/f", "missing/", "file/f"])
def test_a_missing_parent_is_FileNotFoundError_and_nothing_is_made(base, impl, function, dst):
    src = write(base / "f")
    write(base / "file")
    expected = NotADirectoryError if dst.startswith("file/") else FileNotFoundError
    with pytest.raises(expected):
        getattr(impl, function)(src, base / dst if dst.endswith("f") else f"{base}/{dst}")
    assert not (base / "missing").exists()
    assert sorted(os.listdir(base)) == ["f", "file"]


def test_a_directory_source_is_IsADirectoryError(base, impl):
    (base / "d").mkdir()
    with pytest.raises(IsADirectoryError):
        impl.copyfile(base / "d", base / "x")
    with pytest.raises(IsADirectoryError):
        impl.copy2(base / "d", base / "x")
    assert not (base / "x").exists()


def test_copy2_keeps_setuid_setgid_and_sticky_bits(base, impl):
    for mode in (0o4755, 0o2750, 0o1777):
        src = write(base / f"tool-{mode:o}", b"#!/bin/sh\n", mode)
        impl.copy2(src, base / f"copy-{mode:o}")
        assert stat.S_IMODE(os.stat(base / f"copy-{mode:o}").st_mode) == mode


def test_a_device_source_is_read_as_shutil_reads_it(base, impl):
    assert impl.copyfile("/dev/null", base / "empty") == base / "empty"
    assert (base / "empty").read_bytes() == b""


def test_copyfile_under_a_default_acl_gives_the_mode_shutil_gives(base, impl):
    (base / "acl").mkdir()
    subprocess.run(["setfacl", "-d", "-m", "u::rw,g::r,o::-", base / "acl"], check=True)
    src = write(base / "f", b"x", 0o755)
    impl.copyfile(src, base / "acl" / "f")
    assert stat.S_IMODE(os.stat(base / "acl" / "f").st_mode) == 0o640


def test_an_unwritable_destination_is_PermissionError_as_with_shutil(open_base):
    """As root without CAP_DAC_OVERRIDE (setpriv), a 0o444 file owned by nobody
    is not writable: shutil's open() fails, and fastlink's replace must too."""
    src = write(open_base / "src", b"new")
    dsts = {}
    for name in ("shutil", "fastlink"):
        dsts[name] = write(open_base / f"dst-{name}", b"old", 0o444)
        os.chown(dsts[name], NOBODY, NOBODY)
    code = (
        "import json, shutil, sys, fastlink\n"
        "out = {}\n"
        "for name, f in (('shutil', shutil.copy2), ('fastlink', fastlink.copy2)):\n"
        "    try:\n"
        "        f(sys.argv[1], sys.argv[2] + name)\n"
        "        out[name] = None\n"
        "    except OSError as e:\n"
        "        out[name] = [type(e).__name__, e.errno]\n"
        "print(json.dumps(out))\n"
    )
    r = subprocess.run(
        [*unprivileged_prefix(), sys.executable, "-c", code, src, f"{open_base}/dst-"],
        capture_output=True,
        text=True,
        check=True,
    )
    out = json.loads(r.stdout)
    assert out == {"shutil": ["PermissionError", errno.EACCES], "fastlink": out["shutil"]}
    for path in dsts.values():
        assert path.read_bytes() == b"old"


# -- across filesystems: a copy ---------------------------------------------


@pytest.mark.parametrize("dst_fs", ["ext4", "tmpfs", "btrfs"])
def test_across_filesystems_copy2_copies_with_mode_and_times(request, base, fresh_dir, dst_fs):
    src = write(
        base / "lib.so", random_bytes(FIEMAP_MIN_SIZE + 5, 3), 0o751, 1_400_000_000_5 * 10**8
    )
    target_dir = fresh_dir(request.getfixturevalue(dst_fs))
    assert fastlink.copy2(src, target_dir) == os.path.join(target_dir, "lib.so")
    placed = target_dir / "lib.so"
    s, d = os.stat(src), os.stat(placed)
    assert stat.S_IMODE(d.st_mode) == 0o751
    # The source's times after the copy read it, as copystat (after the read) gives them.
    assert (d.st_atime_ns, d.st_mtime_ns) == (s.st_atime_ns, s.st_mtime_ns)
    assert placed.read_bytes() == src.read_bytes()
    write(target_dir / "old", b"old", 0o600)
    assert fastlink.copyfile(src, target_dir / "old") == target_dir / "old"
    assert (target_dir / "old").read_bytes() == src.read_bytes()
    assert stat.S_IMODE(os.stat(target_dir / "old").st_mode) == 0o600
    if dst_fs != "tmpfs":  # no FIEMAP on tmpfs
        assert not is_fully_shared(placed)


# -- where fastlink differs on purpose ---------------------------------------


@pytest.mark.parametrize("function", ["copy2", "copyfile"])
def test_an_existing_file_is_replaced_by_rename_and_its_other_links_keep_their_data(base, function):
    """shutil truncates and rewrites dst in place, so a cache file hard-linked
    at dst is overwritten too; fastlink puts a new file in its place."""
    src = write(base / "new", b"new data")
    cached = write(base / "cache-entry", b"cached", 0o640)
    os.link(cached, base / "dst")
    before = os.stat(base / "dst").st_ino
    getattr(fastlink, function)(src, base / "dst")
    assert (base / "dst").read_bytes() == b"new data"
    assert os.stat(base / "dst").st_ino != before
    assert cached.read_bytes() == b"cached"
    assert not [n for n in os.listdir(base) if n not in ("new", "cache-entry", "dst")]


@pytest.mark.parametrize("function", ["copy2", "copyfile"])
@pytest.mark.parametrize("dangling", [False, True], ids=["to-a-file", "dangling"])
def test_a_symlink_at_dst_is_replaced_not_written_through(base, function, dangling):
    src = write(base / "new", b"new data", 0o700)
    if not dangling:
        write(base / "linked", b"linked data", 0o640)
    os.symlink("linked", base / "dst")
    getattr(fastlink, function)(src, base / "dst")
    assert not (base / "dst").is_symlink()
    assert (base / "dst").read_bytes() == b"new data"
    assert (base / "linked").exists() != dangling
    if not dangling:
        assert (base / "linked").read_bytes() == b"linked data"
    # copyfile: the mode shutil would leave at dst (the linked file's, else a new one's).
    expected = {"copy2": 0o700, "copyfile": 0o666 & ~umask() if dangling else 0o640}[function]
    assert stat.S_IMODE(os.stat(base / "dst").st_mode) == expected


# -- the API ------------------------------------------------------------------


def test_they_are_exported_and_help_shows_their_docs():
    for name, peer in (("copy2", "shutil.copy2"), ("copyfile", "shutil.copyfile")):
        assert name in fastlink.__all__
        text = pydoc.render_doc(getattr(fastlink, name), renderer=pydoc.plaintext)
        assert peer in text and "Where it differs" in text and "follow_symlinks" in text


def test_the_shutil_audit_events_are_raised(base):
    src = write(base / "src")
    code = (
        "import sys, fastlink\n"
        "events = []\n"
        "sys.addaudithook(lambda e, a: e.startswith('shutil.') and events.append(e))\n"
        "fastlink.copy2(sys.argv[1], sys.argv[2] + '2')\n"
        "fastlink.copyfile(sys.argv[1], sys.argv[2] + 'f')\n"
        "print(','.join(events))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, src, f"{base}/dst"], capture_output=True, text=True, check=True
    )
    assert r.stdout.strip() == "shutil.copyfile,shutil.copystat,shutil.copyfile"
