"""Roll-back reaches what the call staged wherever its directory has gone
(issue 16, item 6).

A merge stages files (`.fastlink-tmp.*`) and new subtrees
(`.fastlink-staging.*`) inside existing directories below `dst`. If another
process renames such a directory during the call (`dst/lib/pkg` to
`pkg.moved`), the call raises FileNotFoundError, and everything it staged
is removed from the moved directory too: roll-back goes through the
directory fds the call held, never by re-resolving paths. The same for a
new tree whose parent, or grandparent, is moved: no staging survives in it.

The moves are made deterministic by the helpers of
test_rollback_touches_only_its_own.py: mid-fill, the call's own progress
callback moves the directory while gates.OpenGate holds the opens of the
remaining source files of GATED_DIR; at commit, a seccomp rename gate
moves it before the call's first rename.
"""

from __future__ import annotations

import errno

import pytest
from fdwalk import fastlink_entries
from snapshots import assert_trees_equal, snapshot
from test_rollback_touches_only_its_own import GATED_DIR, MOVERS
from treespec import File, make_tree, random_bytes

# More directories with files than the kept-fd budget (fd_budget.rs): the
# walk's kept fds must leave room for what the roll-back holds.
MANY_DIRS = 200


def _package(more_dirs: int = 0) -> dict:
    return {
        GATED_DIR: {
            **{f"m{i}.py": File(random_bytes(3000 + i, 40 + i)) for i in range(6)},
            "sub": {"s.py": b"s\n", "deeper": {"d.py": b"d\n"}},
        },
        **{f"other{i:03d}": {"o.py": b"o\n"} for i in range(more_dirs)},
    }


def _failed_with_enoent(outcome: dict) -> None:
    assert not outcome["ok"], f"the call returned success: {outcome}"
    assert outcome["error"] == "FileNotFoundError", outcome
    assert outcome["errno"] == errno.ENOENT, outcome


# A hard link opens no source file, so only the commit gate can hold it.
CASES = [("mid-fill", "copy"), ("at-commit", "copy"), ("at-commit", "hardlink")]


@pytest.mark.parametrize("more_dirs", [0, MANY_DIRS])
@pytest.mark.parametrize(("when", "methods"), CASES)
def test_a_merge_leaves_nothing_in_a_directory_moved_during_the_call(
    xfs, fresh_dir, when, methods, more_dirs
):
    base = fresh_dir(xfs, "moved-subdir-")
    src = base / "src"
    make_tree(src, _package(more_dirs))
    lib = base / "dst" / "lib"
    (lib / GATED_DIR).mkdir(parents=True)
    (lib / GATED_DIR / "old.py").write_bytes(b"old\n")
    (lib / GATED_DIR / "m0.py").write_bytes(b"replaced by the merge\n")
    before = snapshot(lib / GATED_DIR)
    moved = lib / f"{GATED_DIR}.moved"

    outcome = MOVERS[when](
        src, lib, lib / GATED_DIR, moved, False, methods=methods, dirs_exist_ok=True, overwrite=True
    )

    _failed_with_enoent(outcome)
    assert fastlink_entries(base) == [], "staged entries survived the roll-back"
    assert_trees_equal(before, moved, modes="exact", dir_times=False, what="the moved directory")
    assert not (lib / GATED_DIR).exists()


@pytest.mark.parametrize(("when", "methods"), CASES)
@pytest.mark.parametrize("which", ["parent", "grandparent"])
def test_a_new_tree_leaves_no_staging_in_a_parent_moved_during_the_call(
    xfs, fresh_dir, when, methods, which
):
    base = fresh_dir(xfs, "moved-new-parent-")
    src = base / "src"
    make_tree(src, _package())
    parent = base / "site" / "lib"
    parent.mkdir(parents=True)
    (parent / "neighbour.py").write_bytes(b"here before\n")
    move = parent if which == "parent" else parent.parent
    before = snapshot(move)
    moved = base / "elsewhere"

    outcome = MOVERS[when](src, parent / "pkg", move, moved, False, methods=methods)

    _failed_with_enoent(outcome)
    assert fastlink_entries(base) == [], "staging survived the roll-back"
    assert_trees_equal(before, moved, modes="exact", dir_times=False, what=f"the moved {which}")
