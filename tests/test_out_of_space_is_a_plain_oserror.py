"""Running out of space is an ordinary I/O failure: a builtin OSError with
errno ENOSPC and both paths set, not one of fastlink's own error types."""

import errno
import os

import fastlink
from treespec import File, make_tree, random_bytes


def test_out_of_space_raises_enospc_with_paths_and_cleans_up(tiny_tmpfs, tmp_path, fresh_dir):
    src = tmp_path / "src"
    # 8 MiB of data into a 4 MiB filesystem.
    make_tree(
        src, {"a": random_bytes(1 << 20, 1), "big": File(random_bytes(7 << 20, 2)), "c": b"small"}
    )
    dst = fresh_dir(tiny_tmpfs) / "dst"
    try:
        fastlink.clone_or_copy(src, dst)
    except OSError as e:
        err = e
    else:
        raise AssertionError("copying 8 MiB into a 4 MiB tmpfs did not fail")
    assert err.errno == errno.ENOSPC
    assert not isinstance(err, fastlink.FastlinkError)
    assert isinstance(err.filename, str) and err.filename
    assert isinstance(err.filename2, str) and err.filename2
    # Beyond the letter of the contract, but consistent with its "nothing is
    # left at dst" rule and the Ctrl-C behaviour: a failed copy is removed.
    assert not os.path.lexists(dst)
