"""CPython's own copytree, copy2 and copyfile tests against `fastlink.copytree`,
`fastlink.copy2` and `fastlink.copyfile` (issue 20).

`Lib/test/test_shutil.py`'s classes TestCopyTree, TestMove, TestCopy and TestCopyFile,
as shipped with each
CPython (3.11, 3.12 and 3.13 by default: pyenv's, newest patch release first, else
python3.X on PATH), are run twice on each filesystem (XFS with reflink, btrfs; loop
mounts made by tests/mounts.py, root only), with the tests' cwd and TMPDIR there:

1. against the real `shutil` functions, which gives the set of tests that pass here;
2. with `shutil.copytree`, `shutil.copy2` and `shutil.copyfile` replaced by
   fastlink's (run_tests.py).

Every test that passes in 1 must pass in 2. A missing interpreter, a filesystem that
cannot be mounted, a run that crashes or a run in which nothing passed fails the check:
nothing is ever skipped. fastlink is the package this interpreter imports (the repo's
.venv: `make develop`, an abi3 build), put on each interpreter's PYTHONPATH; each run
checks that it imported that one. Exit status 0 only when everything holds.

    .venv/bin/python checks/cpython-copytree/check.py [--pythons 3.11 3.12 3.13]
        [--filesystems xfs btrfs] [--json FILE]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "tests"))

import fastlink  # noqa: E402

PYENV_VERSIONS = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"


def find_python(version: str) -> str | None:
    """pyenv's CPython `version` (newest patch release, not free-threaded), else
    python`version` on PATH."""
    candidates = [
        c
        for c in glob.glob(str(PYENV_VERSIONS / f"{version}.*"))
        if re.fullmatch(rf"{re.escape(version)}\.\d+", os.path.basename(c))
    ]
    candidates.sort(key=lambda c: int(c.rsplit(".", 1)[1]), reverse=True)
    for c in candidates:
        exe = os.path.join(c, "bin", f"python{version}")
        if os.access(exe, os.X_OK):
            return exe
    return shutil.which(f"python{version}")


def run_mode(python: str, mode: str, fs_dir: Path, package_root: str) -> dict:
    """run_tests.py under `python` in a fresh directory of `fs_dir`; its JSON."""
    work = Path(tempfile.mkdtemp(prefix=f"cpython-{mode}-", dir=fs_dir))
    out = work / "results.json"
    cwd = work / "cwd"
    tmp = work / "tmp"
    cwd.mkdir()
    tmp.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": package_root,
        "PYTHONNOUSERSITE": "1",
        "TMPDIR": str(tmp),
    }
    env.pop("PYTHONHOME", None)
    proc = subprocess.run(
        [python, str(HERE / "run_tests.py"), mode, str(out)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(
                f"{python} run_tests.py {mode} exited {proc.returncode}:\n{proc.stdout}"
            )
        with open(out) as f:
            result = json.load(f)
        result["log"] = proc.stdout
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def counts(outcomes: dict[str, str]) -> str:
    tally: dict[str, int] = {}
    for outcome in outcomes.values():
        tally[outcome] = tally.get(outcome, 0) + 1
    return ", ".join(f"{n} {k}" for k, n in sorted(tally.items()))


# The classes that call the replaced functions directly, counted on their own.
DIRECT = ("TestCopyTree", "TestCopy", "TestCopyFile")


def class_of(test_id: str) -> str:
    return test_id.split(".")[-2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pythons", nargs="+", default=["3.11", "3.12", "3.13"])
    parser.add_argument("--filesystems", nargs="+", default=["xfs", "btrfs"])
    parser.add_argument("--json", help="write every run's outcomes here")
    args = parser.parse_args()

    package_root = str(Path(fastlink.__file__).resolve().parent.parent)
    print(f"fastlink {fastlink.__version__} from {Path(fastlink.__file__).parent}")
    pythons = {}
    problems = []
    for version in args.pythons:
        exe = find_python(version)
        if exe is None:
            problems.append(f"no CPython {version} (looked in {PYENV_VERSIONS} and PATH)")
        else:
            pythons[version] = exe
    if os.geteuid() != 0:
        problems.append("the loop mounts need root")
    if problems:
        for p in problems:
            print(f"cpython-copytree: {p}", file=sys.stderr)
        return 1

    import mounts  # tests/mounts.py: imports pytest, which the .venv has

    runs = []
    failed = False
    for fs in args.filesystems:
        try:
            ctx = mounts.filesystem(fs, 256)
            mnt = ctx.__enter__()
        except BaseException as e:  # skip_or_fail's pytest outcomes included
            print(f"cpython-copytree: cannot mount {fs}: {e}", file=sys.stderr)
            return 1
        try:
            for exe in pythons.values():
                results = {
                    mode: run_mode(exe, mode, mnt, package_root) for mode in ("shutil", "fastlink")
                }
                real, ours = results["shutil"]["outcomes"], results["fastlink"]["outcomes"]
                imported = results["fastlink"].get("fastlink", "")
                if not imported.startswith(package_root):
                    print(f"  fastlink imported from {imported}, not {package_root}")
                    failed = True
                passing = sorted(t for t, o in real.items() if o == "passed")
                regressions = sorted(t for t in passing if ours.get(t) != "passed")
                per_class = []
                for name in DIRECT:
                    ids = [t for t in real if class_of(t) == name]
                    per_class.append(
                        f"{name} {sum(real[t] == 'passed' for t in ids)}/{len(ids)} pass with "
                        f"shutil, {sum(ours.get(t) == 'passed' for t in ids)}/{len(ids)} "
                        f"with fastlink"
                    )
                print(
                    f"CPython {results['shutil']['python']} on {fs}: "
                    f"shutil: {counts(real)}; fastlink: {counts(ours)}; " + "; ".join(per_class)
                )
                for t in sorted(set(real) | set(ours)):
                    if real.get(t) != ours.get(t):
                        print(f"  {t}: shutil {real.get(t)}, fastlink {ours.get(t)}")
                for t in regressions:
                    print(f"  REGRESSION {t}:\n{results['fastlink']['details'].get(t, '')}")
                if not passing:
                    print("  nothing passed with shutil's functions: the run is not meaningful")
                    failed = True
                failed = failed or bool(regressions)
                runs.append(
                    {
                        "fs": fs,
                        "python": results["shutil"]["python"],
                        "test_shutil": results["shutil"]["test_shutil"],
                        "shutil": real,
                        "fastlink": ours,
                        "regressions": regressions,
                    }
                )
        except RuntimeError as e:
            print(f"cpython-copytree: {e}", file=sys.stderr)
            failed = True
        finally:
            ctx.__exit__(None, None, None)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(runs, f, indent=1)
    verdict = "FAILED" if failed else "every test passing with shutil's functions passes"
    print(f"cpython-copytree: {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
