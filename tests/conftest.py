"""Test configuration shared by the test files."""

from __future__ import annotations

import os
import resource
import subprocess
from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture(autouse=True)
def _in_a_folder_of_its_own(tmp_path_factory: pytest.TempPathFactory,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in an empty temporary folder: a command that writes to a relative
    path (train's default runs/..., a model named by a fuzzed config) writes there, never
    into the checkout the suite runs from."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


# Tests whose programs reserve address space far beyond what they use: Chromium (the lesson
# page's browser tests) maps terabytes for its sandboxes and heaps, libFuzzer its shadow
_UNLIMITED_FILES = {"test_lesson_browser.py", "test_fuzz_atheris.py"}


@pytest.fixture(autouse=True)
def _memory_limit_for_every_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test, and every process it starts, under a memory limit: the address space
    this process holds now plus clikit.MEMORY_LIMIT_BYTES (the soft RLIMIT_AS, inherited by
    subprocesses; restored afterwards). A command a test runs in any way, not only through
    tests/clikit.py, thus meets a limit like a user's machine instead of taking the test
    machine's memory; clikit's own runs are held to the tighter 3 GiB of their own."""
    if request.path.name in _UNLIMITED_FILES:
        yield
        return
    from clikit import MEMORY_LIMIT_BYTES, _address_space

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _address_space() + MEMORY_LIMIT_BYTES
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    if soft != resource.RLIM_INFINITY:
        cap = min(cap, soft)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


# -- the checkout is left as the suite found it ---------------------------------------

ROOT = Path(__file__).resolve().parent.parent
# what running Python and the tests may leave (all in .gitignore)
_CACHES = {".git", "__pycache__", ".pytest_cache", ".hypothesis"}


def _checkout_paths() -> set[str]:
    """Every file and folder of the checkout, caches aside (empty folders too, which
    git does not see)."""
    found: set[str] = set()
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in _CACHES and not d.endswith(".egg-info")]
        rel = Path(folder).relative_to(ROOT)
        found.update(str(rel / name) for name in [*dirs, *files])
    return found


def _git_status() -> set[str] | None:
    """``git status --porcelain`` of the checkout (untracked files named one by one);
    None when it is not a git work tree."""
    try:
        run = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return set(run.stdout.splitlines()) if run.returncode == 0 else None


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_BEFORE] = (_checkout_paths(), _git_status())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The last check of every run: nothing new in the checkout, neither a file nor an
    empty folder, and nothing new in ``git status`` when it is a git work tree. A failure
    fails the run (exit 1) and names what was written."""
    if _BEFORE not in session.config.stash or session.config.getoption("collectonly"):
        return
    paths, status = session.config.stash[_BEFORE]
    new = sorted(_checkout_paths() - paths)
    now = _git_status()
    changed = sorted(now - status) if now is not None and status is not None else []
    if new or changed:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = ("the tests wrote into the checkout " + str(ROOT) + ": "
                   + ", ".join(new + [f"git status: {line}" for line in changed])
                   + " (every test runs in a temporary folder: see tests/conftest.py; a file"
                   " edited by hand while the tests ran shows here too)")
        if reporter is not None:
            reporter.write("\n")
            reporter.write_sep("=", "checkout not clean", red=True)
            reporter.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_BEFORE = pytest.StashKey[tuple[set[str], "set[str] | None"]]()
