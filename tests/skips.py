"""Skipping a test whose environment is missing, except under CI."""

from __future__ import annotations

import os

import pytest


def skip_or_fail(reason: str) -> None:
    """Skip locally, but never let CI go green by skipping."""
    if os.environ.get("CI"):
        pytest.fail(f"required test environment unavailable in CI: {reason}", pytrace=False)
    pytest.skip(reason)
