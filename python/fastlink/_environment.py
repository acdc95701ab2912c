"""Where an install goes: the environment an interpreter installs into (asked
of it once, then remembered in the cache), and the cache itself.

Imports are kept to what `import fastlink` loads anyway: a command that
installs a few wheels takes tens of milliseconds, and an import or a
subprocess more is a visible share of it.
"""

from __future__ import annotations

import os
import sys

# The directories the environment installs into, and its Python's X.Y (pip's
# versioned launchers), in the order of the memo.
DIRECTORIES = ("purelib", "platlib", "scripts", "data", "include", "version")

# Run in the target interpreter: its install directories as pip 26 computes
# them (pip's locations._sysconfig.get_scheme), from public sysconfig only.
# In a virtual environment pip puts each distribution's headers in
# <prefix>/include/site/pythonX.Y/<name>; elsewhere in sysconfig's include/<name>.
# One line per directory, in DIRECTORIES' order.
_ASK = """\
import os, sys, sysconfig
if hasattr(sysconfig, "get_preferred_scheme"):
    name = sysconfig.get_preferred_scheme("prefix")
else:
    name = "posix_prefix" if os.name == "posix" else "nt"
paths = sysconfig.get_paths(scheme=name)
if sys.prefix != getattr(sys, "base_prefix", sys.prefix) or hasattr(sys, "real_prefix"):
    paths["include"] = os.path.join(
        sys.prefix, "include", "site", "python%d.%d" % sys.version_info[:2]
    )
paths["version"] = "%d.%d" % sys.version_info[:2]
sys.stdout.write("\\n".join(paths[k] for k in KEYS))
""".replace("KEYS", repr(DIRECTORIES))

# The memo's directory in the cache; its `v3` changes with what a memo holds.
_MEMO_DIR = "interpreters-v3"

_asked: dict[str, dict[str, str]] = {}


class NoEnvironmentError(ValueError):
    """No interpreter to install for: no `python=`, no `scheme=`, no
    $VIRTUAL_ENV, and this Python is not a virtual environment's."""


def user_cache_dir() -> str:
    """fastlink's cache: $FASTLINK_CACHE_DIR when set, else the platform's
    user cache directory (`~/Library/Caches/fastlink` on macOS,
    `$XDG_CACHE_HOME/fastlink` or `~/.cache/fastlink` elsewhere)."""
    explicit = os.environ.get("FASTLINK_CACHE_DIR")
    if explicit:
        return explicit
    home = os.path.expanduser("~")
    if sys.platform == "darwin":
        return os.path.join(home, "Library", "Caches", "fastlink")
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec: a relative path is invalid and is ignored.
    base = xdg if os.path.isabs(xdg) else os.path.join(home, ".cache")
    return os.path.join(base, "fastlink")


def default_python() -> str:
    """The interpreter to install for when none is named: $VIRTUAL_ENV's,
    else this one when it runs in a virtual environment (as uv does)."""
    venv = os.environ.get("VIRTUAL_ENV")
    if venv:
        return os.path.join(venv, "bin", "python")
    if sys.prefix != sys.base_prefix:
        return sys.executable
    raise NoEnvironmentError(
        "no virtual environment to install into: pass python= (--python), or activate "
        "one (VIRTUAL_ENV)"
    )


def environment_of(python: str | os.PathLike[str], cache_dir: str | None = None) -> dict[str, str]:
    """The directories `python` installs into, as pip computes them, and its
    version "X.Y" (the keys of DIRECTORIES), asked of the interpreter.

    The answer is remembered, in this process and, with `cache_dir`, in the
    cache: a memo named after what the answer depends on, the interpreter's
    path, the identity of the binary it resolves to (st_dev, st_ino, size,
    mtime) and the contents of its environment's pyvenv.cfg. An environment
    made again at the same path, from the same Python with the same
    options, has the same directories and is not asked again (installers
    make a fresh venv and install into it at once; uv's interpreter cache is
    keyed alike). A moved one, or one made from another Python, is."""
    path = os.path.abspath(os.fspath(python))
    identity = _identity(path)  # FileNotFoundError names the path
    known = _asked.get(identity)
    if known is not None:
        return dict(known)
    memo = None if cache_dir is None else os.path.join(cache_dir, _MEMO_DIR, _memo_name(identity))
    answer = _read_memo(memo, identity) if memo else None
    if answer is None:
        answer = _ask(path)
        if memo:
            _write_memo(memo, identity, answer)
    _asked[identity] = answer
    return dict(answer)


def _identity(path: str) -> str:
    """What the interpreter's answer depends on: its path (a venv's prefix is
    where it sits), the binary it resolves to, and pyvenv.cfg's text (home,
    version and options), by contents: a remade venv's file is a new inode
    with a new mtime, and the same text."""
    target = os.stat(path)
    try:
        with open(os.path.join(os.path.dirname(os.path.dirname(path)), "pyvenv.cfg"), "rb") as f:
            cfg = f.read().hex()  # the text itself: a memo's identity is never a digest
    except FileNotFoundError:
        cfg = None
    binary = (target.st_dev, target.st_ino, target.st_size, target.st_mtime_ns)
    return f"{path}\0{binary}\0{cfg}"


def _memo_name(identity: str) -> str:
    """FNV-1a, 64 bits, in Python: no import (zlib's or hashlib's would cost
    more than the loop). Only a name: the memo holds the whole identity and
    is checked against it, so a collision costs a question, not an error."""
    digest = 0xCBF29CE484222325
    for byte in identity.encode("utf-8", "surrogateescape"):
        digest = ((digest ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{digest:016x}"


def _ask(path: str) -> dict[str, str]:
    import subprocess

    asked = subprocess.run([path, "-I", "-c", _ASK], capture_output=True, check=False)
    lines = asked.stdout.decode("utf-8", "surrogateescape").split("\n")
    if asked.returncode != 0 or len(lines) != len(DIRECTORIES):
        stderr = asked.stderr.decode("utf-8", "replace").strip()
        raise OSError(f"{path} cannot tell its install directories: {stderr[-500:]}")
    return dict(zip(DIRECTORIES, lines))


def _read_memo(memo: str, identity: str) -> dict[str, str] | None:
    """The memo's directories, when it is there and for this identity."""
    try:
        text = os.readlink(memo)
    except OSError:
        return None
    fields = text.split("\n")
    if len(fields) != len(DIRECTORIES) + 1 or fields[0] != identity.replace("\0", "\t"):
        return None
    return dict(zip(DIRECTORIES, fields[1:]))


def _write_memo(memo: str, identity: str, answer: dict[str, str]) -> None:
    """Keep the answer as a symlink whose target is the text: made complete
    in one step, read in one syscall, and never replaced (its name comes
    from the identity). A failure is not reported: the memo only saves the
    next call asking, and the answer in hand is right."""
    fields = [identity.replace("\0", "\t"), *(answer[k] for k in DIRECTORIES)]
    if "\t" in identity or any("\n" in f for f in fields):
        return  # a name the memo's text cannot hold: ask each time
    try:
        os.makedirs(os.path.dirname(memo), exist_ok=True)
        os.symlink("\n".join(fields), memo)
    except OSError:
        pass
