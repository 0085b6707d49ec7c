"""The built wheel, installed non-editable, finds its grammar and computes a gradient.

The wheel is installed with ``pip install --no-deps --target DIR`` and imported
with PYTHONPATH=DIR from a directory outside the checkout, so neither the
editable install nor the top-level grammars/ directory can be what answers.
Not marked or skipped: it runs with the rest of the suite, in CI too (a few seconds).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent




def _pip(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    build = _pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), str(ROOT),
                 cwd=tmp)
    if build.returncode != 0:  # no hatchling in this environment: let pip fetch it
        build = _pip("wheel", "--no-deps", "-w", str(tmp / "dist"), str(ROOT), cwd=tmp)
    assert build.returncode == 0, build.stderr[-2000:]
    [wheel] = list((tmp / "dist").glob("backprop_cli-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        assert "backprop/grammars/expr.lark" in z.namelist()
    target = tmp / "site"
    inst = _pip("install", "--no-deps", "--no-index", "--target", str(target), str(wheel), cwd=tmp)
    assert inst.returncode == 0, inst.stderr[-2000:]
    return target


def _python(code: str, site: Path, cache_home: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    if cache_home is not None:
        env["XDG_CACHE_HOME"] = str(cache_home)
    # -I would drop PYTHONPATH; -s keeps user site-packages out. The editable install
    # stays on sys.path after PYTHONPATH, so the test checks which copy was imported.
    return subprocess.run([sys.executable, "-s", "-c", code], cwd=site.parent, env=env,
                          capture_output=True, text=True, timeout=120)


def test_installed_wheel_finds_its_grammar_and_differentiates(installed: Path) -> None:
    code = (
        "import json, backprop\n"
        "from backprop.core import parser\n"
        "f = backprop.parse('2/sin(exp(-x))')\n"
        "v, g = f.value_and_grad(x=-4.499)\n"
        "print(json.dumps({'module': backprop.__file__, 'grammar': str(parser._grammar_path()),"
        " 'value': v, 'grad': g['x']}))\n"
    )
    p = _python(code, installed)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert Path(out["module"]).resolve().is_relative_to(installed.resolve())
    grammar = Path(out["grammar"]).resolve()
    assert grammar.is_relative_to(installed.resolve()) and grammar.is_file()
    import math

    b = math.exp(4.499)
    assert out["value"] == pytest.approx(2 / math.sin(b), rel=1e-14)
    assert out["grad"] == pytest.approx(-2 / math.sin(b) ** 2 * math.cos(b) * b * -1, rel=1e-12)


def test_installed_command_line(installed: Path) -> None:
    p = _python("import sys; from backprop.cli import main; "
                "sys.exit(main(['grad', 'x^2', '--at', '3', '--format', 'json']))", installed)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"at": {"x": 3.0}, "value": 9.0, "grad": {"x": 6.0}}


def test_installed_wheel_finds_the_lesson_page_template(installed: Path) -> None:
    p = _python("import sys, backprop; from backprop.views import lesson; "
                "from backprop.core.function import parse; "
                "page = lesson.lesson_page(parse('x^2'), {'x': 3.0}, layout='layered'); "
                "print(lesson.__file__); print(page.count('id=\"lesson-data\"'))", installed)
    assert p.returncode == 0, p.stderr
    module, count = p.stdout.split()
    assert Path(module).resolve().is_relative_to(installed.resolve()) and count == "1"


def test_installed_wheel_caches_its_parser_tables_privately(installed: Path, tmp_path: Path) -> None:
    """The wheel's grammar (inside the package) keys a cache in the user's cache directory."""
    code = ("import sys; from backprop.cli import main; "
            "sys.exit(main(['grad', 'x^3', '--at', '2', '--format', 'csv']))")
    first = _python(code, installed, tmp_path)
    assert (first.returncode, first.stderr) == (0, "")
    assert first.stdout == "x,f,df/dx\n2.0,8.0,12.0\n"  # 2^3, 3 * 2^2
    folder = tmp_path / "backprop"
    [cache] = folder.glob("*.lark-cache")
    assert folder.stat().st_mode & 0o777 == 0o700 and cache.stat().st_mode & 0o777 == 0o600
    written = cache.stat().st_mtime_ns
    second = _python(code, installed, tmp_path)
    assert (second.returncode, second.stdout, second.stderr) == (0, first.stdout, "")
    assert cache.stat().st_mtime_ns == written  # loaded, not rebuilt
