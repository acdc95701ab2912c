"""Failures surface as the right OSError subclasses with errno/filename set,
and refusals happen before anything is written."""

import errno
import os
import socket
import stat

import fastlink
import pytest
from procutil import call_with_deadline
from snapshots import assert_trees_equal, snapshot
from treespec import File, make_tree

# How long a call that should fail fast may take before we call it a hang.
HANG_TIMEOUT_S = 20


def _unblock_fifo_readers(fifo):
    # A reader blocked in open() is released by a writer opening and closing.
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
    except OSError:
        pass


# --- missing / existing paths ---------------------------------------------


def test_missing_src_raises_file_not_found(tmp_path):
    src, dst = str(tmp_path / "nope"), str(tmp_path / "dst")
    with pytest.raises(FileNotFoundError) as info:
        fastlink.clone_or_copy(src, dst)
    assert info.value.errno == errno.ENOENT
    assert os.fspath(info.value.filename) == src
    assert not os.path.lexists(dst)


def test_existing_dst_dir_without_dirs_exist_ok_raises_file_exists(tmp_path):
    make_tree(tmp_path / "src", {"f": b"x"})
    dst = tmp_path / "dst"
    dst.mkdir()
    with pytest.raises(FileExistsError) as info:
        fastlink.clone_or_copy(str(tmp_path / "src"), str(dst))
    assert info.value.errno == errno.EEXIST
    assert os.fspath(info.value.filename2) == str(dst)
    assert os.listdir(dst) == []


def test_existing_dst_file_raises_file_exists(tmp_path):
    make_tree(tmp_path / "src", {"f": b"x"})
    (tmp_path / "dst").write_bytes(b"keep me")
    with pytest.raises(FileExistsError):
        fastlink.clone_or_copy(tmp_path / "src", tmp_path / "dst", dirs_exist_ok=True)
    assert (tmp_path / "dst").read_bytes() == b"keep me"


def test_single_file_onto_existing_file_raises_file_exists(tmp_path):
    (tmp_path / "a").write_bytes(b"new")
    (tmp_path / "b").write_bytes(b"old")
    with pytest.raises(FileExistsError) as info:
        fastlink.clone_or_copy(tmp_path / "a", str(tmp_path / "b"))
    assert os.fspath(info.value.filename2) == str(tmp_path / "b")
    assert (tmp_path / "b").read_bytes() == b"old"


def test_dirs_exist_ok_merges_and_keeps_other_files(tmp_path):
    make_tree(tmp_path / "src", {"a": b"A", "sub": {"b": b"B"}})
    make_tree(tmp_path / "dst", {"other": b"O", "sub": {"mine": b"M"}})
    report = fastlink.clone_or_copy(tmp_path / "src", tmp_path / "dst", dirs_exist_ok=True)
    assert (tmp_path / "dst" / "a").read_bytes() == b"A"
    assert (tmp_path / "dst" / "sub" / "b").read_bytes() == b"B"
    assert (tmp_path / "dst" / "other").read_bytes() == b"O"
    assert (tmp_path / "dst" / "sub" / "mine").read_bytes() == b"M"
    assert report.files == 2


def test_dirs_exist_ok_into_missing_dst_is_a_plain_copy(tmp_path):
    expected = make_tree(tmp_path / "src", {"a": b"A", "sub": {"b": b"B"}})
    fastlink.clone_or_copy(tmp_path / "src", tmp_path / "dst", dirs_exist_ok=True)
    assert_trees_equal(expected, tmp_path / "dst")


def test_dirs_exist_ok_with_existing_file_at_file_path_raises_file_exists(tmp_path):
    make_tree(tmp_path / "src", {"sub": {"clash": b"from src"}})
    make_tree(tmp_path / "dst", {"sub": {"clash": b"already here"}})
    with pytest.raises(FileExistsError) as info:
        fastlink.clone_or_copy(tmp_path / "src", tmp_path / "dst", dirs_exist_ok=True)
    assert info.value.errno == errno.EEXIST
    assert info.value.filename2 and os.fsencode(info.value.filename2).endswith(b"clash")
    assert (tmp_path / "dst" / "sub" / "clash").read_bytes() == b"already here"


def test_dirs_exist_ok_with_existing_file_at_dir_path_raises_file_exists(tmp_path):
    make_tree(tmp_path / "src", {"sub": {"f": b"x"}})
    make_tree(tmp_path / "dst", {"sub": b"i am a file"})
    with pytest.raises(FileExistsError):
        fastlink.clone_or_copy(tmp_path / "src", tmp_path / "dst", dirs_exist_ok=True)
    assert (tmp_path / "dst" / "sub").read_bytes() == b"i am a file"


def test_dirs_exist_ok_does_not_follow_existing_symlink_in_dst(tmp_path):
    # An existing symlink where a file must go is "an existing non-directory".
    make_tree(tmp_path / "src", {"f": b"new"})
    (tmp_path / "victim").write_bytes(b"untouched")
    (tmp_path / "dst").mkdir()
    os.symlink(tmp_path / "victim", tmp_path / "dst" / "f")
    with pytest.raises(FileExistsError):
        fastlink.clone_or_copy(tmp_path / "src", tmp_path / "dst", dirs_exist_ok=True)
    assert (tmp_path / "victim").read_bytes() == b"untouched"


def test_dirs_exist_ok_does_not_descend_through_symlink_to_dir_in_dst(tmp_path):
    # dst/sub is a symlink to an outside dir: merging must not write through it.
    make_tree(tmp_path / "src", {"sub": {"f": b"x"}})
    (tmp_path / "outside").mkdir()
    (tmp_path / "dst").mkdir()
    os.symlink(tmp_path / "outside", tmp_path / "dst" / "sub")
    with pytest.raises(FileExistsError):
        fastlink.clone_or_copy(tmp_path / "src", tmp_path / "dst", dirs_exist_ok=True)
    assert os.listdir(tmp_path / "outside") == []


# --- special files ------------------------------------------------------------


def _assert_special_file_refused(src, dst):
    # A call that opened the fifo for reading would block forever.
    kind, err = call_with_deadline(fastlink.clone_or_copy, src, dst, deadline_s=HANG_TIMEOUT_S)
    assert kind == "error" and isinstance(err, fastlink.SpecialFileError), (kind, err)
    assert err.errno == errno.EINVAL
    assert err.filename
    # Refused before anything is written.
    assert not os.path.lexists(dst)


def test_fifo_in_src_is_refused_without_hanging(tmp_path):
    make_tree(tmp_path / "src", {"a": b"x", "sub": {"b": b"y"}})
    fifo = tmp_path / "src" / "sub" / "pipe"
    os.mkfifo(fifo)
    try:
        _assert_special_file_refused(tmp_path / "src", tmp_path / "dst")
    finally:
        _unblock_fifo_readers(fifo)


def test_fifo_as_src_root_is_refused(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    try:
        _assert_special_file_refused(fifo, tmp_path / "dst")
    finally:
        _unblock_fifo_readers(fifo)


def test_unix_socket_in_src_is_refused(tmp_path):
    make_tree(tmp_path / "src", {"a": b"x"})
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(tmp_path / "src" / "s"))
        _assert_special_file_refused(tmp_path / "src", tmp_path / "dst")
    finally:
        sock.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a device needs root")
def test_device_node_in_src_is_refused(tmp_path):
    make_tree(tmp_path / "src", {"a": b"x"})
    os.mknod(tmp_path / "src" / "null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    _assert_special_file_refused(tmp_path / "src", tmp_path / "dst")


# --- refused arguments ------------------------------------------------------------


@pytest.mark.parametrize("rel", ["inside", "sub/deeper/dst", "."], ids=["child", "nested", "same"])
def test_dst_inside_src_is_refused_before_writing(tmp_path, rel):
    src = tmp_path / "src"
    make_tree(src, {"f": b"x", "sub": {"g": b"y"}})
    before = snapshot(src)
    dst = src / rel
    with pytest.raises(fastlink.DestinationInsideSourceError) as info:
        fastlink.clone_or_copy(src, dst, dirs_exist_ok=(rel == "."))
    assert info.value.errno == errno.EINVAL
    assert snapshot(src) == before


def test_dst_inside_src_via_symlinked_parent_is_refused(tmp_path):
    src = tmp_path / "src"
    make_tree(src, {"f": b"x"})
    os.symlink(src, tmp_path / "alias")
    before = snapshot(src)
    with pytest.raises(fastlink.DestinationInsideSourceError):
        fastlink.clone_or_copy(src, tmp_path / "alias" / "dst")
    assert snapshot(src) == before


def test_sibling_with_common_prefix_is_not_inside_src(tmp_path):
    # "src2" starts with "src" but is not inside it.
    expected = make_tree(tmp_path / "src", {"f": b"x"})
    fastlink.clone_or_copy(tmp_path / "src", tmp_path / "src2")
    assert_trees_equal(expected, tmp_path / "src2")


@pytest.mark.parametrize("methods", ["bogus", ("reflink", "teleport"), ("COPY",), "re-flink"])
def test_invalid_method_name_raises_value_error(tmp_path, methods):
    make_tree(tmp_path / "src", {"f": b"x"})
    with pytest.raises(ValueError):
        fastlink.clone_or_copy(tmp_path / "src", tmp_path / "dst", methods=methods)
    assert not os.path.lexists(tmp_path / "dst")


@pytest.mark.parametrize("methods", ["copy", ("copy",), ["reflink", "copy"], ("hardlink", "copy")])
def test_valid_method_spellings_are_accepted(tmp_path, methods):
    expected = make_tree(tmp_path / "src", {"f": File(b"x", 0o640)})
    report = fastlink.clone_or_copy(tmp_path / "src", tmp_path / "dst", methods=methods)
    assert report.files == 1
    assert_trees_equal(expected, tmp_path / "dst")


# --- exception hierarchy ------------------------------------------------------------

FASTLINK_ERRORS = [
    "CrossDeviceError",
    "ReflinkUnsupportedError",
    "HardlinkUnsupportedError",
    "SpecialFileError",
    "DestinationInsideSourceError",
    "InvalidWheelError",
    "DistributionExistsError",
]


def test_fastlink_error_is_an_oserror():
    assert issubclass(fastlink.FastlinkError, OSError)


@pytest.mark.parametrize("name", FASTLINK_ERRORS)
def test_every_fastlink_error_subclasses_fastlink_error_and_oserror(name):
    cls = getattr(fastlink, name)
    assert issubclass(cls, fastlink.FastlinkError)
    assert issubclass(cls, OSError)
