"""Test configuration shared by the test files."""

from __future__ import annotations

import os

import pytest

# sin and cos over arrays from numpy in every test but tests/test_vector_math.py, which
# switches to MKL's itself: the suite holds numpy's bits, whatever extras are installed
os.environ["BACKPROP_VECTOR_MATH"] = "numpy"


@pytest.fixture(autouse=True, scope="session")
def _cache_home_of_the_run(tmp_path_factory: pytest.TempPathFactory):
    """The parser's table cache goes to a directory of this test run, not to ~/.cache."""
    import os

    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache-home"))
    yield
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old
