"""The README's and docs/api.md's snippets, as a new user types them, checked
with `mypy --strict` (`make typecheck`, and test_readme_snippets_type_check.py).

It is never run. Each snippet is written the way the docs show it, with the
annotations a strict user adds; none may need a cast or a `type: ignore`.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
from collections.abc import Iterable

import fastlink
from typing_extensions import assert_type

log = logging.getLogger("installer")


def readme_first_call() -> None:
    report = fastlink.clone_or_copy(
        "cache/numpy-2.4.6", "venv/lib/python3.11/site-packages", dirs_exist_ok=True
    )
    print(report.method, report.files)
    for method, errno_, message in report.skipped:
        print(method, errno_, message)
    for method, errno_, files, message in report.fallbacks:
        print(method, errno_, files, message)


def readme_probe(src: str, venv: str) -> bool:
    # "fastlink.probe(src, dst_dir) -> dict[str, bool]", as the README says.
    caps: dict[str, bool] = fastlink.probe(src, venv)
    return caps["reflink"]


def methods_from_a_config_string(cfg: str, src: str, dst: str) -> fastlink.Report:
    # A setting such as "reflink,copy", split as the docs' FASTLINK_METHODS is.
    return fastlink.clone_or_copy(src, dst, methods=cfg.split(","))


def methods_from_any_iterable(names: Iterable[str], src: str, dst: str) -> None:
    fastlink.clone_or_copy(src, dst, methods=names)
    fastlink.clone_or_copy(src, dst, methods=tuple(names))
    fastlink.clone_files(src, dst, ["a.py"], methods=list(names))
    fastlink.install_wheels(["w.whl"], python="venv/bin/python", methods=names)


def a_user_names_the_method_type(preferred: fastlink.MethodName) -> list[fastlink.MethodName]:
    chosen: list[fastlink.MethodName] = [preferred, "copy"]
    fastlink.clone_or_copy("a", "b", methods=chosen)
    report = fastlink.clone_or_copy("a", "b", methods=preferred)
    used: fastlink.MethodName = report.method
    return [used]


def install_readme_wheel() -> None:
    installed = fastlink.install_wheels(
        ["wheels/black-26.10.1-cp311-cp311-manylinux_2_17_x86_64.whl"], python="venv/bin/python"
    )
    for dist in installed:
        print(dist.name, dist.version, dist.report.method)


def api_file_list(unpacked_wheel: str, site_packages: str, record_text: str) -> None:
    files = [
        row.split(",")[0] for row in record_text.splitlines() if row and not row.startswith("../")
    ]
    report = fastlink.clone_files(unpacked_wheel, site_packages, files)
    assert_type(report, fastlink.Report)


def api_ignore(src: str, dst: str) -> None:
    fastlink.clone_or_copy(src, dst, ignore=shutil.ignore_patterns("*.pyc", "__pycache__"))


_warned: set[tuple[str, int]] = set()


def api_warn_once(cache_entry: str, site_packages: str) -> fastlink.Report:
    report = fastlink.clone_or_copy(cache_entry, site_packages, dirs_exist_ok=True)
    for method, errno_, message in report.skipped:
        if (method, errno_) not in _warned:
            _warned.add((method, errno_))
            log.warning("%s; used %s instead", message, report.method)
    for method, errno_, files, message in report.fallbacks:
        if (method, errno_) not in _warned:
            _warned.add((method, errno_))
            log.warning("%s: %d file(s) used the next allowed method", message, files)
    return report


def report_as_data(report: fastlink.Report) -> None:
    as_dict: dict[str, object] = report.to_dict()
    double = fastlink.Report(method="reflink", files=2, reflinked=2, elapsed=0.1)
    skipped = fastlink.Report(skipped=[("reflink", errno.EXDEV, "reflink not possible")])
    print(as_dict, double == skipped)


def paths_as_users_have_them(src: os.PathLike[str], dst: bytes) -> None:
    fastlink.clone_or_copy(src, os.fsdecode(dst))
    fastlink.probe(os.fspath(src), dst)


def api_copy2_and_copyfile(site_packages: os.PathLike[str]) -> None:
    from fastlink import copy2, copyfile

    placed: str = copy2("cache/numpy/core.so", "venv/lib/site-packages/numpy/")
    assert_type(copyfile("template.cfg", "setup.cfg"), str)
    assert_type(copyfile(b"template.cfg", b"setup.cfg"), bytes)
    into = copy2("cache/numpy/core.so", site_packages)  # the path, or the file in it
    fastlink.copytree("build/lib", "dist/lib", copy_function=copy2)
    shutil.copytree("build/lib", "dist/lib", copy_function=fastlink.copy2)
    print(placed, os.fspath(into))
