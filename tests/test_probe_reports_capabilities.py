"""probe(src, dst_dir) tells which methods work for a filesystem pair, and
leaves no trace behind."""

import os

import fastlink
import pytest
from treespec import make_tree

CASES = [
    # (src fs, dst fs, expected capabilities)
    ("xfs", "xfs", {"reflink": True, "hardlink": True, "copy": True}),
    ("btrfs", "btrfs", {"reflink": True, "hardlink": True, "copy": True}),
    ("xfs", "btrfs", {"reflink": False, "hardlink": False, "copy": True}),
    ("ext4", "ext4", {"reflink": False, "hardlink": True, "copy": True}),
    ("tmpfs", "tmpfs", {"reflink": False, "hardlink": True, "copy": True}),
    ("ext4", "xfs", {"reflink": False, "hardlink": False, "copy": True}),
]


def _listing(path):
    return sorted(os.listdir(os.fsencode(path)))


@pytest.mark.parametrize("src_fs,dst_fs,expected", CASES, ids=[f"{a}-to-{b}" for a, b, _ in CASES])
def test_probe_reports_capabilities_and_leaves_nothing_behind(
    mounts, fresh_dir, src_fs, dst_fs, expected
):
    src = fresh_dir(mounts.get(src_fs)) / "src"
    make_tree(src, {"f": b"x" * 70_000, "sub": {"g": b"y"}})
    dst_dir = fresh_dir(mounts.get(dst_fs))
    (dst_dir / "existing").write_bytes(b"keep")
    src_before, dst_before = _listing(src), _listing(dst_dir)
    src_parent_before, dst_parent_before = _listing(src.parent), _listing(dst_dir.parent)

    caps = fastlink.probe(src, dst_dir)

    assert caps == expected
    assert all(type(v) is bool for v in caps.values())
    assert _listing(src) == src_before
    assert _listing(dst_dir) == dst_before
    assert _listing(src.parent) == src_parent_before
    assert _listing(dst_dir.parent) == dst_parent_before


def test_probe_accepts_a_single_file_src(xfs, fresh_dir):
    base = fresh_dir(xfs)
    (base / "f").write_bytes(b"x" * 70_000)
    before = _listing(base)
    caps = fastlink.probe(base / "f", base)
    assert caps["reflink"] is True and caps["copy"] is True
    assert _listing(base) == before


def test_probe_matches_what_clone_or_copy_then_uses(xfs, btrfs, fresh_dir):
    src = fresh_dir(xfs) / "src"
    make_tree(src, {"f": b"x" * 70_000})
    for dst_mount, method in [(xfs, "reflink"), (btrfs, "copy")]:
        dst_dir = fresh_dir(dst_mount)
        caps = fastlink.probe(src, dst_dir)
        report = fastlink.clone_or_copy(src, dst_dir / "dst")
        assert report.method == method
        assert caps[report.method] is True


# An installer probes before it makes the venv (issue 20, friction 3): a
# destination yet to be made is probed where clone_or_copy would probe it, at
# its nearest existing ancestor, and nothing is made on the way.
@pytest.mark.parametrize("dst_fs,expected", [("xfs", True), ("btrfs", False)])
def test_probe_of_a_destination_yet_to_be_made_answers_for_its_nearest_existing_ancestor(
    mounts, xfs, fresh_dir, dst_fs, expected
):
    src = fresh_dir(xfs) / "src"
    make_tree(src, {"f": b"x" * 70_000})
    base = fresh_dir(mounts.get(dst_fs))
    venv = base / "venv" / "lib" / "python3.12" / "site-packages"
    before = _listing(base)

    caps = fastlink.probe(src, venv)

    assert caps == {"reflink": expected, "hardlink": expected, "copy": True}
    assert caps == fastlink.probe(src, base)
    assert _listing(base) == before, "probe made the destination or left a probe file"
    report = fastlink.clone_or_copy(src, venv)
    assert report.method == ("reflink" if expected else "copy")


def test_probe_below_a_file_is_still_not_a_directory(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "afile").write_bytes(b"")
    with pytest.raises(NotADirectoryError) as caught:
        fastlink.probe(tmp_path / "src", tmp_path / "afile" / "venv")
    assert caught.value.filename2 == str(tmp_path / "afile" / "venv")
    with pytest.raises(NotADirectoryError):
        fastlink.probe(tmp_path / "src", tmp_path / "afile")
