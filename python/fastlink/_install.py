"""Installing wheels: where an environment's directories are, where the cache
is, and the calls into the extension that do the work.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from fastlink._environment import default_python, environment_of
from fastlink._environment import user_cache_dir as _user_cache_dir
from fastlink._fastlink import InstalledDistribution, _install_wheels

# typing is not imported at run time: `fastlink install` starts faster.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path
    from typing import Any, Union

    from fastlink._fastlink import Progress

    _StrPath = Union[str, os.PathLike[str]]

SCHEME_KEYS = ("purelib", "platlib", "scripts", "data", "headers")


def user_cache_dir() -> Path:
    """fastlink's cache directory, as a Path (see `_environment.user_cache_dir`
    for where it is: $FASTLINK_CACHE_DIR, else the platform's user cache)."""
    from pathlib import Path

    return Path(_user_cache_dir())


def install_results(
    wheels: Iterable[_StrPath],
    *,
    python: _StrPath | None = None,
    scheme: Mapping[str, _StrPath] | None = None,
    cache_dir: _StrPath | None = None,
    methods: str | Iterable[str] | None = None,
    threads: int | None = None,
    installer: str = "fastlink",
    requested: bool = False,
    direct_url: str | Mapping[str, Any] | bool | None = None,
    replace: bool = False,
    progress: Callable[[Progress], object] | None = None,
) -> list[InstalledDistribution | OSError]:
    """`install_wheels`, with each wheel's result in place: its
    InstalledDistribution, or the exception its install raised."""
    if isinstance(wheels, (str, bytes)) or not isinstance(wheels, Iterable):
        raise TypeError("wheels must be an iterable of paths")
    cache_dir = _user_cache_dir() if cache_dir is None else os.fspath(cache_dir)
    python_version: tuple[int, int] | None = None
    if scheme is not None:
        missing = [key for key in SCHEME_KEYS if key not in scheme]
        if missing:
            raise ValueError(f"scheme lacks {', '.join(missing)}")
        if python is None:
            # As pypa/installer's destination takes one: the shebang would
            # otherwise name whichever Python runs the installer.
            raise ValueError("scheme= needs python=: the interpreter its scripts are to run")
        dirs: dict[str, _StrPath] = {key: scheme[key] for key in SCHEME_KEYS}
        interpreter: _StrPath = os.path.abspath(python)
        # As pypa/installer: the launchers the wheel names, none versioned.
    else:
        interpreter = os.path.abspath(default_python() if python is None else python)
        environment = environment_of(interpreter, cache_dir)
        major, minor = environment.pop("version").split(".")
        python_version = (int(major), int(minor))
        dirs = dict(environment)
    direct_url = _direct_url_text(direct_url)
    results: list[InstalledDistribution | OSError] = _install_wheels(
        list(wheels),
        dirs,
        interpreter,
        cache_dir,
        python_version=python_version,
        methods=methods,
        threads=threads,
        installer=installer,
        requested=requested,
        direct_url=direct_url,
        replace=replace,
        progress=progress,
    )
    return results


def _direct_url_text(direct_url: object) -> str | bool | None:
    """direct_url.json's text, checked before anything is written: a JSON
    object (PEP 610), given as its text or as a mapping; or True/None."""
    if direct_url is None or isinstance(direct_url, bool):
        return direct_url
    import json
    from collections.abc import Mapping

    if isinstance(direct_url, str):
        try:
            parsed = json.loads(direct_url)
        except ValueError as err:
            raise ValueError(f"direct_url is not JSON: {err}") from None
        if not isinstance(parsed, dict):
            raise ValueError("direct_url must be a JSON object (PEP 610)")
        return direct_url
    if isinstance(direct_url, Mapping):
        return json.dumps(direct_url, sort_keys=True)
    raise TypeError("direct_url must be a str, a mapping, True or None")


def install_wheels(
    wheels: Iterable[_StrPath],
    *,
    python: _StrPath | None = None,
    scheme: Mapping[str, _StrPath] | None = None,
    cache_dir: _StrPath | None = None,
    methods: str | Iterable[str] | None = None,
    threads: int | None = None,
    installer: str = "fastlink",
    requested: bool = False,
    direct_url: str | Mapping[str, Any] | bool | None = None,
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
