"""A virtualenv seeder that installs the seed wheels with fastlink's wheel installer.

Installing fastlink-fs registers it as the `fastlink` entry point of the
`virtualenv.seed` group, so `virtualenv --seeder fastlink DIR` (or
`VIRTUALENV_SEEDER=fastlink`, which tox passes through) selects it.

It seeds what virtualenv's app-data (copy) seeder seeds: the same seed wheels
(pip, and setuptools where virtualenv seeds it), found as virtualenv's own
seeders find them (`virtualenv.seed.wheels.get_wheel`: the bundled wheels,
--extra-search-dir, downloads), installed into the same places with the same
console scripts, INSTALLER, marker file and RECORD rows, and the same modes.
But it never builds virtualenv's wheel images: `fastlink.install_wheels`
unpacks each wheel once into fastlink's cache, kept inside the app-data
folder (`<app-data>/fastlink`, so clearing app-data clears it), and places
every file from there: a reflink where the cache and the environment share
a filesystem that can clone, else a copy (and on XFS a copy of a cache
entry unpacked in the last ~35 s, whose clone would wait for writeback:
fastlink's default rule). Never a symlink or a hardlink
(whatever FASTLINK_METHODS says): the environment does not depend on
app-data once it is created.

Only public names of virtualenv are used: `BaseEmbed` (the documented base of
the seeders that install the embedded wheels) and its attributes, `get_wheel`,
the creator's paths (`purelib`, `platlib`, `script_dir`, `exe`, `dest`,
`interpreter`), the app-data object's `can_update` and folder, and
`virtualenv.__version__`. The console scripts are written by virtualenv's
`ScriptMakerCustom` (no underscore, though not in its module's `__all__`), so
they are byte for byte the copy seeder's; without it, by distlib's
`ScriptMaker` set up the same way.

`--symlink-app-data` (and VIRTUALENV_SYMLINK_APP_DATA) ask for an environment
that links into app-data, which this seeder never makes. Both are accepted
alike and answered with a warning, as virtualenv's own app-data seeder copies
(with a message) where it cannot symlink: a reflink already shares the data
without tying the environment to app-data.

virtualenv imports this module when it loads its seeders; `import fastlink`
never does, and virtualenv is not a dependency of fastlink-fs.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import os
import re
import stat
from concurrent.futures import ThreadPoolExecutor
from configparser import ConfigParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

from virtualenv import __version__ as _virtualenv_version
from virtualenv.seed.embed.base_embed import BaseEmbed
from virtualenv.seed.wheels import get_wheel

import fastlink


def _virtualenv_script_maker() -> Any:
    """virtualenv's own console-script writer, which makes the copy seeder's
    launchers byte for byte; None if a virtualenv has it no more."""
    try:
        from virtualenv.seed.embed.via_app_data.pip_install.base import ScriptMakerCustom
    except ImportError:  # every virtualenv in the tested range has it
        return None
    return ScriptMakerCustom


if TYPE_CHECKING:
    from argparse import ArgumentParser

    from virtualenv.app_data.base import AppData
    from virtualenv.config.cli.parser import VirtualEnvOptions
    from virtualenv.create.creator import Creator

__all__ = ["FastlinkFromAppData"]

LOGGER = logging.getLogger(__name__)

# The first virtualenv whose copy seeder writes fresh modes (see _mode_rule).
_FRESH_MODES_SINCE = (21, 15)

# The cache's directory inside the app-data folder.
CACHE_IN_APP_DATA = "fastlink"

# How virtualenv names the console scripts it makes: a trailing version is
# folded (pip3 -> pip), and it then writes each as name, nameX, name-X.Y and
# nameX.Y; so python3-config and 2to3 keep their names.
_VERSIONED_SCRIPT = re.compile(r"(?P<name>[^\W\d]\w*?)-?\d+(?:\.\d+)*")


def _release(version: str) -> tuple[int, ...]:
    """(major, minor) of a version string such as "21.15.14" or "20.26.0.dev1"."""
    parts = []
    for part in version.split(".")[:2]:
        digits = "".join(c for c in part if c.isdigit()) or "0"
        parts.append(int(digits))
    return tuple(parts)


def _current_umask() -> int:
    # Python has no getter; this runs when the seeder is made, before any thread.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def cache_dir_for(app_data: AppData) -> str:
    """Where the seeder unpacks the seed wheels: `<app-data>/fastlink` when
    virtualenv can write to its app-data folder, else fastlink's own cache
    (FASTLINK_CACHE_DIR, or the user cache directory): with a read-only,
    temporary or disabled app-data."""
    folder = str(app_data)  # an app-data folder's str() is its path
    if getattr(app_data, "can_update", False) and os.path.isdir(folder):
        return os.path.join(folder, CACHE_IN_APP_DATA)
    return os.fspath(fastlink.user_cache_dir())


class FastlinkFromAppData(BaseEmbed):
    """virtualenv's embedded-wheel seeder, installing with fastlink's wheel installer."""

    def __init__(self, options: VirtualEnvOptions) -> None:
        if options.symlink_app_data:
            LOGGER.warning(
                "the fastlink seeder never links the environment into app-data: "
                "--symlink-app-data (VIRTUALENV_SYMLINK_APP_DATA) is ignored, and each "
                "file is a reflink where the filesystem can clone, else a copy"
            )
            options.symlink_app_data = False
        super().__init__(options)
        self.cache_dir = cache_dir_for(self.app_data)
        fresh = _release(_virtualenv_version) >= _FRESH_MODES_SINCE
        self._modes = _mode_rule(_current_umask(), fresh)

    @classmethod
    def add_parser_arguments(
        cls, parser: ArgumentParser, interpreter: Any, app_data: AppData
    ) -> None:
        super().add_parser_arguments(parser, interpreter, app_data)
        # Accepted as virtualenv's app-data seeder accepts it, and answered with a warning.
        parser.add_argument(
            "--symlink-app-data",
            dest="symlink_app_data",
            action="store_true",
            help="not supported by the fastlink seeder, which never links into app-data "
            "(accepted, with a warning)",
            default=False,
        )

    def run(self, creator: Creator) -> None:
        if not self.enabled:
            return
        wheels = self._seed_wheels(creator)
        interpreter = creator.interpreter
        major, minor = interpreter.version_info[:2]
        purelib = Path(creator.purelib)
        scheme = {
            "purelib": purelib,
            "platlib": Path(creator.platlib),
            "scripts": Path(creator.script_dir),
            "data": Path(creator.dest),
            # The seed wheels have no headers; pip's place for them in a venv.
            "headers": Path(creator.dest) / "include" / "site" / f"python{major}.{minor}",
        }
        installed = fastlink.install_wheels(
            [wheel.path for wheel in wheels],
            python=creator.exe,  # the launchers' interpreter; scheme= asks it nothing
            scheme=scheme,
            cache_dir=self.cache_dir,
            # Explicit: FASTLINK_METHODS=hardlink must not tie the env to app-data.
            methods=("reflink", "copy"),
            installer="pip",  # what virtualenv's seeders write
            replace=True,  # a re-seed replaces what is there, as the copy seeder does
        )
        pyc_suffix = f".{interpreter.implementation.lower()}-{major}{minor}.pyc"
        for dist in installed:
            LOGGER.debug(
                "installed %s %s via %s from %s (%s)",
                dist.name,
                dist.version,
                dist.report.method,
                dist.entry,
                "unpacked now" if dist.unpacked else "cached",
            )
            scripts = Path(creator.script_dir)
            version_info = interpreter.version_info
            installed_paths = _as_the_copy_seeder_leaves_it(
                dist, purelib, scripts, creator.exe, version_info, pyc_suffix
            )
            self._modes(dist, purelib, installed_paths)

    def _seed_wheels(self, creator: Creator) -> list[Any]:
        """The wheels virtualenv's seeders would install, found as they find
        them: get_wheel, and a download when allowed or when the wanted
        version is not at hand."""
        for_py_version = creator.interpreter.version_release_str
        wanted = self.distribution_to_versions()

        def find(distribution: str, version: str | None) -> Any:
            failure: Exception | None = None
            for download in [True] if self.download else [False, True]:
                failure = None
                try:
                    wheel = get_wheel(
                        distribution=distribution,
                        version=version,
                        for_py_version=for_py_version,
                        search_dirs=self.extra_search_dir,
                        download=download,
                        app_data=self.app_data,
                        do_periodic_update=self.periodic_update,
                        env=self.env,
                    )
                    if wheel is not None:
                        return wheel
                except Exception as err:
                    failure = err
            if failure is not None:
                LOGGER.error("cannot get %s: %r", distribution, failure)
            return None

        with ThreadPoolExecutor(max_workers=max(1, len(wanted))) as pool:
            found = dict(zip(wanted, pool.map(find, wanted, wanted.values())))
        missing = [name for name, wheel in found.items() if wheel is None]
        if missing:
            names = ", ".join(missing)
            raise RuntimeError(f"seed failed due to failing to download wheels {names}")
        return list(found.values())

    def __repr__(self) -> str:
        base = super().__repr__()
        return f"{base[:-1]}, via=fastlink, app_data_dir={self.app_data}{base[-1]}"


# --------------------------------------------------------------------------
# What the copy seeder leaves that a pip-style install does not


def _as_the_copy_seeder_leaves_it(
    dist: Any,
    purelib: Path,
    script_dir: Path,
    exe: Any,
    version_info: Any,
    pyc_suffix: str,
) -> list[str]:
    """Turn the installed distribution into the copy seeder's: its console
    scripts (virtualenv's launchers and names, nothing else), the empty
    `<name>-<version>.virtualenv` marker beside the .dist-info, and RECORD
    as the copy seeder writes it: the wheel's own RECORD, then rows for
    INSTALLER, the marker, the launchers, and the bytecode and __pycache__
    directories the environment's Python may write. Returns the paths the
    RECORD install_wheels wrote lists (before it is replaced), relative to
    the .dist-info's parent, but those outside it (`../../../bin/pip`)."""
    dist_info = Path(dist.dist_info)
    installed = _record_paths((dist_info / "RECORD").read_bytes())
    inside = [os.path.normpath(path) for path in installed]
    installed_paths = [path for path in inside if path != ".." and not path.startswith("../")]
    console, gui = _entry_point_names(dist_info / "entry_points.txt")
    # The launchers install_wheels wrote: virtualenv's replace them.
    for name in [*console, *gui]:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(script_dir / name)
    launchers: set[str] = set()
    for name, value in _folded(console).items():
        launchers.update(_write_launchers(name, value, script_dir, exe, version_info))

    marker = purelib / f"{dist_info.stem}.virtualenv"
    marker.write_bytes(b"")

    # The copy seeder's rows come from a walk of its image. Its files are the
    # ones the wheel's RECORD lists, and its directories theirs, so these
    # rows are taken from RECORD, and no tree is walked. (An empty directory
    # member of the zip, which no seed wheel has, is in the image and not
    # in RECORD; install_wheels does not make it in the environment either.)
    entry_record = Path(dist.entry, dist_info.name, "RECORD").read_bytes()
    scripts = os.path.relpath(script_dir, purelib)
    added = {f"{dist_info.name}/INSTALLER", marker.name}
    added.update(os.path.normpath(os.path.join(scripts, name)) for name in launchers)
    in_entry = _record_paths(entry_record)
    added.update(f"{directory}/__pycache__" for directory in _directories(in_entry))
    added.update(f"{path[:-3]}{pyc_suffix}" for path in in_entry if path.endswith(".py"))
    rows = io.StringIO(newline="")
    csv.writer(rows).writerows((path, "", "") for path in sorted(added))
    if entry_record and not entry_record.endswith(b"\n"):
        entry_record += b"\n"
    (dist_info / "RECORD").write_bytes(entry_record + rows.getvalue().encode("utf-8"))
    return installed_paths


def _record_paths(record: bytes) -> list[str]:
    """The paths a RECORD's rows name, as written there ("/"-separated).
    Rows end at newlines only: a name may hold a character that
    str.splitlines() takes for a line break (U+2028, say), unquoted."""
    rows = csv.reader(io.StringIO(record.decode("utf-8"), newline=""))
    return [row[0] for row in rows if row]


def _directories(paths: list[str]) -> set[str]:
    """Every directory the relative "/"-separated *paths* lie in, but the root."""
    found: set[str] = set()
    for path in paths:
        directory = path.rpartition("/")[0]
        while directory and directory not in found:
            found.add(directory)
            directory = directory.rpartition("/")[0]
    return found


def _entry_point_names(path: Path) -> tuple[dict[str, str], list[str]]:
    """entry_points.txt's console scripts (name: value) and gui script names."""
    if not path.is_file():
        return {}, []
    parser = ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text(encoding="utf-8"))
    console = dict(parser.items("console_scripts")) if parser.has_section("console_scripts") else {}
    gui = list(parser.options("gui_scripts")) if parser.has_section("gui_scripts") else []
    return console, gui


def _folded(console: dict[str, str]) -> dict[str, str]:
    """The console scripts under the names virtualenv folds them to."""
    folded = {}
    for name, value in console.items():
        match = _VERSIONED_SCRIPT.fullmatch(name)
        folded[match.group("name") if match else name] = value
    return folded


def _write_launchers(
    name: str, value: str, script_dir: Path, exe: Any, version_info: Any
) -> list[str]:
    """virtualenv's launchers for one console script: name, nameX, name-X.Y
    and nameX.Y; the names written."""
    script_maker = _virtualenv_script_maker()
    if script_maker is not None:
        maker = script_maker(script_dir, version_info, exe, name)
        return [os.path.basename(p) for p in maker.make(f"{name} = {value}")]
    return _write_launchers_with_distlib(name, value, script_dir, exe, version_info)


def _write_launchers_with_distlib(
    name: str, value: str, script_dir: Path, exe: Any, version_info: Any
) -> list[str]:
    """As ScriptMakerCustom does it, with distlib's public ScriptMaker alone."""
    from distlib.scripts import (  # type: ignore[import-untyped]
        ScriptMaker,
        enquote_executable,
    )

    written = []
    for variants, separator in (({"", "X", "X.Y"}, "-"), ({"X.Y"}, "")):
        maker = ScriptMaker(None, os.fspath(script_dir))
        maker.clobber = True
        maker.set_mode = True
        maker.executable = enquote_executable(os.fspath(exe))
        maker.version_info = tuple(version_info[:2])
        maker.variants = variants
        maker.variant_separator = separator
        written += [os.path.basename(p) for p in maker.make(f"{name} = {value}")]
    return written


# --------------------------------------------------------------------------
# Modes


def _mode_rule(umask: int, fresh: bool) -> Any:
    """The modes the copy seeder gives what it copies from a wheel image it
    built under this umask: directories 0o777 less the umask; files (the
    image has no exec bits: zipfile does not set them) 0o644 less the umask
    from virtualenv 21.15 on, which writes fresh modes, and before it the
    image's own, 0o666 less the umask. Only what the install made is visited,
    as its RECORD lists it: no tree is walked. Directories are done after
    their contents, deepest first, so no directory's new mode can shut out
    a chmod of what is inside it."""
    dir_mode = 0o777 & ~umask
    file_mode = (0o644 if fresh else 0o666) & ~umask

    def fix(path: str, is_dir: bool, want: int) -> None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            # A row for a file not installed: pip's (and install_wheels')
            # RECORD keeps the row of a .data/scripts entry-point wrapper.
            return
        kind_matches = stat.S_ISDIR(st.st_mode) if is_dir else stat.S_ISREG(st.st_mode)
        if kind_matches and stat.S_IMODE(st.st_mode) != want:
            os.chmod(path, want)

    def apply(dist: Any, purelib: Path, installed_paths: list[str]) -> None:
        # The files the install's RECORD lists, relative to the .dist-info's
        # parent (the lib directory: purelib or platlib), then the marker in
        # purelib; then their directories, deepest first.
        dist_info = Path(dist.dist_info)
        lib = f"{dist_info.parent}{os.sep}"  # joined as strings: ~1,000 paths a package
        for path in installed_paths:
            fix(lib + path, False, file_mode)
        fix(os.path.join(purelib, f"{dist_info.stem}.virtualenv"), False, file_mode)
        by_depth = sorted(_directories(installed_paths), key=lambda d: d.count("/"), reverse=True)
        for directory in by_depth:
            fix(lib + directory, True, dir_mode)

    return apply
