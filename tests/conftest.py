"""Test configuration shared by the test files."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # Run by default; deselect with -m "not slow".
    config.addinivalue_line("markers", "slow: a case that takes several seconds (big inputs)")
