"""Real wheel files, written by a test with zipfile.

write_wheel(path, members, dist_info) zips `members` (path in the wheel ->
(content, mode); the dist-info's METADATA and WHEEL among them) and adds the
RECORD listing every member's sha256 and size, so pip and importlib.metadata
accept the wheel as a built one.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import stat
import zipfile
from collections.abc import Mapping
from pathlib import Path


def record_hash(content: bytes) -> str:
    """A RECORD hash field: sha256, urlsafe base64 without padding."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def record_text(members: Mapping[str, tuple[bytes, int]], dist_info: str) -> str:
    """RECORD for `members`, written as CSV (a name may hold a comma or a
    quote), with RECORD's own row last and bare."""
    out = io.StringIO()
    rows = csv.writer(out, lineterminator="\n")
    for name, (content, _) in members.items():
        rows.writerow([name, record_hash(content), len(content)])
    rows.writerow([f"{dist_info}/RECORD", "", ""])
    return out.getvalue()


def write_wheel(path: Path, members: Mapping[str, tuple[bytes, int]], dist_info: str) -> Path:
    """Write the wheel `path`: `members` with their unix modes, plus
    `<dist_info>/RECORD`. Returns `path`."""
    record = record_text(members, dist_info)
    with zipfile.ZipFile(path, "w") as zf:
        for name, (content, mode) in {
            **members,
            f"{dist_info}/RECORD": (record.encode(), 0o644),
        }.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.create_system = 3  # unix: external_attr carries st_mode
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, content)
    return path
