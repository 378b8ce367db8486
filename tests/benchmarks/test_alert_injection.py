"""The injection benchmark runs at a tiny scale, and the detectors meet its targets on an unseen seed."""

from __future__ import annotations

import pytest

from analytics.events import AlertKind
from benchmarks import alert_injection as bench


def test_injection_benchmark_runs_and_reports(capsys: pytest.CaptureFixture[str]) -> None:
    code = bench.main(["--seeds", "11", "--weeks", "4", "--buildings", "1", "--per-kind", "1"])
    out = capsys.readouterr().out
    assert code in (0, 1)
    for kind in bench.KINDS_SCORED:
        assert f"\n{kind.value} " in out
    assert "overall precision" in out and "per 100 meter-weeks" in out and "baseline (naive" in out
    assert ("targets met" in out) == (code == 0)


def test_targets_hold_on_a_seed_the_defaults_were_not_tuned_on() -> None:
    r = bench.run_seed(23, weeks=6, buildings=1, per_kind=2)
    for kind, target in bench.RECALL_TARGET.items():
        sc = r.scores[kind.value]
        assert sc.events > 0
        assert sc.recall >= target, (kind, sc.found, sc.events)
    dets = sum(s.detections for s in r.scores.values())
    true = sum(s.true for s in r.scores.values())
    assert true >= 0.9 * dets
    assert r.clean_alerts <= 0.01 * r.meter_weeks  # ≤ 1 per 100 meter-weeks
    leak = r.scores[AlertKind.WATER_LEAK.value]
    assert leak.nights and max(leak.nights) <= 2


def test_scoring_counts_a_miss_and_a_false_alert() -> None:
    from analytics.events import Detection, Severity

    ev = [bench.Event(AlertKind.WATER_LEAK, "W", 0, 10 * bench.HOUR)]
    wrong = Detection(AlertKind.WATER_LEAK, "X", 0, None, Severity.MAJOR, 1.0, 0.1, "m³/h", "", {})
    sc = bench.score([wrong], ev, 20 * bench.HOUR)[AlertKind.WATER_LEAK.value]
    assert (sc.events, sc.found, sc.detections, sc.true) == (1, 0, 1, 0)
