"""Installing wheels: where an environment's directories are, where the cache
is, and the calls into the extension that do the work.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Union

from fastlink._fastlink import InstalledDistribution, Progress, _install_wheels

StrPath = Union[str, "os.PathLike[str]"]

SCHEME_KEYS = ("purelib", "platlib", "scripts", "data", "headers")

# Run in the target interpreter: its install directories as pip 26 computes
# them (pip's locations._sysconfig.get_scheme), from public sysconfig only.
# In a virtual environment pip puts each distribution's headers in
# <prefix>/include/site/pythonX.Y/<name>; elsewhere in sysconfig's include/<name>.
_ASK_SCHEME = """\
import json, os, sys, sysconfig
if hasattr(sysconfig, "get_preferred_scheme"):
    name = sysconfig.get_preferred_scheme("prefix")
else:
    name = "posix_prefix" if os.name == "posix" else "nt"
paths = sysconfig.get_paths(scheme=name)
if sys.prefix != getattr(sys, "base_prefix", sys.prefix) or hasattr(sys, "real_prefix"):
    xy = "python%d.%d" % sys.version_info[:2]
    include = os.path.join(sys.prefix, "include", "site", xy)
else:
    include = paths["include"]
print(json.dumps({
    "purelib": paths["purelib"], "platlib": paths["platlib"],
    "scripts": paths["scripts"], "data": paths["data"], "include": include,
    "executable": sys.executable,
}))
"""

_environments: dict[tuple[str, int, int, int], dict[str, str]] = {}
_environments_lock = threading.Lock()


class NoEnvironmentError(ValueError):
    """No interpreter to install for: no `python=`, no `scheme=`, no
    $VIRTUAL_ENV, and this Python is not a virtual environment's."""


def user_cache_dir() -> Path:
    """fastlink's cache: $FASTLINK_CACHE_DIR when set, else the platform's
    user cache directory (`~/Library/Caches/fastlink` on macOS,
    `$XDG_CACHE_HOME/fastlink` or `~/.cache/fastlink` elsewhere)."""
    explicit = os.environ.get("FASTLINK_CACHE_DIR")
    if explicit:
        return Path(explicit)
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "fastlink"
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec: a relative path is invalid and is ignored.
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "fastlink"


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


def environment_of(python: StrPath) -> dict[str, str]:
    """The directories `python` installs into, as pip computes them, and its
    `executable`: asked of the interpreter once per process (again if the
    interpreter file changes)."""
    path = os.path.abspath(os.fspath(python))
    status = os.stat(path)  # FileNotFoundError names the path
    key = (path, status.st_dev, status.st_ino, status.st_mtime_ns)
    with _environments_lock:
        known = _environments.get(key)
    if known is not None:
        return dict(known)
    asked = subprocess.run(
        [path, "-I", "-c", _ASK_SCHEME], capture_output=True, text=True, check=False
    )
    if asked.returncode != 0:
        raise OSError(f"{path} cannot tell its install directories: {asked.stderr.strip()[-500:]}")
    answer: dict[str, str] = json.loads(asked.stdout)
    # The shebang names the interpreter as the caller did, resolved to an
    # absolute path but not through symlinks: a venv's bin/python is a link.
    answer["executable"] = path
    with _environments_lock:
        _environments[key] = answer
    return dict(answer)


def install_results(
    wheels: Iterable[StrPath],
    *,
    python: StrPath | None = None,
    scheme: Mapping[str, StrPath] | None = None,
    cache_dir: StrPath | None = None,
    methods: str | Sequence[str] | None = None,
    threads: int | None = None,
    installer: str = "fastlink",
    requested: bool = False,
    direct_url: str | Mapping[str, Any] | None = None,
    replace: bool = False,
    progress: Callable[[Progress], object] | None = None,
) -> list[InstalledDistribution | OSError]:
    """`install_wheels`, with each wheel's result in place: its
    InstalledDistribution, or the exception its install raised."""
    if isinstance(wheels, (str, bytes)) or not isinstance(wheels, Iterable):
        raise TypeError("wheels must be an iterable of paths")
    if scheme is not None:
        missing = [key for key in SCHEME_KEYS if key not in scheme]
        if missing:
            raise ValueError(f"scheme lacks {', '.join(missing)}")
        dirs: dict[str, StrPath] = {key: scheme[key] for key in SCHEME_KEYS}
        interpreter: StrPath = sys.executable if python is None else os.path.abspath(python)
    else:
        environment = environment_of(default_python() if python is None else python)
        interpreter = environment.pop("executable")
        dirs = dict(environment)
    if direct_url is not None and not isinstance(direct_url, str):
        direct_url = json.dumps(direct_url, sort_keys=True)
    results: list[InstalledDistribution | OSError] = _install_wheels(
        list(wheels),
        dirs,
        interpreter,
        user_cache_dir() if cache_dir is None else cache_dir,
        methods=methods,
        threads=threads,
        installer=installer,
        requested=requested,
        direct_url=direct_url,
        replace=replace,
        progress=progress,
    )
    return results


def install_wheels(
    wheels: Iterable[StrPath],
    *,
    python: StrPath | None = None,
    scheme: Mapping[str, StrPath] | None = None,
    cache_dir: StrPath | None = None,
    methods: str | Sequence[str] | None = None,
    threads: int | None = None,
    installer: str = "fastlink",
    requested: bool = False,
    direct_url: str | Mapping[str, Any] | None = None,
    replace: bool = False,
    progress: Callable[[Progress], object] | None = None,
) -> list[InstalledDistribution]:
    """Install wheels into an environment, as pip does, in parallel.

    See docs/install.md. Each wheel is a `.whl` file (unpacked into
    `cache_dir` first, once) or a tree unpacked already. The environment is
    `python`'s (default: $VIRTUAL_ENV's), or the explicit `scheme`. Each
    distribution is all or nothing. An installed distribution of the same
    name is `DistributionExistsError`, unless `replace`: then it is
    uninstalled by its RECORD, and put back if the install fails. When some
    fail, the first failure (in the order given) is raised once every wheel
    is done; the others stay installed, as pip leaves those it installed
    before a failing one.
    """
    results = install_results(
        wheels,
        python=python,
        scheme=scheme,
        cache_dir=cache_dir,
        methods=methods,
        threads=threads,
        installer=installer,
        requested=requested,
        direct_url=direct_url,
        replace=replace,
        progress=progress,
    )
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return [r for r in results if isinstance(r, InstalledDistribution)]
