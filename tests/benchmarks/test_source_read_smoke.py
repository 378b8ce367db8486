"""The VictoriaMetrics read-back benchmark runs end to end at a tiny scale: it fills the server,
reads the same readings through the source and the CSV baseline (checked equal inside) and prints
both rates and the ratio. Speed is not judged here (shared, noisy machines)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.services
def test_source_read_benchmark_runs_and_reports() -> None:
    if shutil.which("victoria-metrics") is None:
        pytest.skip("victoria-metrics is not installed")
    run = subprocess.run([sys.executable, "-m", "benchmarks.source_read", "--meters", "3", "--days", "2",
                          "--repeat", "1"], cwd=ROOT, capture_output=True, text=True, timeout=240,
                         check=False)
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr[-3000:]}"
    assert re.search(r"^VictoriaMetrics .*: +[\d,]+ points/s", run.stdout, re.MULTILINE), run.stdout
    assert re.search(r"^baseline: CSV file.*: +[\d,]+ points/s", run.stdout, re.MULTILINE), run.stdout
    assert re.search(r"^ratio VictoriaMetrics / CSV: [\d.]+", run.stdout, re.MULTILINE), run.stdout
