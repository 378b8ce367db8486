"""The tick benchmark runs at a tiny scale and reports its figures (speed is not judged here)."""

from __future__ import annotations

import re

import pytest

from benchmarks import alert_tick


def test_tick_benchmark_runs_and_reports(capsys: pytest.CaptureFixture[str]) -> None:
    code = alert_tick.main(["--meters", "200", "--weeks", "2", "--ticks", "3"])
    out = capsys.readouterr().out
    assert code in (0, 1)
    assert "200 meters" in out and "baseline: np.median" in out
    assert len(re.findall(r"^tick \d: boundary \d\d:\d\d local", out, re.M)) == 3
    assert re.search(r"best tick / 2 s target: \d+\.\d\d; "
                     r"worst tick / 2 s target: \d+\.\d\d  \[< 1\] (met|MISSED)", out)


def test_roles_mix() -> None:
    rs = alert_tick.roles(100)
    kinds = [r.kind for r in rs]
    assert len(rs) == 100 and kinds.count("heat") == kinds.count("heat_pump") == 5
    assert all(r.pair for r in rs if r.kind == "heat")
