"""Metadata semantics of clone_or_copy on the local filesystem (tmp_path).

Copies are compared with the snapshot make_tree returns (taken before the
copy), so a copy that disturbs its source can't mask its own errors.
"""

import os
import stat
import time

import fastlink
import pytest
from snapshots import assert_trees_equal
from treespec import Dir, File, Symlink, make_tree, random_bytes, sample_spec


def _mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.mark.parametrize("mode", [0o644, 0o755, 0o600, 0o700, 0o444, 0o500])
def test_file_permission_bits_are_kept(tmp_path, mode):
    make_tree(tmp_path / "src", {"f": File(b"data", mode)})
    fastlink.clone_or_copy(tmp_path / "src", tmp_path / "dst")
    assert _mode(tmp_path / "dst" / "f") == mode


@pytest.mark.parametrize("mode", [0o755, 0o700, 0o750, 0o555])
def test_dir_permission_bits_are_kept(tmp_path, mode):
    make_tree(tmp_path / "src", {"d": Dir({"inner": b"x"}, mode)})
    fastlink.clone_or_copy(tmp_path / "src", tmp_path / "dst")
    assert _mode(tmp_path / "dst" / "d") == mode
    assert (tmp_path / "dst" / "d" / "inner").read_bytes() == b"x"


def test_read_only_dirs_are_populated_and_end_up_read_only(tmp_path):
    # A 0o555 dir has to be written into before it is made read-only.
    src = tmp_path / "src"
    make_tree(src, {"ro": Dir({"a": b"1", "nested": Dir({"b": b"2"}, 0o555)}, 0o555)})
    os.chmod(src, 0o555)
    expected = make_tree(src, {})  # re-snapshot (and re-date) after the chmod
    fastlink.clone_or_copy(src, tmp_path / "dst")
    assert_trees_equal(expected, tmp_path / "dst")
    assert _mode(tmp_path / "dst") == 0o555
    assert _mode(tmp_path / "dst" / "ro") == 0o555
    assert _mode(tmp_path / "dst" / "ro" / "nested") == 0o555


def test_modes_are_kept_regardless_of_umask(tmp_path):
    make_tree(tmp_path / "src", {"f": File(b"x", 0o775), "d": Dir({"g": File(b"y", 0o666)}, 0o777)})
    old = os.umask(0o077)
    try:
        fastlink.clone_or_copy(tmp_path / "src", tmp_path / "dst")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "dst" / "f") == 0o775
    assert _mode(tmp_path / "dst" / "d") == 0o777
    assert _mode(tmp_path / "dst" / "d" / "g") == 0o666


@pytest.mark.parametrize("mode", [0o4755, 0o2755, 0o6755, 0o4644])
def test_setuid_and_setgid_are_cleared_on_files(tmp_path, mode):
    make_tree(tmp_path / "src", {"f": b"x"})
    os.chmod(tmp_path / "src" / "f", mode)
    if _mode(tmp_path / "src" / "f") != mode:
        pytest.skip("cannot set setuid/setgid here (not root?)")
    fastlink.clone_or_copy(tmp_path / "src", tmp_path / "dst")
    assert _mode(tmp_path / "dst" / "f") == mode & ~0o6000


def test_setgid_is_cleared_on_dirs(tmp_path):
    make_tree(tmp_path / "src", {"d": {"f": b"x"}})
    os.chmod(tmp_path / "src" / "d", 0o2775)
    if _mode(tmp_path / "src" / "d") != 0o2775:
        pytest.skip("cannot set setgid here")
    fastlink.clone_or_copy(tmp_path / "src", tmp_path / "dst")
    assert _mode(tmp_path / "dst" / "d") == 0o775


def test_file_dir_and_symlink_mtimes_are_kept(tmp_path):
    expected = make_tree(
        tmp_path / "src", {"f": b"x", "d": {"g": b"y", "sub": {}}, "l": Symlink("f")}
    )
    fastlink.clone_or_copy(tmp_path / "src", tmp_path / "dst")
    # Compares lstat mtime_ns of every entry, root included.
    assert_trees_equal(expected, tmp_path / "dst", times=True)


def test_file_atime_is_kept(tmp_path):
    make_tree(tmp_path / "src", {"f": random_bytes(10_000)})
    # Record before copying: reading src may itself bump its atime (relatime).
    atime_before = os.stat(tmp_path / "src" / "f").st_atime_ns
    fastlink.clone_or_copy(tmp_path / "src", tmp_path / "dst")
    assert os.stat(tmp_path / "dst" / "f").st_atime_ns == atime_before


def test_preserve_times_false_gives_fresh_mtimes(tmp_path):
    expected = make_tree(tmp_path / "src", {"f": b"x", "d": {"g": b"y"}})
    started = time.time_ns() - 5 * 10**9  # slack for coarse fs clocks
    fastlink.clone_or_copy(tmp_path / "src", tmp_path / "dst", preserve_times=False)
    for rel in ["", "f", "d", "d/g"]:
        assert os.lstat(tmp_path / "dst" / rel).st_mtime_ns >= started, rel
    # Content and modes are still copied.
    assert_trees_equal(expected, tmp_path / "dst", times=False)


def test_copy_leaves_source_untouched(tmp_path):
    # Includes mtimes: probing by creating/removing a file inside src would
    # change its directory mtime.
    expected = make_tree(tmp_path / "src", sample_spec())
    fastlink.clone_or_copy(tmp_path / "src", tmp_path / "dst")
    assert_trees_equal(expected, tmp_path / "src", times=True)


@pytest.mark.parametrize(
    "target",
    [b"file", b"../outside", b"/etc/hostname", b"no/such/target", b"dir", b"caf\xe9", b"/"],
    ids=["relative", "relative-up", "absolute", "dangling", "to-dir", "non-utf8", "root"],
)
def test_symlinks_are_recreated_not_followed(tmp_path, target):
    expected = make_tree(
        tmp_path / "src", {"file": b"content", "dir": {"inner": b"i"}, "link": Symlink(target)}
    )
    fastlink.clone_or_copy(tmp_path / "src", tmp_path / "dst")
    link = os.fsencode(tmp_path / "dst" / "link")
    assert os.path.islink(link)
    assert os.readlink(link) == target
    assert_trees_equal(expected, tmp_path / "dst")


def test_symlink_to_dir_is_not_descended_into(tmp_path):
    make_tree(tmp_path / "src", {"dir": {"inner": b"i"}, "link": Symlink("dir")})
    report = fastlink.clone_or_copy(tmp_path / "src", tmp_path / "dst")
    assert (report.files, report.symlinks, report.dirs) == (1, 1, 2)
    assert os.path.islink(tmp_path / "dst" / "link")


def test_src_root_symlink_is_followed(tmp_path):
    expected = make_tree(tmp_path / "real", {"f": b"x", "inner-link": Symlink("f")})
    os.symlink("real", tmp_path / "src-link")
    fastlink.clone_or_copy(tmp_path / "src-link", tmp_path / "dst")
    assert not os.path.islink(tmp_path / "dst")
    assert os.path.isdir(tmp_path / "dst")
    assert os.path.islink(tmp_path / "dst" / "inner-link")
    assert_trees_equal(expected, tmp_path / "dst")


@pytest.mark.parametrize("methods", ["copy", "hardlink"])
def test_src_root_symlink_to_file_is_followed(tmp_path, methods):
    # Contract: the src root is followed if it is a symlink; for a single
    # file the result must be the file itself (copied or linked), never the
    # symlink (whose relative target would dangle in another directory).
    make_tree(tmp_path / "real", {"f": File(b"payload", 0o640)})
    os.symlink("real/f", tmp_path / "link")
    dst = tmp_path / "out" / "copy"
    report = fastlink.clone_or_copy(tmp_path / "link", dst, methods=methods)
    assert not os.path.islink(dst)
    assert dst.read_bytes() == b"payload"
    assert _mode(dst) == 0o640
    assert (report.files, report.symlinks, report.bytes) == (1, 0, 7)


def test_non_utf8_names_are_byte_exact(tmp_path):
    names = [b"caf\xe9", b"\xff\xfe", "日本".encode(), b"-n", b" x ", b"new\nline"]
    spec = {n: n + b"-content" for n in names}
    spec[b"dir\xe9"] = {b"in\x80side": b"z"}
    spec[b"link\xe9"] = Symlink(b"caf\xe9")
    src, dst = tmp_path / "src", tmp_path / "dst"
    expected = make_tree(src, spec)
    fastlink.clone_or_copy(src, dst)
    assert sorted(os.listdir(os.fsencode(dst))) == sorted([*names, b"dir\xe9", b"link\xe9"])
    assert os.listdir(os.path.join(os.fsencode(dst), b"dir\xe9")) == [b"in\x80side"]
    assert_trees_equal(expected, dst)


def test_non_utf8_root_paths_work_as_surrogateescaped_str(tmp_path):
    # Python represents undecodable name bytes in str via surrogateescape.
    src_b = os.path.join(os.fsencode(tmp_path), b"src\xe9")
    dst_b = os.path.join(os.fsencode(tmp_path), b"dst\xe9")
    expected = make_tree(src_b, {"f": b"x"})
    fastlink.clone_or_copy(os.fsdecode(src_b), os.fsdecode(dst_b))
    assert_trees_equal(expected, dst_b)


def test_single_file_src_is_copied_to_file_dst(tmp_path):
    data = random_bytes(12345)
    make_tree(tmp_path / "in", {"one.bin": File(data, 0o750)})
    src, dst = tmp_path / "in" / "one.bin", tmp_path / "out" / "copy.bin"
    src_mtime = os.stat(src).st_mtime_ns
    report = fastlink.clone_or_copy(src, dst)
    assert dst.read_bytes() == data
    assert _mode(dst) == 0o750
    assert os.stat(dst).st_mtime_ns == src_mtime
    assert (report.files, report.dirs, report.symlinks, report.bytes) == (1, 0, 0, 12345)


def test_empty_dir_tree_is_copied(tmp_path):
    expected = make_tree(tmp_path / "src", {"a": {"b": {}}, "c": Dir({}, 0o700)})
    report = fastlink.clone_or_copy(tmp_path / "src", tmp_path / "dst")
    assert_trees_equal(expected, tmp_path / "dst")
    assert (report.files, report.dirs, report.symlinks, report.bytes) == (0, 4, 0, 0)


def test_completely_empty_src_dir_is_copied(tmp_path):
    (tmp_path / "src").mkdir()
    report = fastlink.clone_or_copy(tmp_path / "src", tmp_path / "dst")
    assert os.listdir(tmp_path / "dst") == []
    assert (report.files, report.dirs) == (0, 1)


def test_missing_dst_parents_are_created(tmp_path):
    expected = make_tree(tmp_path / "src", {"f": b"x"})
    fastlink.clone_or_copy(tmp_path / "src", tmp_path / "a" / "b" / "dst")
    assert_trees_equal(expected, tmp_path / "a" / "b" / "dst")


def test_str_and_pathlike_arguments_are_accepted(tmp_path):
    expected = make_tree(tmp_path / "src", {"f": b"x"})
    fastlink.clone_or_copy(str(tmp_path / "src"), str(tmp_path / "d1"))
    fastlink.clone_or_copy(tmp_path / "src", tmp_path / "d2")
    for d in ["d1", "d2"]:
        assert_trees_equal(expected, tmp_path / d)


def test_merge_does_not_overwrite_preexisting_dir_metadata(tmp_path):
    make_tree(tmp_path / "src", {"shared": Dir({"new": b"n"}, 0o700)})
    make_tree(tmp_path / "dst", {"shared": Dir({"old": b"o"}, 0o751)}, mtime_seed=1000)
    src_mtime = os.stat(tmp_path / "src" / "shared").st_mtime_ns
    fastlink.clone_or_copy(tmp_path / "src", tmp_path / "dst", dirs_exist_ok=True)
    after = os.stat(tmp_path / "dst" / "shared")
    assert stat.S_IMODE(after.st_mode) == 0o751
    # Adding "new" may bump the mtime, but src's mtime must not be applied.
    assert after.st_mtime_ns != src_mtime
    assert sorted(os.listdir(tmp_path / "dst" / "shared")) == ["new", "old"]
