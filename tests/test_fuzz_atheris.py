"""The coverage-guided parser fuzzer (fuzz/run_short.sh) for 30 s, when atheris is installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_short_atheris_run_finds_no_crash() -> None:
    pytest.importorskip("atheris")
    p = subprocess.run(["bash", str(ROOT / "fuzz" / "run_short.sh"), "30"], capture_output=True,
                       timeout=180, env={**os.environ, "PYTHON": sys.executable})
    log = p.stderr.decode("utf-8", "replace")
    assert p.returncode == 0, log[-4000:]
    runs = [ln for ln in log.splitlines() if ln.startswith("stat::number_of_executed_units")]
    assert runs and int(runs[0].split(":")[-1]) > 1000, log[-2000:]
    print("\nATHERIS", runs[0])
