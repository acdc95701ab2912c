"""What the README shows type-checks as a new user writes it (issue 20,
friction 2): `caps: dict[str, bool] = fastlink.probe(...)`, `methods=` given a
`cfg.split(",")`, and a public `fastlink.MethodName` to annotate with.

tests/typecheck/ holds the clients (the README's and docs/api.md's snippets,
and an installer-shaped one pinning misuse); `mypy --strict` checks them
against the installed package's stubs, here and in `make typecheck`.
"""

from __future__ import annotations

import subprocess
import sys
import typing
from pathlib import Path

import fastlink
import pytest

CLIENTS = sorted((Path(__file__).parent / "typecheck").glob("*.py"))


def test_the_readme_clients_pass_mypy_strict(tmp_path):
    pytest.importorskip("mypy", reason="mypy is in the test extra")
    assert [p.name for p in CLIENTS] == ["installer_client.py", "readme_client.py"]
    mypy = [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache")]
    r = subprocess.run(
        [*mypy, *map(str, CLIENTS)],
        cwd=tmp_path,  # the installed fastlink, never the source tree's
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_method_name_is_public_and_names_every_method():
    assert "MethodName" in fastlink.__all__
    from fastlink import MethodName

    assert typing.get_origin(MethodName) is typing.Literal
    assert typing.get_args(MethodName) == ("reflink", "hardlink", "copy")
    assert set(typing.get_args(MethodName)) == set(fastlink.probe(__file__, Path(__file__).parent))


def test_methods_take_what_users_naturally_pass(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f").write_bytes(b"x")
    cfg = "hardlink, copy"
    given = [
        [name.strip() for name in cfg.split(",")],
        ("copy",),
        (name for name in ["copy"]),
        "copy",
    ]
    for i, methods in enumerate(given):
        report = fastlink.clone_or_copy(tmp_path / "src", tmp_path / f"dst{i}", methods=methods)
        assert report.files == 1
    caps: dict[str, bool] = fastlink.probe(tmp_path / "src", tmp_path)
    assert type(caps) is dict and caps["copy"] is True
