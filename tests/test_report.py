"""The Report returned by clone_or_copy: types, counts and a readable repr."""

import copy
import errno
import json
import pickle
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


# --------------------------------------------------------------------------
# Passing a report around (issue 20, friction 6): pickled, as a dict, made
# by hand for a test double, compared.
# --------------------------------------------------------------------------


def test_report_survives_pickle_and_copy_equal_to_itself(report):
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        again = pickle.loads(pickle.dumps(report, protocol))
        assert type(again) is fastlink.Report
        assert again == report, protocol
        assert repr(again) == repr(report)
    assert copy.copy(report) == report and copy.deepcopy(report) == report


def test_report_to_dict_is_plain_json_ready_data(report):
    as_dict = report.to_dict()
    assert list(as_dict) == [
        "method",
        "files",
        "dirs",
        "symlinks",
        "bytes",
        "reflinked",
        "hardlinked",
        "copied",
        "skipped",
        "fallbacks",
        "unsupported_metadata",
        "elapsed",
    ]
    assert json.loads(json.dumps(as_dict)) == as_dict
    for name in ["method", "files", "dirs", "symlinks", "bytes", "reflinked", "hardlinked"]:
        assert as_dict[name] == getattr(report, name), name
    assert as_dict["elapsed"] == report.elapsed


def test_report_to_dict_names_each_entrys_fields_and_errno():
    report = fastlink.Report(
        method="copy",
        files=3,
        copied=3,
        skipped=[("reflink", errno.EXDEV, "reflink not possible")],
        fallbacks=[("hardlink", errno.EMLINK, 2, "too many links")],
        unsupported_metadata=[("mode", errno.ENOSYS, 4, "mode not kept")],
    )
    as_dict = report.to_dict()
    assert as_dict["skipped"] == [
        {
            "method": "reflink",
            "errno": errno.EXDEV,
            "error": "EXDEV",
            "message": "reflink not possible",
        }
    ]
    assert as_dict["fallbacks"] == [
        {
            "method": "hardlink",
            "errno": errno.EMLINK,
            "error": "EMLINK",
            "files": 2,
            "message": "too many links",
        }
    ]
    assert as_dict["unsupported_metadata"] == [
        {
            "kind": "mode",
            "errno": errno.ENOSYS,
            "error": "ENOSYS",
            "entries": 4,
            "message": "mode not kept",
        }
    ]


def test_report_to_dict_names_a_not_written_back_fallback_by_its_constant():
    # Not an errno (none is 0): "errno 0" would send a reader to errno(3).
    report = fastlink.Report(
        method="copy",
        files=3,
        copied=3,
        fallbacks=[("reflink", fastlink.NOT_WRITTEN_BACK, 3, "reflink passed over")],
    )
    [entry] = report.to_dict()["fallbacks"]
    assert (entry["errno"], entry["error"]) == (0, "NOT_WRITTEN_BACK")


def test_a_report_made_by_hand_is_a_test_double_with_defaults():
    empty = fastlink.Report()
    assert (empty.method, empty.files, empty.skipped, empty.elapsed) == ("copy", 0, (), 0.0)
    double = fastlink.Report(
        method="reflink",
        files=2,
        dirs=1,
        bytes=10,
        reflinked=2,
        skipped=(),
        elapsed=0.5,
    )
    assert isinstance(double, fastlink.Report)
    assert (double.method, double.files, double.reflinked, double.elapsed) == ("reflink", 2, 2, 0.5)
    assert double == fastlink.Report(
        method="reflink", files=2, dirs=1, bytes=10, reflinked=2, elapsed=0.5
    )
    assert double != empty
    assert pickle.loads(pickle.dumps(double)) == double


@pytest.mark.parametrize(
    "kwargs",
    [
        {"method": "symlink"},
        {"skipped": [("teleport", 18, "x")]},
        {"unsupported_metadata": [("colour", 38, 1, "x")]},
        {"elapsed": -1.0},
        {"elapsed": float("nan")},
        {"files": -1},
    ],
    ids=[
        "method",
        "skipped-method",
        "metadata-kind",
        "negative-elapsed",
        "nan-elapsed",
        "negative",
    ],
)
def test_a_report_made_by_hand_refuses_what_no_call_reports(kwargs):
    with pytest.raises((ValueError, OverflowError)):
        fastlink.Report(**kwargs)


def test_report_options_are_keyword_only():
    with pytest.raises(TypeError):
        fastlink.Report("copy", 1)  # type: ignore[misc]
