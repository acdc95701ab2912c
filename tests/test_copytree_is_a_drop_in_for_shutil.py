"""`fastlink.copytree` is `shutil.copytree` (signature, arguments, results,
errors), made by clones: what issue 20 found a thin wrapper around
clone_or_copy could not do. CPython's own tests of it run in
`make cpython-copytree`; these pin the rest, on XFS."""

from __future__ import annotations

import collections
import importlib
import os
import shutil
from pathlib import Path

import fastlink
import pytest
from fdwalk import remove_tree_fd
from fiemap import FIEMAP_MIN_SIZE, is_fully_shared
from guardhooks import forget_source, guard_source
from treespec import Dir, File, Symlink, make_tree, random_bytes


def listing(root: Path) -> dict[str, str]:
    """Every path below root: "dir", "link -> target" or the file's content."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = f"link -> {os.readlink(path)}"
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = path.read_bytes().decode()
    return out


@pytest.fixture
def base(xfs, fresh_dir) -> Path:
    return fresh_dir(xfs)


def test_copy_function_is_called_once_per_file_with_shutils_arguments(base):
    src, dst = base / "src", base / "dst"
    make_tree(src, {"a": b"1", "sub": {"b": b"2", "deeper": {"c": b"3"}}, "link": Symlink("a")})
    calls = []

    def copy_function(s, d):
        calls.append((s, d))
        return shutil.copy2(s, d)

    fastlink.copytree(str(src), str(dst), copy_function=copy_function)
    expected = [
        (os.path.join(str(src), rel), os.path.join(str(dst), rel))
        for rel in ("a", "link", "sub/b", "sub/deeper/c")
    ]
    assert sorted(calls) == sorted(expected)
    assert all(type(s) is str and type(d) is str for s, d in calls)
    assert listing(dst)["link"] == "1"  # followed: symlinks=False


@pytest.mark.parametrize("copy_function", [shutil.copy2, shutil.copy], ids=["copy2", "copy"])
def test_copy2_and_copy_clone_with_and_without_times(base, copy_function):
    src, dst = base / "src", base / "dst"
    make_tree(src, {"big": random_bytes(FIEMAP_MIN_SIZE), "sub": {"f": b"x"}})
    fastlink.copytree(src, dst, copy_function=copy_function)
    # Data shared with the source: a clone, which shutil's copy2/copy never make.
    assert is_fully_shared(dst / "big")
    for rel in ("big", "sub/f", "sub", "."):
        s, d = os.stat(src / rel), os.stat(dst / rel)
        assert s.st_mode == d.st_mode, rel
        # copy2 keeps every time; copy only directories' (copytree's copystat).
        same_times = copy_function is shutil.copy2 or (dst / rel).is_dir()
        assert (s.st_mtime_ns == d.st_mtime_ns) == same_times, rel


def test_symlinks_false_follows_links_to_files_and_directories(base):
    src = base / "src"
    make_tree(
        src,
        {
            "real": {"f": b"in real"},
            "file": b"target",
            "to_file": Symlink("file"),
            "to_dir": Symlink("real"),
            "nested": {"up": Symlink("../file")},
        },
    )
    followed = fastlink.copytree(src, base / "followed")
    assert not any(p.is_symlink() for p in (base / "followed").rglob("*"))
    assert listing(followed) == {
        "real": "dir",
        "real/f": "in real",
        "file": "target",
        "to_file": "target",
        "to_dir": "dir",
        "to_dir/f": "in real",
        "nested": "dir",
        "nested/up": "target",
    }
    kept = fastlink.copytree(src, base / "kept", symlinks=True)
    assert listing(kept)["to_dir"] == "link -> real"
    assert listing(kept)["nested/up"] == "link -> ../file"
    assert listing(kept) == listing(src)


def test_a_dangling_link_is_an_error_unless_ignore_dangling_symlinks(base, monkeypatch):
    src = base / "src"
    make_tree(src, {"ok": b"1", "sub": {"broken": Symlink("nowhere"), "rel": Symlink("../ok")}})
    monkeypatch.chdir("/")  # targets are read from the link's directory, not the cwd
    with pytest.raises(shutil.Error) as caught:
        fastlink.copytree(src, base / "dst")
    (error,) = caught.value.args[0]
    assert error[:2] == (str(src / "sub" / "broken"), str(base / "dst" / "sub" / "broken"))
    assert "No such file or directory" in error[2]
    assert not (base / "dst").exists()

    fastlink.copytree(src, base / "dst", ignore_dangling_symlinks=True)
    assert listing(base / "dst") == {"ok": "1", "sub": "dir", "sub/rel": "1"}
    fastlink.copytree(src, base / "links", symlinks=True)
    assert listing(base / "links")["sub/broken"] == "link -> nowhere"


def test_a_destination_inside_the_source_gets_the_source_as_it_was(base):
    src = base / "src"
    make_tree(src, {"f": b"1", "sub": {"g": b"2"}})
    forget_source(src)  # the destination is made inside it, as asked
    one = fastlink.copytree(src, src / "vendor" / "1.0")
    assert listing(one) == {"f": "1", "sub": "dir", "sub/g": "2"}
    # Deeper than shutil manages (it recurses into the copy it is making).
    two = fastlink.copytree(src, src / "sub" / "copy")
    assert listing(two) == {
        "f": "1",
        "sub": "dir",
        "sub/g": "2",
        "vendor": "dir",
        "vendor/1.0": "dir",
        "vendor/1.0/f": "1",
        "vendor/1.0/sub": "dir",
        "vendor/1.0/sub/g": "2",
    }


def test_errors_are_one_shutil_error_listing_every_entry_and_no_tree_is_left(base):
    src = base / "src"
    make_tree(src, {"f": b"1", "a": {"g": b"2"}, "dangling": Symlink("nowhere")})
    os.mkfifo(src / "pipe")
    os.mkfifo(src / "a" / "pipe")
    guard_source(src)  # baseline with the fifos
    dst = base / "new" / "dst"
    with pytest.raises(shutil.Error) as caught:
        fastlink.copytree(str(src), str(dst))
    assert sorted(caught.value.args[0]) == [
        (
            str(src / "a" / "pipe"),
            str(dst / "a" / "pipe"),
            f"`{src / 'a' / 'pipe'}` is a named pipe",
        ),
        (
            str(src / "dangling"),
            str(dst / "dangling"),
            f"[Errno 2] No such file or directory: '{src / 'dangling'}'",
        ),
        (str(src / "pipe"), str(dst / "pipe"), f"`{src / 'pipe'}` is a named pipe"),
    ]
    assert not dst.exists()  # shutil leaves f and a/g there


def test_a_failing_custom_copy_function_leaves_no_new_tree(base):
    src, dst = base / "src", base / "dst"
    make_tree(src, {"a": {"f": b"1"}, "b": {"g": b"2"}})

    def copy_function(s, d):
        if s.endswith("g"):
            raise PermissionError(13, "refused", s)
        shutil.copy2(s, d)

    with pytest.raises(shutil.Error) as caught:
        fastlink.copytree(src, dst, copy_function=copy_function)
    assert caught.value.args[0] == [
        (str(src / "b" / "g"), str(dst / "b" / "g"), f"[Errno 13] refused: '{src / 'b' / 'g'}'")
    ]
    assert not dst.exists()


@pytest.mark.parametrize("kind", [str, Path])
def test_returns_dst_as_given(base, kind):
    make_tree(base / "src", {"f": b"1"})
    dst = kind(base / "dst")
    assert fastlink.copytree(kind(base / "src"), dst) is dst


def test_an_existing_dst_is_file_exists_error_and_a_merge_replaces_files(base):
    src, dst = base / "src", base / "dst"
    make_tree(src, {"f": b"new", "sub": {"g": b"new"}})
    make_tree(dst, {"f": b"old", "keep": b"mine", "sub": {"g": Symlink(str(base / "outside"))}})
    forget_source(dst)  # a destination, changed on purpose
    (base / "outside").write_bytes(b"outside")
    with pytest.raises(FileExistsError):
        fastlink.copytree(src, dst)
    fastlink.copytree(src, dst, dirs_exist_ok=True)
    assert listing(dst) == {"f": "new", "keep": "mine", "sub": "dir", "sub/g": "new"}
    # Nothing written through a destination symlink (shutil writes through it).
    assert (base / "outside").read_bytes() == b"outside"


def test_src_that_is_not_a_directory_is_shutils_error(base):
    (base / "file").write_bytes(b"1")
    with pytest.raises(NotADirectoryError):
        fastlink.copytree(base / "file", base / "dst")
    with pytest.raises(FileNotFoundError):
        fastlink.copytree(base / "missing", base / "dst")
    assert not (base / "dst").exists()


def test_ignore_is_called_as_shutil_calls_it(base):
    src = base / "src"
    make_tree(src, {"keep": b"1", "skip.pyc": b"2", "sub": {"x.pyc": b"3", "y": b"4"}})
    seen = []

    def ignore(directory, names):
        seen.append((directory, sorted(names)))
        return shutil.ignore_patterns("*.pyc")(directory, names)

    fastlink.copytree(str(src), base / "dst", ignore=ignore)
    assert listing(base / "dst") == {"keep": "1", "sub": "dir", "sub/y": "4"}
    assert sorted(seen) == [
        (str(src), ["keep", "skip.pyc", "sub"]),
        (str(src / "sub"), ["x.pyc", "y"]),
    ]


def test_ignore_is_called_once_per_directory_when_a_link_deep_down_is_followed(base):
    # symlinks=False: the engine meets the link, gives the directory to the
    # walk, which tries the engine again below it; `ignore` is still called
    # once per directory, as shutil calls it.
    src = base / "src"
    make_tree(src, {"a": {"b": {"c": {"f": b"1", "link": Symlink("f")}}}})
    calls: list[str] = []

    def ignore(directory, names):
        calls.append(directory)
        return set()

    fastlink.copytree(str(src), base / "dst", ignore=ignore)
    assert listing(base / "dst")["a/b/c/link"] == "1"
    assert sorted(calls) == [str(src), str(src / "a"), str(src / "a/b"), str(src / "a/b/c")]


def test_help_shows_the_docstring():
    assert "shutil.copytree" in (fastlink.copytree.__doc__ or "")
    assert "all or nothing" in (fastlink.copytree.__doc__ or "")


def test_file_modes_are_kept(base):
    src = base / "src"
    make_tree(
        src, {"x": File(b"#!", mode=0o755), "ro": Dir({"f": File(b"1", mode=0o600)}, mode=0o555)}
    )
    fastlink.copytree(src, base / "dst")
    for rel in ("x", "ro", "ro/f"):
        assert os.stat(src / rel).st_mode == os.stat(base / "dst" / rel).st_mode


# Deeper than shutil manages (it recurses, two frames per level, and stops
# at about 490 levels): copytree's walk must not depend on the stack.
DEEP = 600


def deep_spec(depth: int, per_level: dict[str, bytes], bottom: dict) -> dict:
    """`depth` nested directories "d", each with the files `per_level`,
    `bottom` in the deepest."""
    spec: dict = dict(bottom)
    for _ in range(depth):
        spec = {**per_level, "d": spec}
    return spec


def deep_listing(depth: int, per_level: dict[str, str], bottom: dict[str, str]) -> dict[str, str]:
    """`listing()` of a copy of deep_spec(depth, per_level, bottom)."""
    out = {}
    path = ""
    for _ in range(depth):
        out.update({path + name: content for name, content in per_level.items()})
        path += "d"
        out[path] = "dir"
        path += "/"
    out.update({path + name: content for name, content in bottom.items()})
    return out


@pytest.mark.parametrize("case", ["custom_copy_function", "link_at_the_bottom"])
def test_a_tree_deeper_than_the_recursion_limit_is_copied(base, case):
    src, dst = base / "src", base / "dst"
    bottom = {"f": b"bottom", "link": Symlink("f")}
    make_tree(src, deep_spec(DEEP, {"x": b"level"}, bottom))
    calls = []

    def copy_function(s, d):
        calls.append(s)
        return shutil.copy2(s, d)

    if case == "custom_copy_function":
        fastlink.copytree(str(src), str(dst), copy_function=copy_function)
        assert len(calls) == DEEP + 2  # each x, f and the followed link
    else:
        fastlink.copytree(src, dst)  # the default copy_function: follows the link
    assert listing(dst) == deep_listing(DEEP, {"x": "level"}, {"f": "bottom", "link": "bottom"})
    # Each directory's times copied after its contents, as shutil copies them.
    rel = Path(".")
    for _ in range(DEEP + 1):
        assert os.stat(src / rel).st_mtime_ns == os.stat(dst / rel).st_mtime_ns, rel
        rel /= "d"


def test_a_link_deep_down_costs_one_pass_not_one_per_level(base, monkeypatch):
    # symlinks=False: the engine cannot follow the link, so copytree walks
    # the directories above it, and gives the engine the subtrees without
    # links. Each directory is listed a few times, not once per level above
    # it (which made a deep tree quadratic), and each file is placed once.
    src, dst = base / "src", base / "dst"
    depth = 40
    per_level = {"a": b"1", "b": b"2", "c": b"3"}
    spec = deep_spec(depth, per_level, {"f": b"bottom", "link": Symlink("f")})
    spec["side"] = {"g": b"4", "sub": {"h": b"5"}}  # a subtree without links
    make_tree(src, spec)
    module = importlib.import_module("fastlink._copytree")
    real_clone_or_copy, real_scandir = module.clone_or_copy, os.scandir
    placed: list[int] = []
    listed: collections.Counter[str] = collections.Counter()

    def counting_clone_or_copy(*args, **kwargs):
        report = real_clone_or_copy(*args, **kwargs)
        placed.append(report.files)
        return report

    def counting_scandir(path):
        listed[os.path.normpath(os.fspath(path))] += 1
        return real_scandir(path)

    monkeypatch.setattr(module, "clone_or_copy", counting_clone_or_copy)
    monkeypatch.setattr(os, "scandir", counting_scandir)
    fastlink.copytree(src, dst)
    monkeypatch.undo()
    files = [rel for rel, content in listing(dst).items() if content != "dir"]
    assert len(files) == depth * len(per_level) + 2 + 2
    assert sum(placed) == len(files)
    # The engine's first try, the walk's one pass, the engine again for a
    # subtree without links (its hook lists each directory for links).
    assert max(listed.values()) <= 3, listed.most_common(3)
    assert listing(dst)["side/sub/h"] == "5"


def test_a_new_tree_deeper_than_shutils_rmtree_manages_is_removed_on_error(base):
    # All or nothing at any depth: shutil.rmtree recurses before Python 3.13
    # (RecursionError at about 990 levels), so copytree's removal of the new
    # tree must not be a plain rmtree. Built level by level: make_tree and
    # os.makedirs recurse.
    src, dst = base / "src", base / "dst"
    bottom = src
    try:
        for _ in range(1100):
            bottom.mkdir()
            bottom /= "d"
        bottom.mkdir()
        os.mkfifo(bottom / "pipe")
        with pytest.raises(shutil.Error) as caught:
            fastlink.copytree(src, dst)
        pipe = str(bottom / "pipe")
        assert caught.value.args[0] == [
            (pipe, pipe.replace(str(src), str(dst), 1), f"`{pipe}` is a named pipe")
        ]
        assert not dst.exists()
    finally:
        for tree in (src, dst):
            if tree.exists():
                remove_tree_fd(tree)  # fresh_dir's removal recurses too
