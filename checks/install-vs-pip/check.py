#!/usr/bin/env python3
"""The held-out check: an installer against pip on about a hundred real wheels.

Two venvs are made the same way (`python -m venv --without-pip`, at paths of
the same length). The pinned pip (installcompare.REFERENCE_PIP, run from its
wheel) installs the wheels of wheels.txt into one with `--no-deps --no-index
--no-compile`; the installer under test installs them into the other. Then it
requires, and reports:

  * the two trees are equal: the same paths, kinds, permission bits and bytes
    (the venv's own path, wherever it appears, read as <VENV>; INSTALLER's text
    and its RECORD row apart, INSTALLER must say what the installer is);
  * every RECORD lists exactly the files of its distribution with their true
    sha256 and size, and every file installed is in a RECORD;
  * every installed script naming the venv starts with `#!<venv>/bin/python`
    (or pip's /bin/sh trampoline), none with `#!python`;
  * importlib.metadata finds the same distributions (name, version), the
    pinned ones;
  * the packages import and a few launchers run (`--version`);
  * `pip uninstall -y` of every distribution leaves both venvs equal to a fresh
    one (what pip leaves in both alike is reported, not counted);
  * a batch with one corrupt wheel (truncated; a member changed so that its
    hash is not RECORD's) fails, names that wheel, and leaves no distribution
    half-installed: every RECORD present is complete and true, the corrupt one
    is absent and nothing of it is on disk.

Exit status 0 only when everything holds. `--installer pip` runs pip on both
sides (the harness's self-check: all but the hash check pass, as pip does not
compare members with RECORD); `--tamper KIND` damages the installer's venv
after the install, to see the harness report it.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests"))

import installcompare as ic  # noqa: E402

DEFAULT_INSTALLER = "fastlink install --python {python} --cache-dir {cache_dir} {wheels}"
DEFAULT_WHEELS_DIR = Path.home() / ".cache" / "fastlink-install-check" / "wheels"
IMPORTS = "numpy,pandas,scipy,django,sympy,botocore,awscli,black,jupyterlab,yaml,zmq,IPython"
# Launchers run in both venvs (those pip installed): name -> arguments.
LAUNCHERS = {
    "black": ["--version"],
    "jupyter-lab": ["--version"],
    "django-admin": ["--version"],
    "aws": ["--version"],
    "pygmentize": ["-V"],
    "rst2html.py": ["--version"],
}
# The corrupt batches: the corrupted wheel between two good ones.
CORRUPT = ("pygments", ("idna", "six"))
TAMPERS = ("delete", "chmod", "record", "shebang")
SHOWN = 12  # problems listed per check in the summary


@dataclass
class Check:
    name: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Run:
    argv: list[str]
    returncode: int
    output: str
    seconds: float


def run(argv: Sequence[str], env: dict[str, str] | None = None) -> Run:
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            list(argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env or ic.quiet_env(),
        )
    except OSError as e:  # not executable, not there
        return Run(list(argv), -1, f"cannot run {argv[0]}: {e}", time.perf_counter() - start)
    return Run(list(argv), proc.returncode, proc.stdout, time.perf_counter() - start)


def found_distributions(python: Path, c: Check, label: str) -> list[tuple[str, str]]:
    try:
        return ic.distributions(python)
    except (subprocess.CalledProcessError, OSError, ValueError) as e:
        c.problems.append(f"importlib.metadata in {label} venv failed: {e}")
        return []


def pip_argv(python: Path, pip_wheel: Path, *args: str) -> list[str]:
    return [str(python), f"{pip_wheel}/pip", *args]


def installer_argv(
    template: str, python: Path, cache_dir: Path, wheels: Sequence[Path], pip_wheel: Path
) -> list[str]:
    """The installer's command: `template` with {python}, {cache_dir} replaced
    and the {wheels} word replaced by the wheels; "pip" is the reference pip."""
    if template == "pip":
        return pip_argv(
            python,
            pip_wheel,
            "install",
            "--no-deps",
            "--no-index",
            "--no-compile",
            *map(str, wheels),
        )
    argv: list[str] = []
    for word in shlex.split(template):
        if word == "{wheels}":
            argv += map(str, wheels)
        else:
            argv.append(
                word.replace("{python}", str(python)).replace("{cache_dir}", str(cache_dir))
            )
    return argv


def tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


# --------------------------------------------------------------------------
# Damage, on purpose
# --------------------------------------------------------------------------


def tamper(root: Path, kind: str, dists: Sequence[ic.DistRecord], snap: ic.Snapshot) -> str:
    """Damage the venv one way; returns what was done."""
    files = sorted(
        rel
        for d in dists
        for rel in d.files
        if "site-packages/" in rel and ".dist-info/" not in rel
    )
    scripts = ic.launchers(snap, dists)
    if kind == "delete":
        (root / files[0]).unlink()
        return f"deleted {files[0]}"
    if kind == "chmod":
        os.chmod(root / scripts[0], snap[scripts[0]].mode & ~0o111)
        return f"chmod -x {scripts[0]}"
    if kind == "record":
        record = root / f"{dists[0].dist_info}/RECORD"
        lines = record.read_bytes().decode().splitlines(keepends=True)
        row = lines[0].rstrip("\r\n")
        name, hash_, size = row.split(",")
        changed = f"{name},{hash_[:-1]}{'A' if hash_[-1] != 'A' else 'B'},{size}"
        lines[0] = changed + lines[0][len(row) :]
        record.write_bytes("".join(lines).encode())
        return f"changed the hash of {name} in {dists[0].dist_info}/RECORD"
    if kind == "shebang":
        for rel in scripts:
            content = (root / rel).read_bytes()
            if content.startswith(b"#!"):
                (root / rel).write_bytes(b"#!python" + content[content.index(b"\n") :])
                return f"put #!python back into {rel}"
    raise ValueError(f"cannot tamper with {kind}")


# --------------------------------------------------------------------------
# The check
# --------------------------------------------------------------------------


class HeldOut:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.checks: list[Check] = []
        self.timings: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.work = Path(args.work_dir or tempfile.mkdtemp(prefix="install-vs-pip-")).resolve()
        self.expect_installer = args.expect_installer or (
            "pip" if args.installer == "pip" else "fastlink"
        )

    def timed(self, phase: str, start: float) -> None:
        self.timings[phase] = self.timings.get(phase, 0.0) + time.perf_counter() - start

    def check(self, name: str) -> Check:
        c = Check(name)
        self.checks.append(c)
        return c

    def main(self) -> int:
        wall = time.perf_counter()
        args = self.args
        pins = ic.parse_pins(Path(args.wheels).read_text(encoding="utf-8"))
        names = [ic.normalize_name(n) for n, _ in pins]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise SystemExit(f"{args.wheels}: a batch holds one version per distribution: {dupes}")
        start = time.perf_counter()
        pip_cmd = [sys.executable, "-m", "pip"]
        wheels = ic.fetch_wheels(pins, Path(args.wheels_dir), pip_cmd)
        pip_name, pip_version = ic.REFERENCE_PIP.split("==")
        (pip_wheel,) = ic.fetch_wheels([(pip_name, pip_version)], Path(args.wheels_dir), pip_cmd)
        self.timed("download", start)
        self.counts["wheels"] = len(wheels)
        if args.download_only:
            print(f"{len(wheels)} wheels and {pip_wheel.name} in {args.wheels_dir}")
            return 0
        self.work.mkdir(parents=True, exist_ok=True)
        try:
            self.compare(pins, wheels, pip_wheel)
            if not args.skip_corrupt:
                wheel_of = {ic.normalize_name(n): w for (n, _), w in zip(pins, wheels)}
                for kind in ("truncated", "hash"):
                    self.corrupt(kind, wheel_of, pip_wheel)
        finally:
            if not args.keep:
                shutil.rmtree(self.work, ignore_errors=True)
        self.timings["total"] = time.perf_counter() - wall
        self.report(pip_wheel)
        return 0 if all(c.ok for c in self.checks) else 1

    def compare(self, pins: list[tuple[str, str]], wheels: list[Path], pip_wheel: Path) -> None:
        args = self.args
        # The same path but for one word of the same length: the venvs' prompts
        # (their directories' names) and pip's choice of a shebang form agree.
        ref_root, new_root = self.work / "pip" / "venv", self.work / "new" / "venv"
        for root in (ref_root, new_root):
            shutil.rmtree(root, ignore_errors=True)
        start = time.perf_counter()
        ref_py = ic.make_venv(ref_root, args.base_python)
        new_py = ic.make_venv(new_root, args.base_python)
        self.timed("venvs", start)
        fresh = ic.snapshot(ref_root)
        c = self.check("the two fresh venvs are equal")
        c.problems += ic.differences(fresh, ic.snapshot(new_root), ("pip's", "the installer's"))

        ref_run = run(
            pip_argv(
                ref_py,
                pip_wheel,
                "install",
                "--no-deps",
                "--no-index",
                "--no-compile",
                *map(str, wheels),
            )
        )
        self.timings["pip install"] = ref_run.seconds
        c = self.check(f"pip installs the {len(wheels)} wheels")
        if ref_run.returncode:
            c.problems.append(f"exit {ref_run.returncode}:\n{tail(ref_run.output)}")
        cache_dir = self.work / "cache"
        new_run = run(installer_argv(args.installer, new_py, cache_dir, wheels, pip_wheel))
        self.timings["installer install"] = new_run.seconds
        c = self.check(f"the installer installs the {len(wheels)} wheels")
        c.notes.append(shlex.join(new_run.argv[:6]) + " ...")
        if new_run.returncode:
            c.problems.append(f"exit {new_run.returncode}:\n{tail(new_run.output)}")

        start = time.perf_counter()
        ref, new = ic.snapshot(ref_root), ic.snapshot(new_root)
        ref_dists, ref_problems = ic.verify_records(ref_root, ref, fresh)
        if args.tamper:
            c = self.check("tampered with on purpose (--tamper): this run must fail")
            c.problems += [tamper(new_root, kind, ref_dists, new) for kind in args.tamper]
            new = ic.snapshot(new_root)
        files, size = ic.totals(ref, fresh)
        self.counts.update(files=files, bytes=size, distributions=len(ref_dists))
        c = self.check("the installer's venv equals pip's (paths, kinds, modes, bytes)")
        c.problems += ic.differences(ref, new)
        c = self.check(f"INSTALLER says {self.expect_installer!r} (pip's says 'pip')")
        for info, text in sorted(ic.installers(new).items()):
            if text != self.expect_installer:
                c.problems.append(f"{info}/INSTALLER: {text!r}")
        for info, text in sorted(ic.installers(ref).items()):
            if text != "pip":
                c.problems.append(f"pip's {info}/INSTALLER: {text!r}")
        new_dists, new_problems = ic.verify_records(new_root, new, fresh)
        c = self.check("every RECORD lists exactly its installed files, true sha256 and size")
        c.problems += new_problems + [f"in pip's venv: {p}" for p in ref_problems]
        c = self.check("scripts start #!<venv>/bin/python (or pip's /bin/sh trampoline)")
        c.problems += ic.shebang_problems(new_root, new, new_dists)
        c.problems += [f"in pip's venv: {p}" for p in ic.shebang_problems(ref_root, ref, ref_dists)]
        self.timed("compare", start)

        start = time.perf_counter()
        c = self.check("importlib.metadata finds the same distributions, the pinned ones")
        ref_found = found_distributions(ref_py, c, "pip's")
        new_found = found_distributions(new_py, c, "the installer's")
        if ref_found != new_found:
            c.problems.append(f"only pip's: {sorted(set(ref_found) - set(new_found))}")
            c.problems.append(f"only the installer's: {sorted(set(new_found) - set(ref_found))}")
        pinned = sorted((ic.normalize_name(n), v) for n, v in pins)
        found = sorted((ic.normalize_name(n), v) for n, v in ref_found)
        if found != pinned:
            c.problems.append(f"pip's venv has {found}, wheels.txt pins {pinned}")
        c.notes.append(f"{len(new_found)} distributions")
        self.run_them(ref_root, new_root, ref, new, ref_dists)
        self.timed("imports and launchers", start)

        start = time.perf_counter()
        names = [n for n, _ in ref_found]
        ref_un = run(pip_argv(ref_py, pip_wheel, "uninstall", "-y", *names))
        self.timings["pip uninstall (pip's venv)"] = ref_un.seconds
        new_un = run(pip_argv(new_py, pip_wheel, "uninstall", "-y", *names))
        self.timings["pip uninstall (installer's venv)"] = new_un.seconds
        c = self.check("pip uninstall -y of every distribution leaves a fresh venv")
        for label, un in (("pip's", ref_un), ("the installer's", new_un)):
            if un.returncode:
                c.problems.append(f"in {label} venv: exit {un.returncode}:\n{tail(un.output)}")
        ref_after, new_after = ic.snapshot(ref_root), ic.snapshot(new_root)
        c.problems += ic.differences(ref_after, new_after)
        both = ic.differences(fresh, ref_after, ("fresh", "pip's after uninstall"))
        if both:
            c.notes.append(f"pip leaves {len(both)} paths in both venvs alike: {both[:5]}")
        self.timed("uninstall", start)

    def run_them(
        self,
        ref_root: Path,
        new_root: Path,
        ref: ic.Snapshot,
        new: ic.Snapshot,
        ref_dists: Sequence[ic.DistRecord],
    ) -> None:
        imports = [m for m in self.args.imports.split(",") if m]
        c = self.check(f"imports work ({', '.join(imports)})")
        code = "import " + ", ".join(imports)
        for label, root in (("pip's", ref_root), ("the installer's", new_root)):
            r = run([str(root / "bin" / "python"), "-I", "-c", code])
            if r.returncode:
                c.problems.append(f"in {label} venv:\n{tail(r.output)}")
        scripts = ic.launchers(ref, ref_dists)
        c = self.check("launchers are executable and run")
        missing = [s for s in scripts if new.get(s) is None or not new[s].mode & 0o111]
        c.problems += [f"not an executable file in the installer's venv: {s}" for s in missing]
        ran = []
        for name, argv in LAUNCHERS.items():
            if f"bin/{name}" not in scripts:
                continue
            for label, root in (("pip's", ref_root), ("the installer's", new_root)):
                r = run([str(root / "bin" / name), *argv])
                if r.returncode:
                    c.problems.append(f"{label} bin/{name} {' '.join(argv)}:\n{tail(r.output)}")
            ran.append(name)
        c.notes.append(f"{len(scripts)} executables in bin/, ran {', '.join(ran) or 'none'}")

    def corrupt(self, kind: str, wheel_of: dict[str, Path], pip_wheel: Path) -> None:
        victim, neighbours = CORRUPT
        if victim not in wheel_of or any(n not in wheel_of for n in neighbours):
            c = self.check(f"a batch with one {kind} wheel")
            c.problems.append(f"wheels.txt lacks {victim} or {neighbours}")
            return
        start = time.perf_counter()
        bad = ic.corrupt_copy(wheel_of[victim], kind, self.work / f"corrupt-{kind}")
        batch = [wheel_of[neighbours[0]], bad, wheel_of[neighbours[1]]]
        root = self.work / f"bad-{kind}" / "venv"
        shutil.rmtree(root, ignore_errors=True)
        python = ic.make_venv(root, self.args.base_python)
        fresh = ic.snapshot(root)
        r = run(
            installer_argv(
                self.args.installer, python, self.work / f"cache-{kind}", batch, pip_wheel
            )
        )
        what = "truncated" if kind == "truncated" else "with a member not matching RECORD"
        c = self.check(
            f"a batch with one wheel {what} fails, names it, leaves nothing half-installed"
        )
        if r.returncode == 0:
            c.problems.append("the installer exited 0")
        if bad.name not in r.output:
            c.problems.append(f"its output does not name {bad.name}:\n{tail(r.output, 6)}")
        snap = ic.snapshot(root)
        dists, problems = ic.verify_records(root, snap, fresh)
        c.problems += problems
        found = [n for n, _ in found_distributions(python, c, "this")]
        if victim in map(ic.normalize_name, found):
            c.problems.append(f"{victim} is installed: {found}")
        c.problems += [f"left on disk: {p}" for p in ic.leftovers(snap, fresh, dists)]
        c.notes.append(f"exit {r.returncode}; installed of the batch: {found or 'none'}")
        self.timed(f"corrupt batch ({kind})", start)

    def report(self, pip_wheel: Path) -> None:
        ok = all(c.ok for c in self.checks)
        n = self.counts
        files = n.get("files", 0)
        mib = n.get("bytes", 0) / 2**20
        lines = [
            f"install-vs-pip: {n.get('wheels', 0)} wheels, {n.get('distributions', 0)} "
            f"distributions, {files:,} files ({mib:,.0f} MiB) per venv; "
            f"reference {pip_wheel.name}; installer: {self.args.installer}",
        ]
        for c in self.checks:
            lines.append(f"  {'PASS' if c.ok else 'FAIL'}  {c.name}")
            lines += [f"          {note}" for note in c.notes]
            for p in c.problems[:SHOWN]:
                lines.append("        - " + p.replace("\n", "\n          "))
            if len(c.problems) > SHOWN:
                lines.append(f"        ... and {len(c.problems) - SHOWN} more")
        timing = ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items())
        lines.append(f"  time: {timing}")
        if "pip install" in self.timings and "installer install" in self.timings:
            ratio = self.timings["installer install"] / max(self.timings["pip install"], 1e-9)
            lines.append(f"  the installer took {ratio:.2f}x pip's time")
        lines.append("OK: the installer's venv is pip's" if ok else "FAILED")
        print("\n".join(lines))
        if self.args.json:
            doc = {
                "ok": ok,
                "installer": self.args.installer,
                "reference_pip": pip_wheel.name,
                "counts": self.counts,
                "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
                "checks": [{**asdict(c), "ok": c.ok} for c in self.checks],
            }
            text = json.dumps(doc, indent=2)
            if self.args.json == "-":
                print(text)
            else:
                Path(self.args.json).write_text(text + "\n", encoding="utf-8")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--installer",
        default=DEFAULT_INSTALLER,
        help="the installer's command; {python}, {cache_dir} and the word {wheels} are "
        f"filled in; 'pip' is the reference pip (default: {DEFAULT_INSTALLER!r})",
    )
    p.add_argument("--expect-installer", help="INSTALLER's text (default: fastlink, pip for pip)")
    p.add_argument("--wheels", default=str(HERE / "wheels.txt"), help="name==version lines")
    p.add_argument(
        "--wheels-dir",
        default=os.environ.get("INSTALL_CHECK_WHEELS", str(DEFAULT_WHEELS_DIR)),
        help="where the wheels are (downloaded when absent)",
    )
    p.add_argument("--base-python", default=sys.executable, help="makes both venvs")
    p.add_argument("--work-dir", help="for the venvs (default: a new temporary directory)")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--imports", default=IMPORTS, help="comma-separated modules to import")
    p.add_argument("--tamper", action="append", choices=TAMPERS, help="damage on purpose")
    p.add_argument("--skip-corrupt", action="store_true", help="no corrupt-wheel batches")
    p.add_argument("--download-only", action="store_true")
    p.add_argument("--json", help="also write the results as JSON to this file ('-': stdout)")
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(HeldOut(parse_args()).main())
