"""`import fastlink` and the command line's modules load no module they do not
need on every run: every installer's process, and every `fastlink install`,
pays for each one (typing, shutil and json cost about 10 ms together), and so
does building a command's parser. The shutil drop-ins and `MethodName` are
loaded on first use; json only for `--json`.

Each check runs in a fresh interpreter, whose `sys.modules` it reports.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

NOT_AT_IMPORT = ("typing", "shutil", "json", "subprocess")


def _modules_after(code: str) -> set[str]:
    # Taken before json is imported to print them.
    probe = f"import sys\n{code}\nseen = sorted(sys.modules)\nimport json\nprint(json.dumps(seen))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(proc.stdout))


@pytest.mark.parametrize(
    "code", ["import fastlink", "import fastlink._cli", "import fastlink._cli_install"]
)
def test_importing_loads_no_module_a_plain_run_does_not_need(code):
    loaded = _modules_after(code)
    assert not loaded & set(NOT_AT_IMPORT), sorted(loaded & set(NOT_AT_IMPORT))


def test_the_shutil_drop_ins_and_method_name_are_loaded_on_first_use():
    code = (
        "import fastlink, fastlink._copyfile as f, fastlink._copytree as t\n"
        "from fastlink import copy2, copyfile, copytree, MethodName\n"
        "assert (copy2, copyfile, copytree) == (f.copy2, f.copyfile, t.copytree)\n"
        "assert fastlink.copy2 is copy2 and 'copytree' in vars(fastlink)\n"
        "assert MethodName.__args__ == ('reflink', 'hardlink', 'copy')\n"
        "try:\n"
        "    fastlink.no_such_name\n"
        "except AttributeError as err:\n"
        "    assert 'no_such_name' in str(err)\n"
        "else:\n"
        "    raise AssertionError('fastlink.no_such_name')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    "module", ["fastlink._cli", "fastlink._cli_install", "fastlink._cli_probe"]
)
def test_building_a_commands_parser_loads_no_module_a_plain_run_does_not_need(module):
    # argparse's formatters find the terminal's width with shutil unless given it.
    loaded = _modules_after(f"import {module} as cli\ncli._parser().format_help()")
    assert not loaded & set(NOT_AT_IMPORT), sorted(loaded & set(NOT_AT_IMPORT))
