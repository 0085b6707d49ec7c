"""Start-up: the parser's table cache, and what a command imports.

No timing here (that is bench/bench_startup.py): these check the mechanisms the
start-up depends on, each in a fresh process, as a user would start the command:
the cache lands in the user's cache directory, private; a corrupt, foreign or
impossible cache changes nothing but the speed; a CSV or JSON run never loads
rich; a command loads only its own module.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from backprop.core import parser
from clikit import run_backprop

# d/dx x^2 = 2x: at x = 3, the value 9 and the derivative 6 (by hand).
ARGS = ["grad", "x^2", "--at", "3", "--format", "csv"]
EXPECTED = "x,f,df/dx\n3.0,9.0,6.0\n"


def run(env_changes: dict[str, str | None], *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    for k, v in env_changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return run_backprop(*(args or ARGS), env=env, timeout=120)


def cache_files(folder: Path) -> list[Path]:
    """The cache files in ``folder`` (beside them: the lock file, parser.lock)."""
    return sorted(p for p in folder.iterdir() if p.name != "parser.lock") if folder.is_dir() else []


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---- the cache: where, and with which permissions ----------------------------------------

def test_cache_is_made_in_xdg_cache_home_private_and_then_used(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"  # does not exist yet
    first = run({"XDG_CACHE_HOME": str(xdg)})
    assert (first.returncode, first.stdout, first.stderr) == (0, EXPECTED, "")
    folder = xdg / "backprop"
    [cache] = cache_files(folder)  # one file, nothing else left behind
    assert cache.name.endswith(".lark-cache")
    assert mode(folder) == 0o700 and mode(cache) == 0o600 and mode(folder / "parser.lock") == 0o600
    if hasattr(os, "getuid"):
        assert folder.stat().st_uid == os.getuid()
    before = (cache.stat().st_mtime_ns, cache.read_bytes())
    second = run({"XDG_CACHE_HOME": str(xdg)})
    assert (second.returncode, second.stdout, second.stderr) == (0, EXPECTED, "")
    # loaded, not rebuilt: Lark rewrites the file only when it could not use it
    assert (cache.stat().st_mtime_ns, cache.read_bytes()) == before
    assert cache_files(folder) == [cache]


def test_without_xdg_cache_home_the_cache_is_under_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    # a relative XDG_CACHE_HOME is invalid by the XDG spec, and ignored
    p = run({"XDG_CACHE_HOME": "relative/cache", "HOME": str(home)})
    assert (p.returncode, p.stdout, p.stderr) == (0, EXPECTED, "")
    folder = home / ".cache" / "backprop"
    assert len(cache_files(folder)) == 1 and mode(folder) == 0o700
    assert not (tmp_path / "relative").exists()


def test_cache_dir_function_honours_the_environment(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    assert parser.cache_dir() == tmp_path / "c" / "backprop"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c" / "backprop" / "not-a-dir"))
    (tmp_path / "c" / "backprop" / "not-a-dir").write_text("a file")
    assert parser.cache_dir() is None


# ---- the cache key ----------------------------------------------------------------------

def test_cache_file_changes_with_the_grammar_and_lark_version(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    grammar = parser._grammar_path().read_text(encoding="utf-8")
    here = parser._cache_file(grammar)
    assert here is not None and here.parent == tmp_path / "backprop"
    assert parser._cache_file(grammar) == here  # stable
    assert parser._cache_file(grammar + "\n// one more line\n") != here
    monkeypatch.setattr(parser, "LARK_VERSION", "0.0.0")
    assert parser._cache_file(grammar) != here


def test_a_cache_for_another_grammar_is_not_used(tmp_path: Path) -> None:
    """Lark's own key inside the file (grammar + options + versions) is checked too."""
    import lark

    grammar = parser._grammar_path().read_text(encoding="utf-8")
    other = 'start: "a"\n'
    cache = tmp_path / "planted.lark-cache"
    lark.Lark(other, parser="lalr", cache=str(cache))  # a valid cache, for another grammar
    built = parser._build_parser(grammar, parser._ToGraph(), cache)
    assert {t.name for t in built.terminals} >= {"NAME", "NUMBER", "POW"}


# ---- failures of the cache change nothing but the speed -----------------------------------

def test_a_corrupt_cache_is_rebuilt_with_the_same_result(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    assert run({"XDG_CACHE_HOME": str(xdg)}).returncode == 0
    [cache] = cache_files(xdg / "backprop")
    for garbage in (b"", b"not a cache\n", cache.read_bytes()[: cache.stat().st_size // 2]):
        cache.write_bytes(garbage)
        p = run({"XDG_CACHE_HOME": str(xdg)})
        assert (p.returncode, p.stdout, p.stderr) == (0, EXPECTED, "")
        assert cache.read_bytes() != garbage  # written again, whole
        assert mode(cache) == 0o600


def test_an_impossible_cache_directory_falls_back_to_building(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    p = run({"XDG_CACHE_HOME": str(blocker)})
    assert (p.returncode, p.stdout, p.stderr) == (0, EXPECTED, "")
    assert blocker.read_text() == "not a directory"


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs a path no one can create: /proc")
def test_a_missing_or_read_only_home_falls_back_to_building() -> None:
    # /proc refuses new directories even to root: a home that cannot hold a cache
    p = run({"XDG_CACHE_HOME": None, "HOME": "/proc/self/no-such-home"})
    assert (p.returncode, p.stdout, p.stderr) == (0, EXPECTED, "")
    p = run({"XDG_CACHE_HOME": None, "HOME": None})
    assert (p.returncode, p.stdout) == (0, EXPECTED)


def test_a_directory_writable_by_others_is_not_used(tmp_path: Path) -> None:
    folder = tmp_path / "xdg" / "backprop"
    folder.mkdir(parents=True)
    folder.chmod(0o777)
    p = run({"XDG_CACHE_HOME": str(tmp_path / "xdg")})
    assert (p.returncode, p.stdout, p.stderr) == (0, EXPECTED, "")
    assert cache_files(folder) == []  # nothing written where others could replace it


def test_a_cache_file_writable_by_others_is_not_read(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    assert run({"XDG_CACHE_HOME": str(xdg)}).returncode == 0
    [cache] = cache_files(xdg / "backprop")
    cache.write_bytes(b"planted by someone else\n")
    cache.chmod(0o666)
    p = run({"XDG_CACHE_HOME": str(xdg)})
    assert (p.returncode, p.stdout, p.stderr) == (0, EXPECTED, "")
    # not read (Lark would have rebuilt and rewritten it), not touched
    assert cache.read_bytes() == b"planted by someone else\n" and mode(cache) == 0o666


# ---- what a run imports -----------------------------------------------------------------

def imported_after(args: list[str]) -> set[str]:
    code = textwrap.dedent(f"""
        import contextlib, io, sys
        from backprop.cli import main
        with contextlib.redirect_stdout(io.StringIO()):
            code = main({args!r})
        assert code == 0, code
        print(" ".join(sorted(sys.modules)))
    """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return set(p.stdout.split())


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_csv_and_json_do_not_load_rich(fmt: str) -> None:
    mods = imported_after(["grad", "x^2", "--at", "3", "--format", fmt])
    assert "backprop.cli.grad" in mods
    assert not any(m == "rich" or m.startswith("rich.") for m in mods)


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_points_typed_one_by_one_do_not_load_numpy(fmt: str) -> None:
    """One point or a few: the float passes (the math module), no numpy to import."""
    mods = imported_after(["grad", "2/sin(exp(-x))", "--at", "-4.499", "--at", "x=pi/4",
                           "--format", fmt])
    assert "backprop.core.scalar" in mods
    assert not any(m == "numpy" or m.startswith("numpy.") for m in mods)


@pytest.mark.parametrize("args", [
    ["grad", "x^2", "--at", "-"],  # a stream: arrays
    ["grad", "log(x)", "--at", "0", "--format", "csv"],  # math raises: numpy's -inf and warning
    ["grad", "x^2", "--at", "inf", "--format", "csv"],  # not finite: numpy's passes
])
def test_streams_and_non_finite_points_do_load_numpy(args: list[str]) -> None:
    """The check above can fail: where the float passes cannot answer, numpy's do."""
    code = textwrap.dedent(f"""
        import contextlib, io, sys
        from backprop.cli import main
        sys.stdin = io.StringIO("3\\n")
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            code = main({args!r})
        assert code == 0, code
        print("numpy" in sys.modules)
    """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (p.returncode, p.stdout.strip()) == (0, "True"), p.stderr


def test_a_table_loads_rich() -> None:
    """The check above can fail: drawing a table does load rich."""
    assert "rich" in imported_after(["grad", "x^2", "--at", "3"])


def test_a_command_loads_only_its_own_module() -> None:
    mods = imported_after(["grad", "x^2", "--at", "3", "--format", "csv"])
    commands = {m for m in mods if m.startswith("backprop.cli.") and m != "backprop.cli.common"}
    assert commands == {"backprop.cli.grad"}


def test_help_loads_no_command_nor_numpy_nor_rich() -> None:
    mods = imported_after(["--help"])
    assert not {"numpy", "rich", "lark"} & mods
    assert not any(m.startswith("backprop.cli.") for m in mods)


# ---- the listing of `backprop --help` ----------------------------------------------------

def test_help_lists_every_command_in_order_with_its_own_summary() -> None:
    from backprop.cli import COMMANDS, _click_command

    p = run({}, "--help")
    assert p.returncode == 0
    listing = p.stdout.split("Commands:", 1)[1]
    names = [line.split()[0] for line in listing.splitlines() if line.startswith("  ") and
             not line.startswith("   ")]
    assert names == ["grad", "hessian", "diff", "compare", "descend", "graph", "train", "predict",
                     "evaluate"]
    assert names == list(COMMANDS)
    root = _click_command()
    for name, summary in COMMANDS.items():
        cmd = root.get_command(None, name)
        first_paragraph = " ".join(cmd.help.split("\n\n")[0].split())
        assert summary == first_paragraph, name
        assert " ".join(summary.split()[:3]) in " ".join(listing.split())


def test_each_command_answers_its_help() -> None:
    from backprop.cli import COMMANDS

    for name in COMMANDS:
        p = run({}, name, "--help")
        assert p.returncode == 0 and f"Usage: backprop {name}" in p.stdout, name
        assert "\\[" not in p.stdout, name  # help is plain text: no rich markup escapes
