"""The path types test helpers take, and their bytes form (os.fsencode), so
that names which are not valid UTF-8 round-trip exactly."""

from __future__ import annotations

import os
from typing import Union

Name = Union[str, bytes]
PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]


def fsbytes(name: Name | PathLike) -> bytes:
    return os.fsencode(name)
