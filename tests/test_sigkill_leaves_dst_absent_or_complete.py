"""A clone_or_copy that is SIGKILLed at any moment leaves dst either absent or
complete, never half-written. The only things it may leave behind are its
staging entry `.fastlink-staging.<slot>.0.<tag>.<dst name>` next to dst and,
when the kill lands in the filesystem probe, a
`.fastlink-probe.<pid>-<n>.0.<tag>.probe` file (docs/guarantees.md). The next
clone_or_copy to the same dst succeeds and reclaims the staging entry it
meets (the name it tries first), and `fastlink.reclaim` removes the rest:
both by proof (the tag, and the killed call's lock being free), never by
the name alone; look-alikes stay (test_killed_calls_are_reclaimed.py).

A child process imports fastlink, says "R" and starts the clone; the parent
kills it after a delay. The delays are spread from 0 to a bit beyond the
measured duration of an unkilled run on this machine, plus kills timed from
the moment the staging directory first appears, so the kill lands in the
probe, the directory creation, the parallel fill, the directory fix-up and
the final rename on a slow or a fast machine alike. Nothing asserts on time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import fastlink
import pytest
from faultutil import PROBE_RE, STAGING_PREFIX, listdir_b, staging_re
from fdwalk import make_fresh_dir, remove_tree
from snapshots import assert_trees_equal, snapshot
from treespec import File, Symlink, make_tree, random_bytes

CHILD = textwrap.dedent(
    """
    import sys, time
    import fastlink
    src, dst, methods = sys.argv[1], sys.argv[2], sys.argv[3]
    sys.stdout.write("R\\n")
    sys.stdout.flush()
    t = time.monotonic()
    r = fastlink.clone_or_copy(src, dst, methods=None if methods == "default" else methods)
    print("D", time.monotonic() - t, r.method, flush=True)
    """
)

DST_NAME = "dst"

# (source mount, destination mount, method the unkilled run must use)
PAIRS = [
    pytest.param("tmpfs", "xfs", "copy", id="tmpfs-to-xfs-copy"),
    pytest.param("xfs", "xfs", "reflink", id="xfs-to-xfs-reflink"),
    pytest.param("btrfs", "btrfs", "reflink", id="btrfs-to-btrfs-reflink"),
]

SPREAD_KILLS = 16  # kills at delays spread over [0, 1.2 * duration]
STAGING_OFFSETS = (0.0, 0.02, 0.3, 0.7)  # * duration, after staging appears


def big_spec() -> dict:
    """~2000 files in 40 dirs (mostly 3 KiB, some 96 KiB so clones have real
    extents), a few symlinks, one read-only dir (fixed up last)."""
    spec: dict = {}
    n = 0
    for d in range(40):
        sub: dict = {}
        for i in range(50):
            size = 96 * 1024 if i % 25 == 0 else 3000 + i
            sub[f"f{i:02d}.py"] = File(random_bytes(size, n), 0o755 if i % 10 == 0 else 0o644)
            n += 1
        sub["link"] = Symlink("f00.py")
        spec[f"pkg{d:02d}"] = sub
    spec["pkg00"]["nested"] = {"deeper": {"leaf.txt": b"leaf\n"}}
    spec["readonly"] = {"x.bin": File(random_bytes(10_000, 424242), 0o444)}
    spec["top.txt"] = b"top\n"
    return spec


@pytest.fixture(scope="module")
def sources(mounts):
    """kind -> (src path, snapshot) on that session mount, built lazily."""
    built: dict[str, tuple[Path, dict]] = {}
    dirs: list[Path] = []

    def get(kind: str) -> tuple[Path, dict]:
        if kind not in built:
            base = make_fresh_dir(mounts.get(kind), "sigkill-src-")
            dirs.append(base)
            src = base / "src"
            spec = big_spec()
            make_tree(src, spec)
            os.chmod(src / "readonly", 0o555)
            built[kind] = (src, snapshot(src))
        return built[kind]

    yield get
    for d in dirs:
        remove_tree(d)


def _start(src: Path, dst: Path, methods: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(src), str(dst), methods],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    if line != "R\n":
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"child did not start: {line!r} {err}")
    return proc


def _measure(src: Path, parent: Path, methods: str, expected_method: str) -> float:
    """Duration of one unkilled clone in a child; also proves the pair uses
    the intended method, so both the copy and the reflink path are killed."""
    dst = parent / DST_NAME
    proc = _start(src, dst, methods)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, f"unkilled run failed: {out} {err}"
    _, elapsed, method = out.split()
    assert method == expected_method, f"expected {expected_method}, the unkilled run used {method}"
    remove_tree(dst)
    return float(elapsed)


def _kill_after_delay(proc: subprocess.Popen, delay: float) -> None:
    if delay > 0:
        time.sleep(delay)
    proc.kill()


def _kill_after_staging(proc: subprocess.Popen, parent: Path, offset: float) -> None:
    parent_b = os.fsencode(parent)
    while proc.poll() is None:
        if any(n.startswith(STAGING_PREFIX.encode()) for n in os.listdir(parent_b)):
            break
        time.sleep(0.0002)
    if offset > 0:
        time.sleep(offset)
    proc.kill()


def _check_after_kill(expected: dict, parent: Path, proc: subprocess.Popen) -> list[bytes]:
    """dst absent or complete; every other entry is this child's staging
    entry or probe file. Returns the leftovers."""
    dst = parent / DST_NAME
    pattern = staging_re(DST_NAME)
    leftovers = []
    for name in listdir_b(parent):
        if name == DST_NAME.encode():
            continue
        staging, probe = pattern.match(name), PROBE_RE.match(name)
        assert staging is not None or probe is not None, (
            f"unexpected entry {name!r} next to dst after SIGKILL (only "
            f"'.fastlink-staging.<slot>.0.<tag>.{DST_NAME}' or "
            "'.fastlink-probe.<pid>-<n>.0.<tag>.probe' may be left)"
        )
        pid = staging.group(2) if staging is not None else probe.group(1)  # type: ignore[union-attr]
        assert pid is None or int(pid) == proc.pid, (
            f"entry {name!r} does not carry the killed process's pid {proc.pid}"
        )
        leftovers.append(name)
    if os.path.lexists(dst):
        assert_trees_equal(expected, dst)  # complete, or the kill exposed a partial tree
    return leftovers


def _rerun_and_check(src: Path, expected: dict, parent: Path, leftovers: list[bytes]) -> None:
    dst = parent / DST_NAME
    if os.path.lexists(dst):
        # A complete tree from the killed run: an installer would remove it
        # before trying again; the rerun must still succeed from scratch.
        remove_tree(dst)
    fastlink.clone_or_copy(src, dst)
    assert_trees_equal(expected, dst)
    left = sorted(n for n in listdir_b(parent) if n != DST_NAME.encode())
    shared = [n for n in leftovers if n.startswith(b".fastlink-staging.0.")]
    assert not set(shared) & set(left), f"the rerun did not reclaim the staging it met: {left}"
    assert set(left) <= set(leftovers), f"the rerun left entries of its own: {left}"
    removed = fastlink.reclaim(os.fsencode(parent))
    assert sorted(os.path.basename(p) for p in removed) == left, (removed, left)
    assert listdir_b(parent) == [DST_NAME.encode()]


@pytest.mark.parametrize("src_kind, dst_kind, expected_method", PAIRS)
def test_sigkill_at_any_point_leaves_dst_absent_or_complete(
    sources, mounts, src_kind, dst_kind, expected_method
):
    src, expected = sources(src_kind)
    parent = make_fresh_dir(mounts.get(dst_kind), "sigkill-dst-")
    try:
        duration = _measure(src, parent, "default", expected_method)
        plans = [
            ("delay", duration * 1.2 * k / (SPREAD_KILLS - 1)) for k in range(SPREAD_KILLS)
        ] + [("after-staging", duration * f) for f in STAGING_OFFSETS]

        problems: list[str] = []
        outcomes = {"absent": 0, "complete": 0, "with-leftover": 0}
        for mode, t in plans:
            label = f"kill {mode} {t * 1000:.1f} ms (unkilled run: {duration * 1000:.1f} ms)"
            proc = _start(src, parent / DST_NAME, "default")
            if mode == "delay":
                _kill_after_delay(proc, t)
            else:
                _kill_after_staging(proc, parent, t)
            proc.communicate(timeout=300)
            leftovers: list[bytes] = []
            try:
                leftovers = _check_after_kill(expected, parent, proc)
                outcomes["complete" if os.path.lexists(parent / DST_NAME) else "absent"] += 1
                outcomes["with-leftover"] += bool(leftovers)
            except AssertionError as e:
                problems.append(f"{label}: {str(e)[:1500]}")
            try:
                _rerun_and_check(src, expected, parent, leftovers)
            except (AssertionError, OSError) as e:
                problems.append(f"{label}: rerun: {type(e).__name__}: {str(e)[:1500]}")
            # Start the next kill from an empty parent whatever happened.
            for name in listdir_b(parent):
                remove_tree(os.path.join(os.fsencode(parent), name))
        # For the log (-s / -rA): where the kills landed on this machine.
        print(f"{src_kind}->{dst_kind}: unkilled {duration * 1000:.1f} ms; after kills: {outcomes}")
        assert not problems, (
            f"{len(problems)} of {len(plans)} kills broke the contract "
            f"(outcomes of the others: {outcomes}):\n" + "\n".join(problems)
        )
    finally:
        remove_tree(parent)


# --------------------------------------------------------------------------
# Stale staging cleanup, deterministically (no race needed)
# --------------------------------------------------------------------------


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _fake_staging(path: Path, as_file: bool = False) -> None:
    if as_file:
        path.write_bytes(b"half a file")
        return
    # Built by hand, not with make_tree: these are not sources.
    (path / "pkg00").mkdir(parents=True)
    (path / "pkg00" / "f00.py").write_bytes(b"partial")
    (path / "ro").mkdir()
    (path / "ro" / "x").write_bytes(b"x")
    os.chmod(path / "ro", 0o555)


@pytest.mark.parametrize("src_is_file", [False, True], ids=["tree", "single-file"])
def test_a_rerun_leaves_every_look_alike_staging_entry_alone(tmp_path, src_is_file):
    """Even one named for this dst by a dead pid: a name does not show that
    fastlink made it (a package may ship it); without the proof (the tag for
    where it is) nothing removes it, neither a rerun nor `fastlink.reclaim`."""
    if src_is_file:
        src = tmp_path / "src.bin"
        src.write_bytes(random_bytes(50_000, 5))
    else:
        src = tmp_path / "src"
        make_tree(src, {"a": b"a", "sub": {"b": b"b"}})
    expected = snapshot(src)
    parent = tmp_path / "parent"
    parent.mkdir()
    dead = _dead_pid()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        stale = [
            parent / f".fastlink-staging.{dead}.0.{DST_NAME}",
            parent / f".fastlink-staging.{dead}.17.{DST_NAME}",
        ]
        stale_file = parent / f".fastlink-staging.{dead}.3.{DST_NAME}.x"  # other dst name
        keep = [
            # a live process may still be building it
            parent / f".fastlink-staging.{alive.pid}.0.{DST_NAME}",
            # same pid, but for another destination name
            parent / f".fastlink-staging.{dead}.1.other",
            stale_file,
        ]
        for p in stale:
            _fake_staging(p, as_file=src_is_file)
        for p in keep:
            _fake_staging(p)

        def state(p: Path) -> object:
            return p.read_bytes() if p.is_file() else snapshot(p)

        before = {p: state(p) for p in stale + keep}
        fastlink.clone_or_copy(src, parent / DST_NAME)
        assert fastlink.reclaim(parent) == []
        assert_trees_equal(expected, parent / DST_NAME)
        for p, snap in before.items():
            assert os.path.lexists(p), f"removed an entry this call did not make: {p.name}"
            assert state(p) == snap, f"changed an entry this call did not make: {p.name}"
    finally:
        alive.kill()
        alive.wait()
        for p in parent.glob(".fastlink-staging.*"):
            if p.is_dir():
                os.chmod(p, 0o755)
                for sub in p.iterdir():
                    if sub.is_dir():
                        os.chmod(sub, 0o755)
