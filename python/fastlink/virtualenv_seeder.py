"""A virtualenv seeder that reflinks the seed packages out of virtualenv's app-data.

Installing fastlink-fs registers it as the `fastlink` entry point of the
`virtualenv.seed` group, so `virtualenv --seeder fastlink DIR` (or
`VIRTUALENV_SEEDER=fastlink`, which tox passes through) selects it.

It is virtualenv's app-data seeder with one step replaced: the same seed
packages (pip, and setuptools where virtualenv seeds it), from the very wheel
images the copy seeder builds and caches in app-data, with the same console
scripts, RECORD and INSTALLER; but each top-level entry of an image is placed
with one `fastlink.clone_or_copy` call, a reflink where app-data and the
environment share a filesystem that can clone, else a copy. Never a symlink or
a hardlink: the environment does not depend on app-data once it is created.

The environment equals the copy seeder's, modes included: from virtualenv
21.15 on, the copy seeder writes files 0o644 (0o755 where the image's file
has an exec bit) and directories 0o777, each trimmed by the umask, whatever
the image's own modes (21.15.13 made the images read-only); before 21.15 it
kept the image's modes. The seeder follows the installed virtualenv's rule.

`--symlink-app-data` (and VIRTUALENV_SYMLINK_APP_DATA) ask for an environment
that links into app-data, which this seeder never makes. Both are accepted
alike and answered with a warning, as virtualenv's own app-data seeder copies
(with a message) where it cannot symlink: a reflink already shares the data
without tying the environment to app-data.

virtualenv imports this module when it loads its seeders; `import fastlink`
never does, and virtualenv is not a dependency of fastlink-fs.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from virtualenv import __version__ as _virtualenv_version
from virtualenv.seed.embed.via_app_data.pip_install.copy import CopyPipInstall
from virtualenv.seed.embed.via_app_data.via_app_data import FromAppData

import fastlink

if TYPE_CHECKING:
    from virtualenv.config.cli.parser import VirtualEnvOptions
    from virtualenv.seed.embed.via_app_data.pip_install.base import PipInstall

__all__ = ["FastlinkFromAppData", "FastlinkPipInstall"]

LOGGER = logging.getLogger(__name__)

# The first virtualenv whose copy seeder writes fresh modes (see the module doc).
_FRESH_MODES_SINCE = (21, 15)


def _release(version: str) -> tuple[int, ...]:
    """(major, minor) of a version string such as "21.15.14" or "20.26.0.dev1"."""
    parts = []
    for part in version.split(".")[:2]:
        digits = "".join(c for c in part if c.isdigit()) or "0"
        parts.append(int(digits))
    return tuple(parts)


def _current_umask() -> int:
    # Python has no getter; virtualenv seeds from threads only after the
    # seeder is made, where this runs.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class FastlinkPipInstall(CopyPipInstall):
    """Installs one seed package from its copy-seeder image, placing files with fastlink."""

    # Set by FastlinkFromAppData: the umask when the copy seeder's rule is
    # fresh modes, None when it keeps the image's modes.
    fresh_modes_umask: int | None = None

    def _sync(self, src: Path, dst: Path) -> None:
        # As virtualenv's copy: what is already at dst (a re-seed) goes first.
        if dst.is_dir() and not dst.is_symlink():
            shutil.rmtree(dst)
        elif dst.is_symlink() or dst.exists():
            dst.unlink()
        # Explicit methods: FASTLINK_METHODS=hardlink must not tie the env to app-data.
        # preserve_times=False: files get their creation time, as the copy seeder's do.
        fastlink.clone_or_copy(src, dst, methods=("reflink", "copy"), preserve_times=False)
        if self.fresh_modes_umask is not None:
            _give_fresh_modes(dst, self.fresh_modes_umask)


def _give_fresh_modes(top: Path, umask: int) -> None:
    """The modes virtualenv's copy seeder (21.15+) gives what it writes: files
    0o644, or 0o755 with any exec bit, directories 0o777, all less the umask.
    Directories are done after their contents, so a read-only image's
    directories can be filled before they are opened up."""

    def fresh(path: str, st: os.stat_result) -> int:
        if stat.S_ISDIR(st.st_mode):
            return 0o777 & ~umask
        return (0o755 if st.st_mode & 0o111 else 0o644) & ~umask

    def fix(path: str) -> None:
        st = os.lstat(path)
        if not stat.S_ISLNK(st.st_mode) and stat.S_IMODE(st.st_mode) != fresh(path, st):
            os.chmod(path, fresh(path, st))

    fix(os.fspath(top))  # first: a read-only directory must open up to be walked into
    if not top.is_dir() or top.is_symlink():
        return
    for root, dirs, files in os.walk(top):
        for name in dirs:
            fix(os.path.join(root, name))
        for name in files:
            fix(os.path.join(root, name))


class FastlinkFromAppData(FromAppData):
    """virtualenv's app-data seeder, placing the seed packages with fastlink."""

    def __init__(self, options: VirtualEnvOptions) -> None:
        if options.symlink_app_data:
            LOGGER.warning(
                "the fastlink seeder never links the environment into app-data: "
                "--symlink-app-data (VIRTUALENV_SYMLINK_APP_DATA) is ignored, and each "
                "file is a reflink where the filesystem can clone, else a copy"
            )
            options.symlink_app_data = False
        super().__init__(options)
        fresh = _release(_virtualenv_version) >= _FRESH_MODES_SINCE
        self._fresh_modes_umask = _current_umask() if fresh else None

    def installer_class(self, pip_version_tuple: tuple[int, ...] | None) -> type[PipInstall]:
        umask = self._fresh_modes_umask
        # A subclass per seeder, so two seeders in one process keep their own umask.
        return type(
            CopyPipInstall.__name__,
            (FastlinkPipInstall,),
            {"fresh_modes_umask": umask, "__module__": __name__},
        )

    def __repr__(self) -> str:
        base = super(FromAppData, self).__repr__()
        return f"{base[:-1]}, via=fastlink, app_data_dir={self.app_data}{base[-1]}"
