"""Clone a tree, then mutate the destination at random: the source must not change.

A hypothesis state machine clones a small tree and then appends to,
truncates, overwrites in place, chmods, re-dates, deletes and renames files
through their destination names. After every step an invariant checks the
source (bytes, modes, mtimes) and the destination against a model.

* Default methods (reflink on XFS/btrfs, copy elsewhere): the destination is
  independent of the source. Nothing done to it ever shows in the source;
  in particular writes to a reflinked copy must unshare (copy-on-write).
* methods=("hardlink", "copy"): hardlinked files *are* the source files (one
  inode, two names). What is shared is exactly the inode: content and mode
  (and mtime) changes made in place through the destination name show up in
  the source, and the tests assert that explicitly. Operations on the name
  itself -- deleting or renaming the destination entry -- never affect the
  source. A setuid source file is never hardlinked (it would share its
  setuid bit), so it is an independent copy.
"""

from __future__ import annotations

import os
import stat

import fastlink
import pytest
from fdwalk import make_fresh_dir, remove_tree
from guardhooks import forget_source
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from treespec import File, Symlink, make_tree, random_bytes

# max_examples comes from the active profile (conftest: ci/dev); the runs
# are kept short.
STATE_MACHINE_SETTINGS = settings(stateful_step_count=10, deadline=None)

MODES = [0o644, 0o600, 0o755, 0o444, 0o700, 0o640]


def _tree_spec():
    return {
        "big.bin": File(random_bytes(96 * 1024, 1)),  # >= 64 KiB: real extents on btrfs
        "small.txt": b"small\n",
        "empty": File(b""),
        "tool.sh": File(b"#!/bin/sh\necho hi\n", 0o755),
        "sub": {
            "nested.bin": File(random_bytes(70 * 1024, 2), 0o640),
            "deeper": {"leaf.txt": b"leaf\n"},
            "link": Symlink("../small.txt"),
        },
    }


def _files(spec, prefix=""):
    """{relative path: File} for every regular file in a make_tree spec."""
    out = {}
    for name, entry in spec.items():
        rel = f"{prefix}{name}"
        if isinstance(entry, bytes):
            out[rel] = File(entry)
        elif isinstance(entry, File):
            out[rel] = entry
        elif isinstance(entry, dict):
            out.update(_files(entry, rel + "/"))
    return out


class _Model:
    """What one inode is expected to hold: bytes, permission bits, mtime."""

    def __init__(self, content: bytes, mode: int, mtime_ns: int):
        self.content = content
        self.mode = mode
        self.mtime_ns = mtime_ns


def _observe(path) -> tuple[bytes, int, int]:
    st_ = os.lstat(path)
    with open(path, "rb") as f:
        data = f.read()
    return data, stat.S_IMODE(st_.st_mode), st_.st_mtime_ns


class CloneThenMutate(RuleBasedStateMachine):
    """Base machine; subclasses set `mount`, `methods` and `spec()`."""

    mount: os.PathLike = None  # type: ignore[assignment]
    dst_mount: os.PathLike | None = None  # None: the same filesystem as the source
    methods = None
    expected_method: str | None = None

    def spec(self):
        return _tree_spec()

    def __init__(self):
        super().__init__()
        self.base = make_fresh_dir(self.mount, "sm-")
        self.dst_base = make_fresh_dir(self.dst_mount, "sm-dst-") if self.dst_mount else None
        self.src = self.base / "src"
        self.dst = (self.dst_base or self.base) / "dst"
        make_tree(self.src, self.spec())
        self.report = fastlink.clone_or_copy(self.src, self.dst, methods=self.methods)
        if self.expected_method:
            assert self.report.method == self.expected_method
        # One model per inode: src files own theirs; a dst name either shares
        # its source file's model (a hardlink: same inode) or has its own.
        self.src_models: dict[str, _Model] = {}
        self.dst_models: dict[str, _Model] = {}
        self.src_dirs = {k: os.lstat(self.src / k).st_mtime_ns for k in ["", "sub", "sub/deeper"]}
        for rel in _files(self.spec()):
            self.src_models[rel] = _Model(*_observe(self.src / rel))
            if os.stat(self.src / rel).st_ino == os.stat(self.dst / rel).st_ino:
                self.dst_models[rel] = self.src_models[rel]
            else:
                self.dst_models[rel] = _Model(*_observe(self.dst / rel))
        self.src_link = os.readlink(self.src / "sub" / "link")
        self.counter = 0

    def teardown(self):
        remove_tree(self.base)
        if self.dst_base is not None:
            remove_tree(self.dst_base)

    # -- helpers ------------------------------------------------------------

    def _shared(self, rel: str) -> bool:
        model = self.dst_models[rel]
        return any(model is m for m in self.src_models.values())

    def _after_in_place_change(self, rel: str) -> None:
        """A change made through dst/rel: record the inode's new mtime, and
        for a hardlinked name assert that the source shows the change."""
        path = self.dst / rel
        model = self.dst_models[rel]
        model.mtime_ns = os.lstat(path).st_mtime_ns
        if self._shared(rel):
            src_rel = next(k for k, m in self.src_models.items() if m is model)
            # Same inode: the change made through dst IS visible in the source.
            assert os.stat(self.src / src_rel).st_ino == os.stat(path).st_ino
            assert _observe(self.src / src_rel) == (model.content, model.mode, model.mtime_ns)

    def _source_of(self, rel: str):
        """(source path, its observed state) if dst/rel shares a source inode."""
        model = self.dst_models[rel]
        for src_rel, m in self.src_models.items():
            if m is model:
                return self.src / src_rel, _observe(self.src / src_rel)
        return None

    def _assert_source_unaffected(self, before) -> None:
        # Operations on the dst *name* leave a shared source inode as it was.
        if before is not None:
            path, state = before
            assert _observe(path) == state, f"{path}: changed by an operation on a dst name"

    def _pick(self, data) -> str:
        return data.draw(st.sampled_from(sorted(self.dst_models)), label="dst file")

    # -- rules: mutate the destination ------------------------------------------

    @precondition(lambda self: self.dst_models)
    @rule(data=st.data(), chunk=st.binary(min_size=1, max_size=5000))
    def append(self, data, chunk):
        rel = self._pick(data)
        with open(self.dst / rel, "ab") as f:
            f.write(chunk)
        self.dst_models[rel].content += chunk
        self._after_in_place_change(rel)

    @precondition(lambda self: self.dst_models)
    @rule(data=st.data(), fraction=st.floats(0, 1.5))
    def truncate(self, data, fraction):
        rel = self._pick(data)
        model = self.dst_models[rel]
        size = int(len(model.content) * fraction)
        os.truncate(self.dst / rel, size)
        model.content = model.content[:size] + bytes(max(0, size - len(model.content)))
        self._after_in_place_change(rel)

    @precondition(lambda self: self.dst_models)
    @rule(data=st.data(), where=st.floats(0, 1), chunk=st.binary(min_size=1, max_size=300))
    def overwrite_in_place(self, data, where, chunk):
        rel = self._pick(data)
        model = self.dst_models[rel]
        offset = int(len(model.content) * where)
        fd = os.open(self.dst / rel, os.O_WRONLY)
        try:
            os.pwrite(fd, chunk, offset)
        finally:
            os.close(fd)
        old = model.content
        padded = old + bytes(max(0, offset - len(old)))
        model.content = padded[:offset] + chunk + padded[offset + len(chunk) :]
        self._after_in_place_change(rel)

    @precondition(lambda self: self.dst_models)
    @rule(data=st.data(), mode=st.sampled_from(MODES))
    def chmod(self, data, mode):
        rel = self._pick(data)
        os.chmod(self.dst / rel, mode)
        self.dst_models[rel].mode = mode
        self._after_in_place_change(rel)

    @precondition(lambda self: self.dst_models)
    @rule(data=st.data(), mtime_ns=st.integers(0, (2**31 - 1) * 10**9))
    def set_mtime(self, data, mtime_ns):
        rel = self._pick(data)
        os.utime(self.dst / rel, ns=(mtime_ns, mtime_ns))
        self._after_in_place_change(rel)
        assert self.dst_models[rel].mtime_ns == mtime_ns

    @precondition(lambda self: self.dst_models)
    @rule(data=st.data())
    def delete(self, data):
        # Removes the dst *name*; a hardlinked source keeps its inode and data.
        rel = self._pick(data)
        before = self._source_of(rel)
        os.unlink(self.dst / rel)
        del self.dst_models[rel]
        self._assert_source_unaffected(before)

    @precondition(lambda self: self.dst_models)
    @rule(data=st.data(), onto_existing=st.booleans())
    def rename(self, data, onto_existing):
        # Moves the dst *name* (possibly over another dst file, which is then
        # gone); the inode and whatever shares it are unaffected.
        rel = self._pick(data)
        others = sorted(set(self.dst_models) - {rel})
        if onto_existing and others:
            new = data.draw(st.sampled_from(others), label="rename onto")
        else:
            self.counter += 1
            new = f"{os.path.dirname(rel)}/renamed-{self.counter}".lstrip("/")
        before = [self._source_of(rel), self._source_of(new) if new in self.dst_models else None]
        os.rename(self.dst / rel, self.dst / new)
        self.dst_models[new] = self.dst_models.pop(rel)
        for b in before:
            self._assert_source_unaffected(b)

    @rule(content=st.binary(max_size=3000), mode=st.sampled_from(MODES))
    def create(self, content, mode):
        # A new file in a cloned directory (always possible, so a run never
        # runs out of things to do after deleting every file).
        self.counter += 1
        rel = f"sub/new-{self.counter}"
        with open(self.dst / rel, "xb") as f:
            f.write(content)
        os.chmod(self.dst / rel, mode)
        self.dst_models[rel] = _Model(*_observe(self.dst / rel))
        assert self.dst_models[rel].content == content

    # -- invariants -------------------------------------------------------------

    @invariant()
    def source_is_as_modelled(self):
        for rel, model in self.src_models.items():
            assert _observe(self.src / rel) == (model.content, model.mode, model.mtime_ns), rel
        # Deleting/renaming dst names never touches the source's directories
        # or its symlink.
        for rel, mtime in self.src_dirs.items():
            assert os.lstat(self.src / rel).st_mtime_ns == mtime, f"src dir {rel!r} changed"
        assert os.readlink(self.src / "sub" / "link") == self.src_link

    @invariant()
    def destination_is_as_modelled(self):
        for rel, model in self.dst_models.items():
            assert _observe(self.dst / rel) == (model.content, model.mode, model.mtime_ns), rel


# --------------------------------------------------------------------------
# Default methods: the destination is independent of the source
# --------------------------------------------------------------------------


class IndependentCloneMachine(CloneThenMutate):
    def __init__(self):
        super().__init__()
        self.src_initial = {rel: _observe(self.src / rel) for rel in self.src_models}
        for rel, entry in _files(self.spec()).items():
            assert self.src_initial[rel][:2] == (entry.content, entry.mode), rel
            assert not self._shared(rel), f"{rel}: the clone shares the source's inode"

    @invariant()
    def source_never_changes(self):
        # The original bytes, modes and mtimes, whatever was done to dst.
        for rel, initial in self.src_initial.items():
            assert _observe(self.src / rel) == initial, rel


@pytest.mark.parametrize("fs", ["xfs", "btrfs", "tmpfs"])
def test_mutating_a_clone_never_changes_the_source(mounts, fs):
    class Machine(IndependentCloneMachine):
        mount = mounts.get(fs)
        methods = None

    run_state_machine_as_test(Machine, settings=STATE_MACHINE_SETTINGS)


def test_mutating_a_cross_device_copy_never_changes_the_source(mounts):
    # The copy fallback (xfs -> tmpfs) has its own code path.
    class Machine(IndependentCloneMachine):
        mount = mounts.get("xfs")
        dst_mount = mounts.get("tmpfs")
        expected_method = "copy"

    run_state_machine_as_test(Machine, settings=STATE_MACHINE_SETTINGS)


# --------------------------------------------------------------------------
# methods=("hardlink", "copy"): one inode, two names
# --------------------------------------------------------------------------


class HardlinkCloneMachine(CloneThenMutate):
    methods = ("hardlink", "copy")

    def spec(self):
        spec = _tree_spec()
        spec["setuid-tool"] = File(b"#!/bin/sh\n", 0o4755)  # never hardlinked
        return spec

    def __init__(self):
        super().__init__()
        # The source is changed on purpose, through the shared inodes; the
        # model and invariants here check exactly how (see module docstring).
        forget_source(self.src)
        assert self.report.method == "hardlink"
        for rel in _files(self.spec()):
            shared = os.stat(self.src / rel).st_ino == os.stat(self.dst / rel).st_ino
            assert shared == (rel != "setuid-tool"), rel
            assert self._shared(rel) == shared
        assert stat.S_IMODE(os.stat(self.dst / "setuid-tool").st_mode) == 0o755

    @invariant()
    def hardlinked_names_share_the_source_inode(self):
        for rel, model in self.dst_models.items():
            owners = [k for k, m in self.src_models.items() if m is model]
            if owners:
                assert os.stat(self.dst / rel).st_ino == os.stat(self.src / owners[0]).st_ino
            else:
                ino = os.stat(self.dst / rel).st_ino
                assert all(ino != os.stat(self.src / k).st_ino for k in self.src_models)


@pytest.mark.parametrize("fs", ["ext4", "xfs"])
def test_mutating_a_hardlink_clone_changes_the_source_exactly_through_shared_inodes(mounts, fs):
    class Machine(HardlinkCloneMachine):
        mount = mounts.get(fs)

    run_state_machine_as_test(Machine, settings=STATE_MACHINE_SETTINGS)
