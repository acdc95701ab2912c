"""Property: for any tree, clone_or_copy produces an identical tree (bytes,
modes, symlink targets, mtimes) on every filesystem pair, whichever method
ends up being used."""

import os
import posixpath

import fastlink
import pytest
from fdwalk import make_fresh_dir, remove_tree
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from snapshots import assert_trees_equal, tree_counts
from treespec import Dir, File, Symlink, make_tree, random_bytes

PAIRS = [
    ("xfs", "xfs"),
    ("btrfs", "btrfs"),
    ("xfs", "btrfs"),
    ("xfs", "tmpfs"),
    ("ext4", "xfs"),
    ("tmpfs", "ext4"),
]
MAX_ENTRIES = 30
MAX_DEPTH = 4

# --- names -----------------------------------------------------------------


def _valid_name(name: bytes) -> bool:
    return (
        0 < len(name) <= 255
        and b"/" not in name
        and b"\0" not in name
        and name not in (b".", b"..")
    )


_odd_names = st.sampled_from(
    [
        b"-rf",
        b"--help",
        b"-",
        b" leading space",
        b"trailing space ",
        b"two  spaces",
        b".hidden",
        b"...",
        b"caf\xe9",  # latin-1, not valid UTF-8
        b"\xff\xfe\xfd",
        b"\x80",
        "日本語".encode(),
        "emoji 🦀".encode(),
        "e\u0301".encode(),  # combining accent
        b"new\nline",
        b"tab\there",
        b"*?[glob]",
        b"~",
        b"$HOME",
        b"back\\slash",
        b"x" * 255,  # NAME_MAX
    ]
)
_text_names = st.text(
    alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="/\x00"),
    min_size=1,
    max_size=12,
).map(os.fsencode)
_byte_names = st.binary(min_size=1, max_size=12)
names = st.one_of(_odd_names, _text_names, _byte_names).filter(_valid_name)

# --- file contents -----------------------------------------------------------

_boundary_sizes = st.sampled_from(
    [0, 1, 4095, 4096, 4097, 8191, 8192, 8193, 65535, 65536, 65537, 131072, 200 * 1024]
)
sizes = st.one_of(_boundary_sizes, st.integers(0, 8192), st.integers(0, 200 * 1024))
file_modes = st.sampled_from([0o644, 0o755, 0o600, 0o700, 0o640, 0o444, 0o555])
dir_modes = st.sampled_from([0o755, 0o700, 0o750, 0o555])
_odd_targets = st.sampled_from([b"caf\xe9", b"a b/c", b"-x", b".", b"..", b"//double//slash"])


@st.composite
def trees(draw):
    """A make_tree spec with at most MAX_ENTRIES entries and depth <= MAX_DEPTH.

    Built as a flat sequence of entries each placed in an already generated
    directory, which bounds the total size (a recursive strategy doesn't).
    Choices are drawn as indices from fixed strategies: building new
    strategies per draw (filters, sampled_from over big objects) makes
    hypothesis spend most of its time analysing them.
    """
    root: dict = {}
    dirs = [(b"", 0, root)]  # (relative path, depth, children dict)
    all_paths = []
    symlinks = []  # (children dict, name, relative dir) to fill in at the end
    for _ in range(draw(st.integers(0, MAX_ENTRIES))):
        rel_dir, depth, children = dirs[draw(st.integers(0, len(dirs) - 1))]
        name = draw(names)
        if name in children:
            continue  # duplicate name in this dir: just make fewer entries
        kind = draw(st.sampled_from(["file", "file", "symlink", "dir"]))
        if kind == "dir" and depth >= MAX_DEPTH:
            kind = "file"
        rel = posixpath.join(rel_dir, name) if rel_dir else name
        if kind == "file":
            size = draw(sizes)
            seed = draw(st.integers(0, 2**32))
            children[name] = File(random_bytes(size, seed), draw(file_modes))
        elif kind == "dir":
            sub = Dir({}, draw(dir_modes))
            children[name] = sub
            dirs.append((rel, depth + 1, sub.children))
        else:
            children[name] = None  # placeholder; target chosen once all paths exist
            symlinks.append((children, name, rel_dir))
        all_paths.append(rel)
    for children, name, rel_dir in symlinks:
        choice = draw(st.sampled_from(["entry", "dangling", "outside", "odd"]))
        if choice == "entry":
            target_path = all_paths[draw(st.integers(0, len(all_paths) - 1))]
            target = posixpath.relpath(target_path, rel_dir or b".")
        elif choice == "outside":
            target = b"../" * draw(st.integers(1, 6)) + b"etc/passwd"
        elif choice == "odd":
            target = draw(_odd_targets)
        else:
            target = b"no such " + draw(names)
        children[name] = Symlink(target)
    return root


@pytest.fixture(scope="module", params=PAIRS, ids=[f"{a}-to-{b}" for a, b in PAIRS])
def fs_pair(request, mounts):
    # Module-scoped (not function-scoped) so hypothesis can reuse it across
    # examples; per-example dirs are made inside the test body instead.
    src_fs, dst_fs = request.param
    return mounts.get(src_fs), mounts.get(dst_fs)


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(spec=trees())
def test_clone_or_copy_reproduces_any_tree(fs_pair, spec):
    src_mount, dst_mount = fs_pair
    src_base = make_fresh_dir(src_mount, "prop-src-")
    dst_base = make_fresh_dir(dst_mount, "prop-dst-")
    try:
        src, dst = src_base / "src", dst_base / "dst"
        src_snap = make_tree(src, spec)
        report = fastlink.clone_or_copy(src, dst)
        assert_trees_equal(src_snap, dst, times=True)
        expected = tree_counts(src_snap)
        assert {k: getattr(report, k) for k in expected} == expected
        assert report.reflinked + report.hardlinked + report.copied == report.files
    finally:
        # The filesystems are small and shared: free space every example.
        remove_tree(src_base)
        remove_tree(dst_base)
