"""Comparing a venv an installer made with the one pip made from the same wheels.

Standard library only, Python 3.9+: `checks/install-vs-pip/check.py` imports it
as well as the tests, run by any interpreter.

* `snapshot(root)`: every entry under a venv, keyed by its path relative to
  the root ("lib/python3.11/site-packages/six.py"), as (kind, permission bits,
  size and sha256 of the content with the venv's own path replaced by
  `VENV_MARK`, the RECORD hash of the real bytes). Two venvs made the same way
  in different directories have equal snapshots. INSTALLER files keep their
  text instead of a digest, and a RECORD's row for INSTALLER loses its hash and
  size, so that `differences` can tell "pip" from "fastlink" apart from every
  other difference.
* `differences(a, b)`: what differs, one line per path.
* `verify_records(root, snap, fresh)`: every RECORD lists exactly the files of
  its distribution, each with its true sha256 and size; the files an install
  added are each listed by exactly one RECORD.
* `shebang_problems(root, snap, records)`: every installed script naming the
  venv starts with `#!<venv>/bin/python` (or pip's /bin/sh trampoline for long
  paths), and none is left with `#!python`.
* `leftovers(snap, fresh, records)`: what is on disk that neither the fresh
  venv nor any RECORD accounts for.
* `make_venv`, `run_pip` (a pinned pip wheel run by the venv's own
  interpreter), `distributions` (importlib.metadata inside the venv).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import posixpath
import re
import stat
import subprocess
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from wheelutil import record_hash

VENV_MARK = b"<VENV>"

# No pip or installer writes byte code into the venvs compared, nor does any
# interpreter the checks run there.
QUIET_ENV = {"PYTHONDONTWRITEBYTECODE": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


@dataclass(frozen=True)
class Entry:
    """One path under a venv.

    kind: "file", "dir", "symlink" or "other". mode: the permission bits.
    size and digest: of the content with the venv path replaced by VENV_MARK
    (a symlink: of its target; INSTALLER: digest is "installer:<its text>";
    RECORD: of its neutral_record form). record: the RECORD hash of the real
    bytes ("sha256=..."), raw_size their size, venv_record the RECORD hash of
    the normalised content (files only).
    """

    kind: str
    mode: int
    size: int = 0
    digest: str = ""
    record: str = ""
    raw_size: int = 0
    venv_record: str = ""


Snapshot = dict[str, Entry]


def _in_installed_dist_info(rel: str, name: str) -> bool:
    """`rel` is site-packages/<x>.dist-info/<name>: an installed distribution's
    (not one vendored inside a package, as bleach/_vendor/html5lib-1.1.dist-info)."""
    info, base = posixpath.split(rel)
    return (
        base == name
        and info.endswith(".dist-info")
        and posixpath.basename(posixpath.dirname(info)) == "site-packages"
    )


def is_installer_file(rel: str) -> bool:
    return _in_installed_dist_info(rel, "INSTALLER")


def is_record_file(rel: str) -> bool:
    return _in_installed_dist_info(rel, "RECORD")


def neutral_record(content: bytes, site: str, snap: Snapshot) -> bytes:
    """RECORD as it reads in any venv (its rows' order kept): INSTALLER's row
    without hash and size, and the row of a file that names the venv with the
    hash and size of its normalised content (`site`: RECORD's base, relative
    to the venv; `snap`: the files' entries)."""
    lines = content.split(b"\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        end = b"\r" if line.endswith(b"\r") else b""  # pip's csv rows end \r\n
        row = next(csv.reader([line[: len(line) - len(end)].decode("utf-8", "replace")]))
        rel = posixpath.normpath(posixpath.join(site, row[0]))
        entry = snap.get(rel)
        if is_installer_file(rel):
            lines[i] = row[0].encode() + b",<INSTALLER>," + end
        elif entry is not None and entry.kind == "file" and entry.venv_record != entry.record:
            name, hash_ = row[0].encode(), entry.venv_record.encode()
            lines[i] = b"%s,<VENV>%s,%d%s" % (name, hash_, entry.size, end)
    return b"\n".join(lines)


def _entry(root: Path, rel: str, st: os.stat_result) -> Entry:
    path = root / rel
    mode = stat.S_IMODE(st.st_mode)
    mark = os.fsencode(str(root))
    if stat.S_ISDIR(st.st_mode):
        return Entry("dir", mode)
    if stat.S_ISLNK(st.st_mode):
        target = os.fsencode(os.readlink(path)).replace(mark, VENV_MARK)
        return Entry("symlink", mode, len(target), hashlib.sha256(target).hexdigest())
    if not stat.S_ISREG(st.st_mode):
        return Entry("other", mode)
    content = path.read_bytes()
    raw = record_hash(content)
    if is_installer_file(rel):
        text = content.decode("utf-8", "replace").strip()
        return Entry("file", mode, 0, f"installer:{text}", raw, len(content), raw)
    normal = content.replace(mark, VENV_MARK)
    venv_record = raw if normal == content else record_hash(normal)
    digest = hashlib.sha256(normal).hexdigest()
    return Entry("file", mode, len(normal), digest, raw, st.st_size, venv_record)


def snapshot(root: Path) -> Snapshot:
    """Every entry under `root` (not root itself), never following symlinks."""
    snap: Snapshot = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = Path(os.path.relpath(path, root)).as_posix()
            snap[rel] = _entry(root, rel, os.lstat(path))
    # A RECORD's rows of files naming the venv: read as those files are.
    for rel, e in list(snap.items()):
        if e.kind == "file" and is_record_file(rel):
            content = neutral_record(
                (root / rel).read_bytes(), posixpath.dirname(posixpath.dirname(rel)), snap
            )
            snap[rel] = Entry(
                "file",
                e.mode,
                len(content),
                hashlib.sha256(content).hexdigest(),
                e.record,
                e.raw_size,
                e.venv_record,
            )
    return snap


def differences(
    a: Snapshot, b: Snapshot, labels: tuple[str, str] = ("pip", "installer")
) -> list[str]:
    """One line per path that differs, sorted; INSTALLER texts are not compared."""
    out: list[str] = []
    for rel in sorted(a.keys() | b.keys()):
        x, y = a.get(rel), b.get(rel)
        if x is None:
            out.append(f"only in {labels[1]}: {rel}")
        elif y is None:
            out.append(f"only in {labels[0]}: {rel}")
        elif x.kind != y.kind:
            out.append(f"{rel}: a {x.kind} in {labels[0]}, a {y.kind} in {labels[1]}")
        elif x.mode != y.mode:
            out.append(f"{rel}: mode {x.mode:o} in {labels[0]}, {y.mode:o} in {labels[1]}")
        elif is_installer_file(rel):
            continue
        elif (x.size, x.digest) != (y.size, y.digest):
            what = "RECORD rows" if is_record_file(rel) else "content"
            out.append(
                f"{rel}: {what} differ ({x.size} bytes in {labels[0]}, "
                f"{y.size} in {labels[1]}, venv path normalised)"
            )
    return out


def installers(snap: Snapshot) -> dict[str, str]:
    """dist-info path -> the text of its INSTALLER."""
    return {
        posixpath.dirname(rel): e.digest[len("installer:") :]
        for rel, e in snap.items()
        if is_installer_file(rel) and e.kind == "file"
    }


def totals(snap: Snapshot, fresh: Snapshot) -> tuple[int, int]:
    """(files, bytes) an install added to the fresh venv."""
    added = [e for rel, e in snap.items() if e.kind == "file" and rel not in fresh]
    return len(added), sum(e.raw_size for e in added)


# --------------------------------------------------------------------------
# RECORD
# --------------------------------------------------------------------------


@dataclass
class DistRecord:
    """One installed distribution, as its RECORD describes it."""

    dist_info: str  # relative to the venv root
    files: list[str] = field(default_factory=list)  # relative to the venv root


def dist_infos(snap: Snapshot) -> list[str]:
    """The `*.dist-info` directories in the venv's site-packages."""
    return sorted(
        rel
        for rel, e in snap.items()
        if e.kind == "dir"
        and rel.endswith(".dist-info")
        and posixpath.basename(posixpath.dirname(rel)) == "site-packages"
    )


def verify_records(
    root: Path, snap: Snapshot, fresh: Snapshot
) -> tuple[list[DistRecord], list[str]]:
    """Each RECORD against the disk, and the added files against the RECORDs.

    Returns the distributions and the problems found (empty when all holds):
    a RECORD missing or unreadable, a row whose file is absent or has another
    sha256 or size, a RECORD row with a hash, a file listed twice or by two
    distributions, a file added to the venv that no RECORD lists.
    """
    problems: list[str] = []
    dists: list[DistRecord] = []
    owner: dict[str, str] = {}
    for info in dist_infos(snap):
        dist = DistRecord(info)
        dists.append(dist)
        record_rel = f"{info}/RECORD"
        if snap.get(record_rel, Entry("absent", 0)).kind != "file":
            problems.append(f"{info}: no RECORD")
            continue
        site = posixpath.dirname(info)
        text = (root / record_rel).read_text(encoding="utf-8")
        for row in csv.reader(io.StringIO(text)):
            if not row:
                continue
            if len(row) != 3:
                problems.append(f"{record_rel}: a row without 3 fields: {row!r}")
                continue
            name, hash_, size = row
            rel = posixpath.normpath(posixpath.join(site, name))
            if rel.startswith("../") or posixpath.isabs(name):
                problems.append(f"{record_rel}: {name} is outside the venv")
                continue
            if rel in owner:
                problems.append(f"{rel}: listed by {owner[rel]} and again by {record_rel}")
                continue
            owner[rel] = record_rel
            dist.files.append(rel)
            entry = snap.get(rel)
            if entry is None or entry.kind != "file":
                problems.append(f"{record_rel}: {name} is not a file on disk")
            elif rel == record_rel:
                if hash_ or size:
                    problems.append(f"{record_rel}: its own row has a hash or size")
            elif hash_ != entry.record:
                problems.append(f"{record_rel}: {name} has hash {hash_!r}, on disk {entry.record}")
            elif size != str(entry.raw_size):
                problems.append(f"{record_rel}: {name} has size {size!r}, on disk {entry.raw_size}")
    for rel, e in sorted(snap.items()):
        if e.kind != "dir" and rel not in fresh and rel not in owner:
            problems.append(f"{rel}: installed but in no RECORD")
    return dists, problems


def leftovers(snap: Snapshot, fresh: Snapshot, dists: Sequence[DistRecord]) -> list[str]:
    """Paths neither the fresh venv nor a RECORD (a listed file or one of its
    directories) accounts for."""
    known = set(fresh)
    for dist in dists:
        for rel in dist.files:
            while rel and rel not in known:
                known.add(rel)
                rel = posixpath.dirname(rel)
    return sorted(rel for rel in snap if rel not in known)


# --------------------------------------------------------------------------
# Scripts
# --------------------------------------------------------------------------


def shebang_forms(interpreter: str) -> tuple[bytes, bytes]:
    """The two first lines pip writes for `interpreter`: the plain shebang, and
    the start of its /bin/sh trampoline (for a long path or one with spaces)."""
    exe = os.fsencode(interpreter)
    return b"#!" + exe + b"\n", b"#!/bin/sh\n'''exec' '" + exe + b"' \"$0\" \"$@\"\n' '''\n"


def shebang_problems(root: Path, snap: Snapshot, dists: Sequence[DistRecord]) -> list[str]:
    """Installed files in bin/ that start `#!python`, or name the venv in their
    first line without it being exactly the venv's interpreter."""
    plain, trampoline = shebang_forms(str(root / "bin" / "python"))
    mark = os.fsencode(str(root))
    problems: list[str] = []
    for dist in dists:
        for rel in dist.files:
            if not rel.startswith("bin/") or snap.get(rel, Entry("", 0)).kind != "file":
                continue
            with open(root / rel, "rb") as f:
                head = f.read(len(trampoline) + 1024)
            first = head.split(b"\n", 1)[0] + b"\n"
            if first.startswith(b"#!python"):
                problems.append(f"{rel}: still starts with #!python")
            elif first == b"#!/bin/sh\n" and mark in head:
                if not head.startswith(trampoline):
                    problems.append(f"{rel}: a /bin/sh trampoline not for {root}/bin/python")
            elif mark in first and first != plain:
                problems.append(f"{rel}: shebang {first!r}, not {plain!r}")
    return problems


def launchers(snap: Snapshot, dists: Sequence[DistRecord]) -> list[str]:
    """The executable files the distributions installed in bin/."""
    return sorted(
        rel
        for d in dists
        for rel in d.files
        if rel.startswith("bin/")
        and snap.get(rel, Entry("", 0)).kind == "file"
        and snap[rel].mode & 0o111
    )


# --------------------------------------------------------------------------
# Venvs and pip
# --------------------------------------------------------------------------


def quiet_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, **QUIET_ENV}
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    env.update(extra or {})
    return env


def make_venv(path: Path, base_python: str) -> Path:
    """A venv without pip (so both sides start from the same tree); its python."""
    subprocess.run(
        [base_python, "-m", "venv", "--without-pip", str(path)],
        check=True,
        env=quiet_env(),
    )
    return path / "bin" / "python"


def run_pip(
    python: Path, pip_wheel: Path, args: Sequence[str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    """`python pip_wheel/pip ARGS`: a pinned pip, run from its wheel by the
    venv's own interpreter (so it installs into that venv, and puts nothing of
    itself there)."""
    return subprocess.run(
        [str(python), f"{pip_wheel}/pip", *args],
        check=check,
        capture_output=True,
        text=True,
        env=quiet_env(),
    )


def pip_install(python: Path, pip_wheel: Path, wheels: Iterable[Path]) -> None:
    """What the installers are compared with: pip install --no-deps --no-index
    --no-compile of the wheels, as files."""
    proc = run_pip(
        python,
        pip_wheel,
        ["install", "--no-deps", "--no-index", "--no-compile", *map(str, wheels)],
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"pip install failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")


def distributions(python: Path) -> list[tuple[str, str]]:
    """(Name, version) of every distribution importlib.metadata finds in the venv."""
    code = (
        "import importlib.metadata as m, json; print(json.dumps(sorted("
        "(d.metadata['Name'], d.version) for d in m.distributions())))"
    )
    out = subprocess.run(
        [str(python), "-I", "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env=quiet_env(),
    ).stdout
    return [(name, version) for name, version in json.loads(out)]


# --------------------------------------------------------------------------
# Pinned wheels
# --------------------------------------------------------------------------

# The pip every installer is compared with (pip 26: the launcher template the
# installers copy), run from its wheel.
REFERENCE_PIP = "pip==26.3"


def normalize_name(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def parse_pins(text: str) -> list[tuple[str, str]]:
    """`name==version` lines (blank lines and # comments ignored)."""
    pins = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            if not sep or not name.strip() or not version.strip():
                raise ValueError(f"not name==version: {line!r}")
            pins.append((name.strip(), version.strip()))
    return pins


def find_wheel(directory: Path, name: str, version: str) -> Path | None:
    """The one wheel of name==version in `directory` (None: none; ValueError: several)."""
    found = [
        path
        for path in sorted(directory.glob("*.whl"))
        if [normalize_name(part) for part in path.name.split("-")[:2]]
        == [normalize_name(name), normalize_name(version)]
    ]
    if len(found) > 1:
        raise ValueError(f"{name}=={version}: several wheels in {directory}: {found}")
    return found[0] if found else None


def fetch_wheels(
    pins: Sequence[tuple[str, str]], directory: Path, pip: Sequence[str]
) -> list[Path]:
    """The pinned wheels, from `directory`; the missing ones first downloaded
    there with `pip download --no-deps --only-binary :all:` (`pip`: the
    command that runs pip, e.g. [sys.executable, "-m", "pip"])."""
    directory.mkdir(parents=True, exist_ok=True)
    missing = [f"{n}=={v}" for n, v in pins if find_wheel(directory, n, v) is None]
    if missing:
        subprocess.run(
            [
                *pip,
                "download",
                "--no-deps",
                "--only-binary",
                ":all:",
                "--quiet",
                "-d",
                str(directory),
                *missing,
            ],
            check=True,
            env=quiet_env(),
        )
    wheels = []
    for name, version in pins:
        wheel = find_wheel(directory, name, version)
        if wheel is None:
            raise FileNotFoundError(f"{name}=={version}: pip download left no wheel in {directory}")
        wheels.append(wheel)
    return wheels


def corrupt_copy(wheel: Path, kind: str, directory: Path) -> Path:
    """A copy of `wheel` of the same name in `directory`: truncated to 60%, or
    with one byte of its last member (outside the dist-info) changed and the
    zip rewritten around it (so only RECORD's hash can tell)."""
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / wheel.name
    if kind == "truncated":
        data = wheel.read_bytes()
        out.write_bytes(data[: len(data) * 6 // 10])
        return out
    with zipfile.ZipFile(wheel) as zin:
        infos = zin.infolist()
        victim = [i for i in infos if ".dist-info/" not in i.filename and not i.is_dir()][-1]
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
            for info in infos:
                data = zin.read(info)
                if info is victim:
                    data = bytes([data[0] ^ 0x01]) + data[1:]
                zout.writestr(info, data)
    return out
