"""When every allowed method is impossible for the (src fs, dst fs) pair,
fastlink raises a specific OSError subclass and leaves nothing at dst."""

import errno
import os

import fastlink
import pytest
from treespec import make_tree, sample_spec


def _assert_oserror_fields(exc, expected_errno):
    assert isinstance(exc, OSError)
    assert isinstance(exc, fastlink.FastlinkError)
    assert exc.errno == expected_errno
    assert isinstance(exc.strerror, str) and exc.strerror
    assert isinstance(exc.filename, str) and exc.filename, exc.filename
    assert isinstance(exc.filename2, str) and exc.filename2, exc.filename2


@pytest.fixture
def xfs_src(xfs, fresh_dir):
    src = fresh_dir(xfs) / "src"
    make_tree(src, sample_spec())
    return src


@pytest.mark.parametrize("nested", [False, True], ids=["parent-exists", "parent-missing"])
def test_reflink_only_across_devices_raises_cross_device_error(xfs_src, btrfs, fresh_dir, nested):
    base = fresh_dir(btrfs)
    dst = base / "a" / "b" / "dst" if nested else base / "dst"
    with pytest.raises(fastlink.CrossDeviceError) as info:
        fastlink.clone_or_copy(xfs_src, dst, methods="reflink")
    _assert_oserror_fields(info.value, errno.EXDEV)
    assert info.value.errno == 18
    assert not os.path.lexists(dst)


@pytest.mark.parametrize("fs", ["ext4", "tmpfs"])
def test_reflink_only_on_non_cloning_fs_raises_reflink_unsupported(mounts, fresh_dir, fs):
    base = fresh_dir(mounts.get(fs))
    src, dst = base / "src", base / "dst"
    make_tree(src, sample_spec())
    with pytest.raises(fastlink.ReflinkUnsupportedError) as info:
        fastlink.clone_or_copy(src, dst, methods="reflink")
    _assert_oserror_fields(info.value, errno.EOPNOTSUPP)
    assert info.value.errno == 95
    assert not os.path.lexists(dst)


def test_reflink_only_single_file_on_non_cloning_fs_leaves_nothing(ext4, fresh_dir):
    base = fresh_dir(ext4)
    src = base / "one.bin"
    src.write_bytes(b"x" * 100_000)
    dst = base / "copy.bin"
    with pytest.raises(fastlink.ReflinkUnsupportedError):
        fastlink.clone_or_copy(src, dst, methods=("reflink",))
    assert not os.path.lexists(dst)


def test_hardlink_only_across_devices_raises_cross_device_error(xfs_src, btrfs, fresh_dir):
    dst = fresh_dir(btrfs) / "dst"
    with pytest.raises(fastlink.CrossDeviceError) as info:
        fastlink.clone_or_copy(xfs_src, dst, methods="hardlink")
    _assert_oserror_fields(info.value, errno.EXDEV)
    assert not os.path.lexists(dst)


def test_reflink_or_hardlink_across_devices_raises_cross_device_error(xfs_src, btrfs, fresh_dir):
    # Neither allowed method can cross filesystems, so copy is never tried.
    dst = fresh_dir(btrfs) / "dst"
    with pytest.raises(fastlink.CrossDeviceError):
        fastlink.clone_or_copy(xfs_src, dst, methods=("reflink", "hardlink"))
    assert not os.path.lexists(dst)
