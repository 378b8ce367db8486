"""The held-out evaluation's scoring, baseline, day-type remapping and site config on hand-made cases
(no eval extra needed: nothing here loads a source package)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from benchmarks import _heldout_sets as hs
from benchmarks import _heldout_sources as src
from benchmarks import alert_heldout as bench
from site_config.load import load_site_config

H = 3600 * hs.S
DAY = 24 * H


def test_score_by_the_stated_rules() -> None:
    t = 1_740_931_200 * hs.S
    events = [
        hs.Event("counter_reset", "m1", t + 10 * H, t + 10 * H + H // 4),
        hs.Event("water_leak", "w1", t + 2 * DAY, t + 5 * DAY),
        hs.Event("consumption_anomaly", "m2", t + 9 * H, t + 13 * H),
        hs.Event("stuck_meter", "m3", t + 30 * H, t + 40 * H),
    ]
    alerts = [
        bench.Alert("counter_reset", "m1", t + 10 * H + H // 4, t + 13 * H),  # found
        bench.Alert("water_leak", "w1", t + 5 * DAY + 40 * H, t + 8 * DAY),  # found: within end + 48 h
        bench.Alert("spike", "m2", t + 11 * H, t + 12 * H),  # not compatible with the anomaly, but true
        bench.Alert("after_hours_waste", "m2", t + 13 * H + 7 * H, t + 30 * H),  # 7 h after: false
        bench.Alert("stuck_meter", "m1", t + 30 * H, t + 40 * H),  # right time, wrong subject: false
        bench.Alert("comm_loss", "m4", t, t + H),  # no event on m4: false
    ]
    sc = bench.score(events, alerts)
    assert sc.found == {"counter_reset": 1, "water_leak": 1, "consumption_anomaly": 0, "stuck_meter": 0}
    assert sc.recall() == 0.5 and sc.recall("water_leak") == 1.0 and sc.recall("stuck_meter") == 0.0
    assert (sc.true_alerts, sc.alerts) == (3, 6)
    assert [e.kind for e in sc.missed] == ["consumption_anomaly", "stuck_meter"]
    # the kind-less baseline: the spike on m2 now finds the anomaly
    assert bench.score(events, alerts, any_kind=True).found["consumption_anomaly"] == 1
    # the leak's tolerance ends at end + 48 h: an alert starting later does not match
    late = [bench.Alert("water_leak", "w1", t + 5 * DAY + 49 * H, t + 9 * DAY)]
    assert bench.score(events[1:2], late).found["water_leak"] == 0


def test_naive_baseline_flags_one_hour_of_excess() -> None:
    s = hs.EvalSet("x", "dev", "hand", 1, date(2025, 3, 3), 7, [], [
        hs.Meter("m1", "b", "electricity", 900, np.ones(7 * 1440), 0.0, "hand")])
    ts = s.t0_ns + np.arange(7 * 96 + 1, dtype=np.int64) * 900 * hs.S
    use = np.full(len(ts) - 1, 0.25)
    use[4 * 50:4 * 51] = 10.0  # hour 50: 40 kWh instead of 1
    v = np.concatenate([[100.0], 100.0 + np.cumsum(use)])
    found = bench.naive([("m1", ts, v)], s)
    assert found == [bench.Alert("naive", "m1", int(s.t0_ns + 50 * H), int(s.t0_ns + 51 * H))]


def test_remap_follows_the_target_calendar() -> None:
    # a source of 14 days from a Monday, each day's value = its index; types by weekday
    types = tuple("work" if i % 7 < 5 else ("sat" if i % 7 == 5 else "sun") for i in range(14))
    source = src.Source("hand", 86_400, np.arange(14, dtype=float), types)
    # target: a working Sunday (调休), then a holiday Monday, then an ordinary Saturday
    out = src.remap(source, ["work", "sun", "sat", "work"])
    assert out.tolist() == [0.0, 6.0, 5.0, 1.0]


def test_generated_site_config_loads(tmp_path: Path) -> None:
    b = hs.Building("dev-x1", "office dev-x1", "office", 5000, 200, "office")
    meters = [hs.Meter("dev-x1-e01", "dev-x1", "electricity", 900, np.ones(1440), 1.0, "hand",
                       subitem="power"),
              hs.Meter("dev-x1-w01", "dev-x1", "water", 3600, np.ones(1440), 1.0, "hand"),
              hs.Meter("dev-x1-hpe1", "dev-x1", "electricity", 900, np.ones(1440), 1.0, "hand",
                       subitem="hvac"),
              hs.Meter("dev-x1-hph1", "dev-x1", "heat", 900, np.ones(1440), 1.0, "hand", pair="dev-x1-hpe1")]
    s = hs.EvalSet("dev-x", "dev", "hand", 1, date(2025, 3, 3), 1, [b], meters)
    path = tmp_path / "site.toml"
    path.write_text(hs.site_toml(s), encoding="utf-8")
    site = load_site_config(path)
    assert {m.id: m.pair for m in site.meters} == {"dev-x1-e01": None, "dev-x1-w01": None,
                                                    "dev-x1-hpe1": None, "dev-x1-hph1": "dev-x1-hpe1"}
    # the counters integrate the rate: 1 unit/h for a day, read every 15 min at the meter's resolution
    ts = hs.reading_times(s, meters[0], np.random.default_rng(0))
    v = hs.counter(s, meters[0], ts, None)
    assert abs((v[-1] - v[0]) - 24.0) < 0.02


def test_breakdown_counts_false_alerts_by_kind_and_meter(capsys: pytest.CaptureFixture[str]) -> None:
    a = bench.Alert
    r = bench.SetResult("dev-x", "dev", 2, 2.0, bench.Score(), [a("stuck_meter", "m1", 0, 1),
                        a("stuck_meter", "m1", 5, 6), a("water_leak", "w1", 0, 1)], 0, bench.Score(), 0, 1.0,
                        {"m1": "electricity 900 s src-a", "w1": "water 3600 s src-b"})
    bench.breakdown(r)
    out = capsys.readouterr().out.splitlines()
    assert out[1:] == ["dev-x: 3 false alerts on the clean copy",
                       "     2  stuck_meter            electricity 900 s src-a",
                       "     1  water_leak             water 3600 s src-b"]


def test_breakdown_refuses_held_out_sets() -> None:
    with pytest.raises(SystemExit):
        bench.main(["--sets", "ho-bdew", "--breakdown"])
