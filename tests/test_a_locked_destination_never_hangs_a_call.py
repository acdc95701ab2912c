"""A destination directory that somebody else has flock()ed never stops a
call. Installers lock their target for the length of an install (`flock
SITE installer`, whose children inherit the lock), and fastlink's own
reclaim proof takes a shared flock on the call's anchor: a call used to wait
for it forever, deaf to Ctrl-C and SIGTERM. Now it waits at most about a
second, for a reclaim that is removing an entry there, then goes on without
the lock, with staging names of its own.

Each call runs in a child process under a deadline, so a hang fails the
test instead of stopping the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from faultutil import python_argv
from fdwalk import fastlink_entries
from snapshots import assert_trees_equal
from treespec import File, make_tree, random_bytes, sample_spec

DEADLINE_S = 60
CHILD = """
import json, sys, fastlink
kind, src, dst = sys.argv[1:4]
if kind == "tree":
    r = fastlink.clone_or_copy(src, dst)
elif kind == "merge":
    r = fastlink.clone_or_copy(src, dst, dirs_exist_ok=True)
elif kind == "files":
    r = fastlink.clone_files(src, dst, ["big.bin", "pkg/mod.py"])
else:
    r = fastlink.clone_or_copy(src + "/big.bin", dst)
print(json.dumps({"files": r.files}))
"""


@pytest.fixture
def locked_site(xfs: Path, fresh_dir) -> Iterator[Path]:
    """A directory another process holds an exclusive flock on."""
    site = fresh_dir(xfs) / "site"
    site.mkdir()
    holder = subprocess.Popen(
        ["flock", "--exclusive", os.fspath(site), "sleep", "600"], stdin=subprocess.DEVNULL
    )
    try:
        yield site
    finally:
        holder.kill()
        holder.wait()


def _source(base: Path) -> Path:
    src = base / "src"
    make_tree(src, {"big.bin": File(random_bytes(3 << 20, 1)), "pkg": {"mod.py": b"x = 1\n"}})
    return src


def _call(kind: str, src: Path, dst: Path, *, prefix: tuple[str, ...] = ()) -> dict:
    argv = [*prefix, *python_argv(CHILD, kind, os.fspath(src), os.fspath(dst))]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"a {kind} call into a locked directory did not return in {DEADLINE_S} s")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("kind", ["tree", "merge", "files", "single-file"])
def test_a_call_into_a_directory_another_process_locked_completes(locked_site, kind) -> None:
    src = _source(locked_site.parent)
    dst = locked_site if kind == "merge" else locked_site / "out"

    _call(kind, src, dst)

    if kind == "single-file":
        assert dst.read_bytes() == (src / "big.bin").read_bytes()
    elif kind == "files":
        assert (dst / "pkg" / "mod.py").read_bytes() == b"x = 1\n"
        assert (dst / "big.bin").read_bytes() == (src / "big.bin").read_bytes()
    else:
        assert_trees_equal(src, dst, include_root=kind != "merge")
    assert fastlink_entries(locked_site) == []
    # A second call into the same locked directory completes too.
    _call("tree", src, locked_site / "again")
    assert_trees_equal(src, locked_site / "again")


def test_an_installer_holding_its_site_lock_can_call_fastlink(xfs: Path, fresh_dir) -> None:
    """`flock SITE python -c ...`: the child inherits the exclusive lock."""
    base = fresh_dir(xfs)
    make_tree(base / "src", sample_spec())
    site = base / "site"
    site.mkdir()

    _call("tree", base / "src", site / "pkg", prefix=("flock", os.fspath(site)))

    assert_trees_equal(base / "src", site / "pkg")
    assert fastlink_entries(site) == []
