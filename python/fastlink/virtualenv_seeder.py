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

virtualenv imports this module when it loads its seeders; `import fastlink`
never does, and virtualenv is not a dependency of fastlink-fs.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from virtualenv.seed.embed.via_app_data.pip_install.copy import CopyPipInstall
from virtualenv.seed.embed.via_app_data.via_app_data import FromAppData

import fastlink

if TYPE_CHECKING:
    from argparse import ArgumentParser

    from python_discovery import PythonInfo
    from virtualenv.app_data.base import AppData
    from virtualenv.config.cli.parser import VirtualEnvOptions
    from virtualenv.seed.embed.via_app_data.pip_install.base import PipInstall

__all__ = ["FastlinkFromAppData", "FastlinkPipInstall"]


class FastlinkPipInstall(CopyPipInstall):
    """Installs one seed package from its copy-seeder image, placing files with fastlink."""

    def _sync(self, src: Path, dst: Path) -> None:
        # As virtualenv's copy: what is already at dst (a re-seed) goes first.
        if dst.is_dir() and not dst.is_symlink():
            shutil.rmtree(dst)
        elif dst.is_symlink() or dst.exists():
            dst.unlink()
        # Explicit methods: FASTLINK_METHODS=hardlink must not tie the env to app-data.
        # preserve_times=False: files get their creation time, as the copy seeder's do.
        fastlink.clone_or_copy(src, dst, methods=("reflink", "copy"), preserve_times=False)


# virtualenv names an image's folder, its staging folder and its build lock after
# the installer class (FromAppData.run: Path(installer_class.__name__) / wheel
# stem). CopyPipInstall's name makes this seeder share the copy seeder's images.
FastlinkPipInstall.__name__ = CopyPipInstall.__name__


class FastlinkFromAppData(FromAppData):
    """virtualenv's app-data seeder, placing the seed packages with fastlink."""

    def __init__(self, options: VirtualEnvOptions) -> None:
        # FromAppData reads --symlink-app-data, an option this seeder does not offer.
        options.symlink_app_data = False
        super().__init__(options)

    @classmethod
    def add_parser_arguments(
        cls, parser: ArgumentParser, interpreter: PythonInfo, app_data: AppData
    ) -> None:
        # The embed seeders' options (--pip, --no-download, ...), skipping
        # FromAppData's own, --symlink-app-data: this seeder never symlinks.
        super(FromAppData, cls).add_parser_arguments(parser, interpreter, app_data)

    def installer_class(self, pip_version_tuple: tuple[int, ...] | None) -> type[PipInstall]:
        return FastlinkPipInstall

    def __repr__(self) -> str:
        base = super(FromAppData, self).__repr__()
        return f"{base[:-1]}, via=fastlink, app_data_dir={self.app_data}{base[-1]}"
