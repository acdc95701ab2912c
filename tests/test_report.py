"""The Report returned by clone_or_copy: types, counts and a readable repr."""

import errno
import re

import fastlink
import pytest
from treespec import File, Symlink, make_tree


@pytest.fixture
def report(tmp_path):
    # Distinctive counts so the repr check below means something:
    # 7 files, 3 dirs (root included), 2 symlinks, 12345 bytes.
    spec = {
        "a": File(b"a" * 12000),
        "b": File(b"b" * 300),
        "c": File(b"c" * 45),
        "empty1": b"",
        "d": {"e": b"", "f": b"", "g": {"h": b""}},
        "l1": Symlink("a"),
        "l2": Symlink("missing"),
    }
    make_tree(tmp_path / "src", spec)
    return fastlink.clone_or_copy(tmp_path / "src", tmp_path / "dst")


def test_report_is_a_report_instance(report):
    assert isinstance(report, fastlink.Report)


def test_report_counts_match_tree(report):
    assert (report.files, report.dirs, report.symlinks, report.bytes) == (7, 3, 2, 12345)


def test_report_attribute_types(report):
    assert isinstance(report.method, str)
    assert report.method in {"reflink", "hardlink", "copy"}
    for name in ["files", "dirs", "symlinks", "bytes", "reflinked", "hardlinked", "copied"]:
        value = getattr(report, name)
        assert type(value) is int, (name, value)
        assert value >= 0, (name, value)
    assert isinstance(report.elapsed, float)
    assert report.elapsed >= 0
    assert isinstance(report.skipped, tuple)
    for entry in report.skipped:
        assert isinstance(entry, tuple) and len(entry) == 3, entry
        method, err, message = entry
        assert isinstance(method, str) and isinstance(err, int) and isinstance(message, str)
    # A filesystem that stores modes and times leaves nothing unstored.
    assert report.unsupported_metadata == ()


def test_report_method_counter_matches_method(report):
    per_method = {"reflink": report.reflinked, "hardlink": report.hardlinked, "copy": report.copied}
    assert per_method[report.method] == report.files
    assert sum(per_method.values()) == report.files


def test_report_lists_reflink_as_skipped_with_eopnotsupp_on_ext4(ext4, fresh_dir):
    base = fresh_dir(ext4)
    make_tree(base / "src", {"f": File(b"x" * 100_000)})
    report = fastlink.clone_or_copy(base / "src", base / "dst")
    assert report.method == "copy"
    assert len(report.skipped) == 1, report.skipped
    method, err, message = report.skipped[0]
    assert (method, err) == ("reflink", errno.EOPNOTSUPP)
    assert message


def test_report_skipped_is_empty_when_first_method_works(tmp_path):
    make_tree(tmp_path / "src", {"f": b"x"})
    report = fastlink.clone_or_copy(tmp_path / "src", tmp_path / "dst", methods="copy")
    assert report.method == "copy"
    assert report.skipped == ()


def test_report_repr_is_readable_and_has_method_and_counts(report):
    r = repr(report)
    assert " object at 0x" not in r, r
    assert "\n" not in r, r
    # Each count under its own name: a digit found anywhere (12345 holds 3
    # and 2) would not show two counts swapped.
    fields = dict(re.findall(r"(\w+)=([^,()]+)", r))
    assert fields["method"] == f'"{report.method}"', r
    counts = ["files", "dirs", "symlinks", "bytes", "reflinked", "hardlinked", "copied"]
    assert {name: fields.get(name) for name in counts} == {
        name: str(getattr(report, name)) for name in counts
    }, r
