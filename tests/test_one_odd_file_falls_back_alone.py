"""One file that cannot use a method falls back for itself only (issue 9,
items 3 and 4).

The odd files are real: an ext4 inode at the link limit (EMLINK), a file
the unprivileged caller may not hard-link under `fs.protected_hardlinks=1`
(EPERM), a btrfs NOCOW file or directory (`chattr +C`: FICLONE is EINVAL),
files under a mount point inside a merge's dst and link(2) across two bind
mounts of one filesystem (EXDEV). Each is placed first in the tree (the
file a probe samples) and in the middle. The other files of the same call,
and the calls after it in the same process, still use the method; the
report counts every file under the method that placed it and lists each
(method, errno) fallback with its file count in `report.fallbacks`. With a
strict single method the odd file raises the typed error naming its own
source and destination paths, and the call is rolled back.

Sequences of calls run in a fresh child process: the probe's answers are
cached per process, so only a fresh one shows what a probe concludes from
an odd first file, and what a later call in the same process does.
"""

from __future__ import annotations

import errno
import inspect
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import fastlink
import pytest
from faultutil import (
    NOBODY,
    OUTCOME_CODE,
    chown_tree,
    last_json_line,
    python_argv,
)
from fdwalk import fastlink_entries, make_fresh_dir, regular_files, remove_tree
from fiemap import FIEMAP_EXTENT_SHARED, describe_extents, fiemap_extents, is_fully_shared
from mounts import bind_mount, tmpfs_at
from skips import skip_or_fail
from snapshots import assert_trees_equal, snapshot, tree_counts, tree_differences
from treespec import File, make_tree, random_bytes

OTHER_UID = 4242  # owns the file nobody may not link under protected_hardlinks
POSITIONS = ["first", "middle"]
# Where the odd file sits. "first": the only file at the top level, so every
# walk order (breadth-first or depth-first) meets it before any other file.
ODD_REL = {"first": "odd.so", "middle": "pkg/odd.so"}
KiB = 1024


# --------------------------------------------------------------------------
# Reports as data, in this process and in a child
# --------------------------------------------------------------------------


def report_fields(r) -> dict:
    """A Report as JSON-able data (`fallbacks` None if the Report has none)."""
    fallbacks = getattr(r, "fallbacks", None)
    return {
        "ok": True,
        "method": r.method,
        "files": r.files,
        "reflinked": r.reflinked,
        "hardlinked": r.hardlinked,
        "copied": r.copied,
        "skipped": [list(s) for s in r.skipped],
        "fallbacks": None if fallbacks is None else [list(f) for f in fallbacks],
    }


CALLS_CHILD = (
    OUTCOME_CODE
    + "\n"
    + inspect.getsource(report_fields)
    + """
job = json.loads(sys.argv[1])
import fastlink
if job["drop_to"] is not None:
    # After the import (the interpreter may live where nobody cannot read):
    # from here on a plain unprivileged process, no capabilities left.
    uid, gid = job["drop_to"]
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
checks = {}
for src, dst in job["link_checks"]:
    try:
        os.link(src, dst)
        os.unlink(dst)
        checks[src] = None
    except OSError as e:
        checks[src] = e.errno
print(json.dumps({"link_checks": checks}), flush=True)
results = []
for src, dst, kwargs in job["calls"]:
    box = []

    def call():
        box.append(fastlink.clone_or_copy(src, dst, **kwargs))
        return box[-1]

    outcome = outcome_of(call)
    results.append(report_fields(box[0]) if outcome["ok"] else outcome)
print(json.dumps(results), flush=True)
"""
)


def run_calls(
    calls: list[tuple[os.PathLike, os.PathLike, dict]],
    *,
    drop_to: tuple[int, int] | None = None,
    link_checks: list[tuple[os.PathLike, os.PathLike]] = (),  # type: ignore[assignment]
    cwd: os.PathLike | None = None,
) -> tuple[dict, list[dict]]:
    """Run the calls one after another in one fresh child process (default
    methods unless a call passes `methods`). Returns the errno of each
    plain os.link() precondition check (None: it linked) and the outcomes."""
    job = {
        "calls": [(os.fspath(s), os.fspath(d), kw) for s, d, kw in calls],
        "drop_to": drop_to,
        "link_checks": [(os.fspath(s), os.fspath(d)) for s, d in link_checks],
    }
    env = {k: v for k, v in os.environ.items() if k != "FASTLINK_METHODS"}
    r = subprocess.run(
        python_argv(CALLS_CHILD, json.dumps(job)),
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=cwd,
    )
    assert r.returncode == 0, f"child failed: rc={r.returncode}\n{r.stderr}"
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    return json.loads(lines[0])["link_checks"], last_json_line(r.stdout)


def assert_fell_back_alone(
    outcome: dict, *, method: str, errno_: int, odd: int, files: int, fallback: str = "copied"
) -> None:
    """`odd` files fell back from `method` (errno_) to copy, the other
    files used `method`, and the report says exactly that."""
    assert outcome["ok"], f"the call failed: {outcome}"
    counted = {"reflink": "reflinked", "hardlink": "hardlinked", "copy": "copied"}[method]
    assert outcome["files"] == files, outcome
    assert outcome[counted] == files - odd, (
        f"{files - odd} files should have been {counted}: {outcome}"
    )
    assert outcome[fallback] == odd, f"{odd} file(s) should have been {fallback}: {outcome}"
    assert outcome["reflinked"] + outcome["hardlinked"] + outcome["copied"] == files, outcome
    assert outcome["method"] == method, f"method is the one that placed most files: {outcome}"
    assert outcome["skipped"] == [], f"no method is passed over for the whole call: {outcome}"
    assert outcome["fallbacks"] is not None, f"Report has no `fallbacks`: {outcome}"
    assert [fb[:3] for fb in outcome["fallbacks"]] == [[method, errno_, odd]], outcome
    message = outcome["fallbacks"][0][3]
    assert isinstance(message, str) and message, outcome


def assert_all_used(outcome: dict, method: str, files: int) -> None:
    """A call on a tree with no odd file: every file used `method`."""
    counted = {"reflink": "reflinked", "hardlink": "hardlinked", "copy": "copied"}[method]
    assert outcome["ok"], f"the later call failed: {outcome}"
    assert outcome["method"] == method, f"a later call no longer uses {method}: {outcome}"
    assert outcome[counted] == outcome["files"] == files, outcome
    assert outcome["skipped"] == [], outcome
    assert outcome["fallbacks"] == [], f"no fallbacks (or no `fallbacks` at all): {outcome}"


def _inode(path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _pairs(src: Path, dst: Path) -> Iterator[tuple[bytes, bytes]]:
    for s in regular_files(src):
        yield s, os.path.join(os.fsencode(dst), os.path.relpath(s, os.fsencode(src)))


def _plain_spec(seed: int, size: int = 3 * KiB) -> dict:
    return {
        "plain": {f"m{i}.py": File(random_bytes(size + i, seed * 100 + i)) for i in range(5)},
        "plain.txt": File(random_bytes(size, seed * 100 + 50)),
    }


# --------------------------------------------------------------------------
# EMLINK: an ext4 inode at the link limit
# --------------------------------------------------------------------------


class InodeAtLinkLimit:
    """One ext4 inode with as many names as ext4 allows (65000). The spare
    names live in a scratch directory; `place(path)` moves one of them to
    `path` (rename keeps the link count), after topping the count back up
    to the limit (a finished test removes the name it placed)."""

    MAX_TRIES = 70_000  # ext4's limit is 65000: more means no limit at all

    def __init__(self, scratch: Path) -> None:
        self.spares = scratch / "spares"
        self.spares.mkdir()
        self.content = random_bytes(20 * KiB, 777)
        self.master = self.spares / "master"
        self.master.write_bytes(self.content)
        self._free: list[Path] = []
        self._next = 0
        self.top_up()
        self.limit = os.stat(self.master).st_nlink

    def top_up(self) -> None:
        for _ in range(self.MAX_TRIES):
            name = self.spares / f"n{self._next}"
            try:
                os.link(self.master, name)
            except OSError as e:
                if e.errno == errno.EMLINK:
                    return
                raise
            self._next += 1
            self._free.append(name)
        raise AssertionError(f"no link limit reached after {self.MAX_TRIES} links")

    def place(self, path: Path) -> Path:
        self.top_up()
        os.rename(self._free.pop(), path)
        with pytest.raises(OSError) as caught:
            os.link(self.master, self.spares / "over-the-limit")
        assert caught.value.errno == errno.EMLINK, "the inode is not at its link limit"
        return path


@pytest.fixture(scope="module")
def at_link_limit(ext4) -> Iterator[InodeAtLinkLimit]:
    scratch = make_fresh_dir(ext4, "link-limit-")
    try:
        yield InodeAtLinkLimit(scratch)
    finally:
        remove_tree(scratch)


def _link_limit_tree(root: Path, position: str, inode: InodeAtLinkLimit) -> dict:
    """Six ordinary files plus the inode at the link limit at ODD_REL[position]."""
    spec: dict = {"pkg": {f"mod{i}.py": File(random_bytes(2000 + i, i)) for i in range(4)}}
    if position == "middle":
        spec["a.py"] = File(random_bytes(1500, 10))
        spec["b.py"] = File(random_bytes(1600, 11))
    else:
        spec["pkg2"] = {"x.py": File(random_bytes(1700, 12)), "y.py": File(random_bytes(1800, 13))}
    make_tree(root, spec)
    inode.place(root / ODD_REL[position])
    return snapshot(root)  # re-baselines the source guard too


@pytest.mark.parametrize("position", POSITIONS)
def test_a_file_at_the_link_limit_is_copied_and_the_rest_hardlinked(
    at_link_limit, ext4, fresh_dir, position
):
    base = fresh_dir(ext4, "emlink-")
    src, plain = base / "src", base / "plain"
    expected = _link_limit_tree(src, position, at_link_limit)
    files = tree_counts(expected)["files"]
    plain_files = tree_counts(make_tree(plain, _plain_spec(1)))["files"]
    kw = {"methods": ["hardlink", "copy"]}

    _, (odd_call, later, again) = run_calls(
        [(src, base / "dst", kw), (plain, base / "later", kw), (src, base / "again", kw)]
    )

    assert_fell_back_alone(odd_call, method="hardlink", errno_=errno.EMLINK, odd=1, files=files)
    assert_trees_equal(expected, base / "dst")
    odd_src = os.fsencode(src / ODD_REL[position])
    for s, d in _pairs(src, base / "dst"):
        if s == odd_src:
            assert _inode(d) != _inode(s), "the file at the link limit cannot be a link"
            assert os.stat(d).st_nlink == 1
        else:
            assert _inode(d) == _inode(s), f"{d!r} is not a hard link of its source"
    assert_all_used(later, "hardlink", plain_files)
    assert_fell_back_alone(again, method="hardlink", errno_=errno.EMLINK, odd=1, files=files)


@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("shape", ["new-tree", "merge"])
def test_strict_hardlink_names_the_file_at_the_link_limit_and_rolls_back(
    at_link_limit, ext4, fresh_dir, position, shape
):
    base = fresh_dir(ext4, "emlink-strict-")
    src, dst = base / "src", base / "dst"
    _link_limit_tree(src, position, at_link_limit)
    before = None
    if shape == "merge":
        dst.mkdir()
        (dst / "keep.txt").write_bytes(b"installed before\n")
        (dst / "pkg").mkdir()
        (dst / "pkg" / "old.py").write_bytes(b"old\n")
        before = snapshot(dst)

    with pytest.raises(fastlink.HardlinkUnsupportedError) as caught:
        fastlink.clone_or_copy(src, dst, methods="hardlink", dirs_exist_ok=shape == "merge")

    e = caught.value
    assert e.errno == errno.EMLINK, e
    assert e.filename == os.fspath(src / ODD_REL[position]), e
    assert e.filename2 == os.fspath(dst / ODD_REL[position]), e
    if shape == "merge":
        assert_trees_equal(before, dst, modes="exact", dir_times=False, what="the merged dst")
    else:
        assert not os.path.lexists(dst)
    assert fastlink_entries(base) == []


# --------------------------------------------------------------------------
# EPERM: fs.protected_hardlinks, as an unprivileged user
# --------------------------------------------------------------------------

# (The fixtures protected_hardlinks and open_base are in conftest.py.)


@pytest.mark.parametrize("position", POSITIONS)
def test_a_file_the_user_may_not_link_is_copied_and_the_rest_hardlinked(
    protected_hardlinks, open_base, position
):
    src, plain, out = open_base / "src", open_base / "plain", open_base / "out"
    odd_rel = ODD_REL[position]
    spec: dict = {"pkg": {f"mod{i}.py": File(random_bytes(2000 + i, i)) for i in range(4)}}
    if position == "middle":
        spec["a.py"] = File(random_bytes(1500, 10))
        spec["pkg"]["odd.so"] = File(random_bytes(3000, 99))
    else:
        spec["odd.so"] = File(random_bytes(3000, 99))
    make_tree(src, spec)
    make_tree(plain, _plain_spec(2))
    out.mkdir()
    for tree in (src, plain, out):
        chown_tree(tree, NOBODY, NOBODY)
    # Mode 0644, owned by another user: nobody may read it (so copy it) but
    # not write it, which is what protected_hardlinks asks for a link.
    os.chown(src / odd_rel, OTHER_UID, OTHER_UID)
    expected = snapshot(src)
    files = tree_counts(expected)["files"]
    plain_files = tree_counts(snapshot(plain))["files"]
    kw = {"methods": ["hardlink", "copy"]}

    checks, (odd_call, later) = run_calls(
        [(src, out / "dst", kw), (plain, out / "later", kw)],
        drop_to=(NOBODY, NOBODY),
        link_checks=[(src / odd_rel, out / ".check-odd"), (src / "pkg/mod0.py", out / ".check")],
        cwd=open_base,
    )

    # Refuse to judge fastlink unless the kernel really refuses that one link.
    assert checks == {
        os.fspath(src / odd_rel): errno.EPERM,
        os.fspath(src / "pkg/mod0.py"): None,
    }, f"protected_hardlinks did not act as expected for uid {NOBODY}: {checks}"
    assert_fell_back_alone(odd_call, method="hardlink", errno_=errno.EPERM, odd=1, files=files)
    assert_trees_equal(expected, out / "dst")
    for s, d in _pairs(src, out / "dst"):
        linked = _inode(d) == _inode(s)
        assert linked == (s != os.fsencode(src / odd_rel)), f"{d!r}: linked={linked}"
    assert_all_used(later, "hardlink", plain_files)


# --------------------------------------------------------------------------
# EINVAL: a btrfs NOCOW file or directory
# --------------------------------------------------------------------------


def _chattr_nocow(path: Path) -> None:
    if shutil.which("chattr") is None or shutil.which("lsattr") is None:
        skip_or_fail("chattr/lsattr (Debian package e2fsprogs) not installed")
    r = subprocess.run(["chattr", "+C", os.fspath(path)], capture_output=True, text=True)
    if r.returncode != 0:
        skip_or_fail(f"chattr +C {path} failed: {r.stderr.strip()}")


def _is_nocow(path: Path) -> bool:
    r = subprocess.run(["lsattr", "-d", os.fspath(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return "C" in r.stdout.split()[0]


def _write_nocow_file(path: Path, content: bytes) -> None:
    """NOCOW takes effect only on an empty file: create, chattr +C, write."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.close(fd)
    _chattr_nocow(path)
    with open(path, "r+b") as f:
        f.write(content)
    os.utime(path, ns=(1_600_000_000_000_000_000, 1_600_000_000_123_456_789))


NOCOW_CASES = ["first-file", "middle-file", "nocow-dir"]


def _nocow_tree(root: Path, case: str) -> list[str]:
    """Files >= 64 KiB (btrfs inlines small ones); returns the NOCOW files."""
    odd: list[str] = []
    spec: dict = {"lib": {f"m{i}.so": File(random_bytes(64 * KiB + i * 4096, i)) for i in range(4)}}
    if case != "first-file":
        spec["a.bin"] = File(random_bytes(100 * KiB, 20))
    if case == "first-file":
        root.mkdir()
        _write_nocow_file(root / "odd.bin", random_bytes(90 * KiB, 30))  # created first
        odd.append("odd.bin")
    make_tree(root, spec)
    if case == "middle-file":
        _write_nocow_file(root / "lib" / "odd.so", random_bytes(90 * KiB, 31))
        odd.append("lib/odd.so")
    elif case == "nocow-dir":
        (root / "nocow").mkdir()
        _chattr_nocow(root / "nocow")  # new files in it inherit NOCOW
        for i in range(2):
            (root / "nocow" / f"n{i}.bin").write_bytes(random_bytes(80 * KiB, 40 + i))
            odd.append(f"nocow/n{i}.bin")
    for rel in odd:
        assert _is_nocow(root / rel), f"{rel} did not become NOCOW"
    return odd


def _shares_nothing(path) -> bool:
    return not any(flags & FIEMAP_EXTENT_SHARED for *_, flags in fiemap_extents(path))


@pytest.mark.parametrize("case", NOCOW_CASES)
def test_a_nocow_file_is_copied_and_the_rest_reflinked(btrfs, fresh_dir, case):
    base = fresh_dir(btrfs, "nocow-")
    src, plain = base / "src", base / "plain"
    odd = _nocow_tree(src, case)
    expected = snapshot(src)
    files = tree_counts(expected)["files"]
    plain_files = tree_counts(make_tree(plain, _plain_spec(3, 64 * KiB)))["files"]

    _, (odd_call, later) = run_calls([(src, base / "dst", {}), (plain, base / "later", {})])

    assert_fell_back_alone(
        odd_call, method="reflink", errno_=errno.EINVAL, odd=len(odd), files=files
    )
    assert_trees_equal(expected, base / "dst")
    odd_src = {os.fsencode(src / rel) for rel in odd}
    for s, d in _pairs(src, base / "dst"):
        if s in odd_src:
            assert _shares_nothing(d), f"{d!r}: {describe_extents(d)}"
        else:
            assert is_fully_shared(d), f"{d!r} was not reflinked: {describe_extents(d)}"
    assert_all_used(later, "reflink", plain_files)
    for _, d in _pairs(plain, base / "later"):
        assert is_fully_shared(d), f"{d!r} was not reflinked: {describe_extents(d)}"


# --------------------------------------------------------------------------
# EXDEV: a mount point inside dst; link(2) across two bind mounts
# --------------------------------------------------------------------------


MOUNTED_REL = "data"


def _mount_point_spec() -> dict:
    # >= 64 KiB so FIEMAP can prove the reflinks.
    return {
        "top.bin": File(random_bytes(70 * KiB, 1)),
        "pkg": {f"m{i}.so": File(random_bytes(64 * KiB + i, 2 + i)) for i in range(3)},
        MOUNTED_REL: {
            "d1.bin": File(random_bytes(66 * KiB, 9)),
            "deeper": {"d2.bin": File(random_bytes(67 * KiB, 10))},
        },
    }


@pytest.mark.parametrize("method", ["reflink", "hardlink"])
def test_files_under_a_mount_point_inside_dst_fall_back_to_copy(
    xfs, fresh_dir, monkeypatch, method
):
    monkeypatch.delenv("FASTLINK_METHODS", raising=False)
    base = fresh_dir(xfs, "exdev-mount-")
    src, dst = base / "src", base / "dst"
    expected = make_tree(src, _mount_point_spec())
    files = tree_counts(expected)["files"]
    under_mount = {
        os.fsencode(src / MOUNTED_REL / "d1.bin"),
        os.fsencode(src / MOUNTED_REL / "deeper" / "d2.bin"),
    }
    (dst / MOUNTED_REL).mkdir(parents=True)
    kw = {} if method == "reflink" else {"methods": ("hardlink", "copy")}

    with tmpfs_at(dst / MOUNTED_REL):
        report = fastlink.clone_or_copy(src, dst, dirs_exist_ok=True, **kw)

        fallbacks = getattr(report, "fallbacks", None)
        assert isinstance(fallbacks, tuple) and all(isinstance(f, tuple) for f in fallbacks), (
            f"report.fallbacks should be a tuple of tuples: {fallbacks!r}"
        )
        assert_fell_back_alone(
            report_fields(report),
            method=method,
            errno_=errno.EXDEV,
            odd=len(under_mount),
            files=files,
        )
        # The mount point is dst's own directory, with its own mode and times.
        want = {k: v for k, v in expected.items() if k != MOUNTED_REL.encode()}
        got = {k: v for k, v in snapshot(dst).items() if k != MOUNTED_REL.encode()}
        assert tree_differences(want, got, include_root=False) == []
        for s, d in _pairs(src, dst):
            if s in under_mount:
                assert os.stat(d).st_dev != os.stat(s).st_dev
            elif method == "hardlink":
                assert _inode(d) == _inode(s), d
            else:
                assert is_fully_shared(d), f"{d!r} was not reflinked: {describe_extents(d)}"

    later = fastlink.clone_or_copy(src, base / "later", **kw)
    assert_all_used(report_fields(later), method, files)


def _bind_spec() -> dict:
    return {"pkg": {f"m{i}.py": File(random_bytes(3000 + i, i)) for i in range(5)}, "r.txt": b"r\n"}


def test_link_across_two_bind_mounts_copies_and_later_calls_still_hardlink(xfs, fresh_dir):
    base = fresh_dir(xfs, "exdev-bind-")
    expected = make_tree(base / "src", _bind_spec())
    files = tree_counts(expected)["files"]
    (base / "out").mkdir()
    kw = {"methods": ["hardlink", "copy"]}

    with bind_mount(base) as a, bind_mount(base) as b:
        _, outcomes = run_calls(
            [
                (a / "src", b / "out" / "across", kw),
                (a / "src", a / "out" / "same", kw),
                (b / "src", b / "out" / "same-b", kw),
                (a / "src", b / "out" / "across-again", kw),
            ]
        )
    across, same, same_b, across_again = outcomes

    # First what matters most: the EXDEV did not turn hard links off.
    for name, outcome in (("same", same), ("same-b", same_b)):
        assert_all_used(outcome, "hardlink", files)
        for s, d in _pairs(base / "src", base / "out" / name):
            assert _inode(d) == _inode(s), d
    for name, outcome in (("across", across), ("across-again", across_again)):
        assert outcome["ok"], f"link(2) across two bind mounts made the call fail: {outcome}"
        assert outcome["copied"] == outcome["files"] == files, outcome
        assert outcome["method"] == "copy", outcome
        assert outcome["fallbacks"] is not None, f"Report has no `fallbacks`: {outcome}"
        reasons = [s[:2] for s in outcome["skipped"]] + [f[:2] for f in outcome["fallbacks"]]
        assert ["hardlink", errno.EXDEV] in reasons, outcome
        assert_trees_equal(expected, base / "out" / name)
        for s, d in _pairs(base / "src", base / "out" / name):
            assert _inode(d) != _inode(s), d
