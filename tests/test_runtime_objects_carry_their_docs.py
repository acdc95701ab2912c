"""help() at run time shows what the stubs say (issue 20, friction 1).

Every public function, class, property and method of `fastlink` carries a
non-empty `__doc__`, and for what the extension defines it is the stub's
docstring (`_fastlink.pyi`), word for word: the two are written twice (a
stub cannot borrow a docstring), so this test keeps them one text.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import fastlink
import fastlink._fastlink as extension
import pytest

STUB = Path(extension.__file__).with_name("_fastlink.pyi")


def _words(doc: str | None) -> str:
    return " ".join((doc or "").split())


def _stub_docs() -> dict[str, str | None]:
    """Docstrings of the stub's public functions, classes and their members,
    by dotted name ("Report", "Report.files", "probe")."""
    docs: dict[str, str | None] = {}
    for node in ast.parse(STUB.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            docs.setdefault(node.name, ast.get_docstring(node))
            if isinstance(node, ast.ClassDef):
                for member in node.body:
                    if isinstance(member, ast.FunctionDef) and not member.name.startswith("_"):
                        docs[f"{node.name}.{member.name}"] = ast.get_docstring(member)
    return docs


STUB_DOCS = _stub_docs()


def _public_objects() -> dict[str, object]:
    """Every public callable and class of fastlink, and the public members of
    its classes (exception classes bring OSError's own, which are not ours)."""
    found: dict[str, object] = {}
    for name in fastlink.__all__:
        obj = getattr(fastlink, name)
        if not (inspect.isroutine(obj) or isinstance(obj, type)):
            continue  # __version__, and MethodName (a typing.Literal)
        found[name] = obj
        if isinstance(obj, type) and not issubclass(obj, BaseException):
            for member, value in vars(obj).items():
                if not member.startswith("_"):
                    found[f"{name}.{member}"] = value
    return found


PUBLIC = _public_objects()


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_every_public_object_has_a_docstring_at_run_time(name):
    doc = getattr(PUBLIC[name], "__doc__", None)
    assert doc and doc.strip(), f"fastlink.{name} has no __doc__ at run time"


@pytest.mark.parametrize("name", sorted(n for n in PUBLIC if n in STUB_DOCS))
def test_the_run_time_docstring_is_the_stubs(name):
    stub_doc = STUB_DOCS[name]
    assert stub_doc, f"the stub documents nothing for {name}"
    assert _words(PUBLIC[name].__doc__) == _words(stub_doc), name


def test_every_public_name_the_extension_defines_is_in_the_stub():
    missing = [
        name
        for name in PUBLIC
        if getattr(PUBLIC[name], "__module__", "fastlink") != "fastlink._install"
        and name.split(".")[0] in dir(extension)
        and name not in STUB_DOCS
    ]
    assert missing == []


def test_help_of_clone_or_copy_says_more_than_one_sentence():
    text = fastlink.clone_or_copy.__doc__ or ""
    for needle in ("FASTLINK_METHODS", "dirs_exist_ok", "progress", "ignore", "CrossDeviceError"):
        assert needle in text, needle


def test_report_and_progress_document_themselves_and_every_property():
    for cls in (fastlink.Report, fastlink.Progress):
        assert cls.__doc__, cls
        for name, member in vars(cls).items():
            if isinstance(member, type(fastlink.Report.files)) and not name.startswith("_"):
                assert member.__doc__, f"{cls.__name__}.{name}"
