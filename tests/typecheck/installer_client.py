"""A small installer-shaped client of fastlink, checked with `mypy --strict` in CI.

It is never run: it pins down that the stubs let a typical caller type-check
cleanly, and (through `type: ignore` comments, which strict mode reports
when unused) that misuse is rejected.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Literal

import fastlink
from typing_extensions import assert_type

log = logging.getLogger("installer")
_warned: set[tuple[str, int]] = set()


def show(progress: fastlink.Progress) -> None:
    done: int = progress.files_done + progress.bytes_done
    total: int = progress.files_total + progress.bytes_total
    log.debug("%d/%d", done, total)


def install(cache_entry: Path, site_packages: str | os.PathLike[str]) -> int:
    try:
        report = fastlink.clone_or_copy(
            cache_entry,
            site_packages,
            methods=("reflink", "copy"),
            dirs_exist_ok=True,
            overwrite=False,
            preserve_times=True,
            threads=4,
            progress=show,
        )
    except fastlink.CrossDeviceError as err:
        log.error("%s -> %s: errno %d", err.filename, err.filename2, err.errno)
        return 3
    except fastlink.FastlinkError as err:
        log.error("%s", err.strerror)
        return 1
    assert_type(report, fastlink.Report)
    assert_type(report.method, Literal["reflink", "hardlink", "copy"])
    for method, errno, message in report.skipped:
        # Warn once per reason, as an installer should.
        if (method, errno) not in _warned:
            _warned.add((method, errno))
            log.warning("%s", message)
    files: int = report.reflinked + report.hardlinked + report.copied
    seconds: float = report.elapsed
    log.info("%d files, %d bytes in %.2f s", files, report.bytes, seconds)
    return 0


def misuse() -> None:
    # Options are keyword-only. The ignore has no code: mypy 2 calls this
    # error call-arg, the mypy 1 releases that CPython 3.9 still gets call it misc.
    fastlink.clone_or_copy("a", "b", "copy")  # type: ignore
    # Method names are any str (a config's "reflink,copy".split(",")), checked
    # at run time (ValueError); bytes are not names.
    fastlink.clone_or_copy("a", "b", methods=b"copy")  # type: ignore[arg-type]
    fastlink.clone_or_copy("a", "b", methods=[b"copy"])  # type: ignore[list-item]
    # A progress callback takes a Progress.
    fastlink.clone_or_copy("a", "b", progress=lambda n, m: None)  # type: ignore[arg-type,misc]
    # The report is read-only.
    fastlink.clone_or_copy("a", "b").files = 0  # type: ignore[misc]
    assert_type(fastlink.__version__, str)
    assert_type(fastlink.probe("a", "b"), dict[str, bool])
