"""The gateway throughput benchmark runs end to end at a tiny scale and reports its numbers.

Speed is not judged here (machines are shared and noisy): only that the one command completes,
measures its baseline, and prints a row of numbers and the ratio line.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.mosquitto import mosquitto_binary

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gateway_throughput_benchmark_runs_and_reports() -> None:
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed")
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.gateway_throughput", "--meters", "20", "--duration", "3",
         "--warmup", "1", "--ladder", "1", "--simulators", "2", "--baseline-seconds", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    out = run.stdout
    assert run.returncode == 0, f"exit {run.returncode}\n{out}\n{run.stderr[-3000:]}"
    assert 'Baseline "bare read"' in out
    assert re.search(r"^\s+\d+ µs client CPU per read", out, re.MULTILINE), out
    row = re.search(r"^\s+20\s+20\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)x\s+(\S+)"
                    r"\s+(\S+)", out, re.MULTILINE)
    assert row is not None, out
    polls, published, acked, cores, us_per_poll, bare_us, ratio, rss, hwm = map(float, row.groups())
    assert polls > 0 and published > 0 and acked > 0 and cores > 0 and us_per_poll > 0
    assert bare_us > 0
    assert ratio > 0 and 0 < rss <= hwm
    assert re.search(r"gateway path = [\d.]+x a bare pymodbus read", out), out
    assert "saturation:" in out and "resident memory at 20 meters" in out
    assert re.search(r"CPU by thread at 20 meters: .*[\d.]+ core", out), out
    assert "targets not judged" in out  # a tiny run is not the target workload
