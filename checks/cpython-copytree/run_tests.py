"""One run of CPython's own copytree, copy2 and copyfile tests: `test.test_shutil`'s
TestCopyTree, TestMove, TestCopy and TestCopyFile, as shipped with the interpreter
that runs this, in the current directory.

    python run_tests.py shutil|fastlink RESULTS.json

`fastlink` first sets `shutil.copytree = fastlink.copytree`, `shutil.copy2 =
fastlink.copy2` and `shutil.copyfile = fastlink.copyfile` (shutil.move and
shutil.copy call them through the module too); `shutil` runs the tests against the
real ones. Every test's
outcome (passed, failed, error, skipped, expected failure, unexpected success) goes
to RESULTS.json with the interpreter's version and where fastlink came from. Run by
check.py, which compares the two modes.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import unittest

CLASSES = ("TestCopyTree", "TestMove", "TestCopy", "TestCopyFile")


class RecordingResult(unittest.TextTestResult):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.outcomes: dict[str, str] = {}

    def _set(self, test, outcome, detail=""):
        self.outcomes[test.id()] = outcome
        if detail:
            self.outcomes[test.id() + ":detail"] = detail

    def addSuccess(self, test):
        super().addSuccess(test)
        self._set(test, "passed")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._set(test, "failed", self._exc_info_to_string(err, test))

    def addError(self, test, err):
        super().addError(test, err)
        self._set(test, "error", self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._set(test, "skipped", reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._set(test, "expected failure")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._set(test, "unexpected success")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            kind = "failed" if issubclass(err[0], test.failureException) else "error"
            self._set(test, kind, self._exc_info_to_string(err, test))


def main() -> int:
    mode, out = sys.argv[1], sys.argv[2]
    from test import test_shutil

    info = {
        "mode": mode,
        "python": platform.python_version(),
        "executable": sys.executable,
        "test_shutil": test_shutil.__file__,
        "cwd": os.getcwd(),
    }
    if mode == "fastlink":
        import fastlink

        shutil.copytree = fastlink.copytree
        shutil.copy2 = fastlink.copy2
        shutil.copyfile = fastlink.copyfile
        info["fastlink"] = fastlink.__file__
        info["extension"] = fastlink._fastlink.__file__
    elif mode != "shutil":
        raise SystemExit(f"mode is shutil or fastlink, not {mode!r}")
    loader = unittest.TestLoader()
    suite = unittest.TestSuite(
        loader.loadTestsFromTestCase(getattr(test_shutil, name)) for name in CLASSES
    )
    runner = unittest.TextTestRunner(stream=sys.stderr, verbosity=1, resultclass=RecordingResult)
    result = runner.run(suite)
    outcomes = {k: v for k, v in result.outcomes.items() if not k.endswith(":detail")}
    details = {k[: -len(":detail")]: v for k, v in result.outcomes.items() if k.endswith(":detail")}
    with open(out, "w") as f:
        json.dump({**info, "outcomes": outcomes, "details": details}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
