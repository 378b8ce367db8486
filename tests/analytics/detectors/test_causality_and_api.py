"""Causality, settings validation, late readings, schedules."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.detectors import DetectorSettings, MeterRole, Schedule, StreamingDetectors, detect_batch
from analytics.events import AlertKind
from benchmarks.alert_injection import inject, make_campus, outdoor, readings_of
from tests.analytics.detectors._data import DAY, T0, H, counter, elec, grid, office_kw, readings


def test_verdicts_use_only_data_up_to_their_interval() -> None:
    """Cut the data at T: every episode confirmed by T is found the same way in the cut data."""
    campus = make_campus(7, weeks=3, buildings=1)
    series, _ = inject(campus, 7, per_kind=2)
    full = readings_of(campus, series)
    end = int(campus.ts[-1])
    whole = detect_batch(full, campus.roles, outdoor_temp=outdoor(campus), end_ns=end)
    cut_at = int(campus.ts[0]) + 16 * DAY
    cut = {q: type(c)(c.meter[c.ts_ns <= cut_at + 900 * 10**9], c.ts_ns[c.ts_ns <= cut_at + 900 * 10**9],
                      c.value[c.ts_ns <= cut_at + 900 * 10**9]) for q, c in full.items()}
    part = detect_batch(cut, campus.roles, outdoor_temp=outdoor(campus), start_ns=int(campus.ts[0]),
                        end_ns=cut_at)
    seen = [d for d in whole if int(d.details["detected_ns"]) <= cut_at]
    assert len(seen) >= 5
    key = {(d.kind, d.subject, d.start_ns) for d in part}
    for d in seen:
        assert (d.kind, d.subject, d.start_ns) in key
        # closed before the cut: closed the same way. A daily detector's episode ends at the start of
        # the first normal day, which is known only when that day is over: a day later
        if d.end_ns is not None and d.end_ns + DAY <= cut_at:
            (p,) = [x for x in part if (x.kind, x.subject, x.start_ns) == (d.kind, d.subject, d.start_ns)]
            assert p.end_ns == d.end_ns and p.severity == d.severity


def test_settings_and_roles_check_themselves() -> None:
    with pytest.raises(ValueError, match="hysteresis"):
        DetectorSettings(z_enter=2.0, z_exit=3.0)
    with pytest.raises(ValueError, match="divide a day"):
        DetectorSettings(interval_s=7 * 60)
    with pytest.raises(ValueError, match="kind"):
        MeterRole("m", "b", "gas", "gas_volume")
    with pytest.raises(ValueError, match="max_rate"):
        MeterRole("m", "b", "water", "water_volume", max_rate=-1.0)
    with pytest.raises(ValueError, match="pair"):
        detect_batch({}, [MeterRole("h", "b", "heat", "heat_energy", pair="nope")], start_ns=0,
                     end_ns=900 * 10**9)
    with pytest.raises(ValueError, match="twice"):
        detect_batch({}, [elec("a"), elec("a")], start_ns=0, end_ns=900 * 10**9)
    with pytest.raises(ValueError):
        Schedule(open_h=19, close_h=8)


def test_no_readings_no_detections() -> None:
    assert detect_batch({}, [elec()]) == []


def test_zoneinfo_schedule_equals_the_fixed_offset() -> None:
    ts = grid(20)
    kw = office_kw(ts) + np.where(ts >= T0 + 12 * DAY + 14 * H, 0.8, 0.0)
    rd = readings(("E1", "energy_active_import", ts, counter(ts, kw)))
    a = detect_batch(rd, [elec()], schedules={"B1": Schedule(tz="Asia/Shanghai")})
    b = detect_batch(rd, [elec()], schedules={"B1": Schedule(tz=8.0)})
    assert a == b and [d.kind for d in a] == [AlertKind.BASE_LOAD_CREEP]


def test_late_reading_is_counted_and_verdicts_stand() -> None:
    ts = grid(1)
    v = counter(ts, office_kw(ts))
    sd = StreamingDetectors([elec()])
    sd.add("E1", "energy_active_import", ts[:100], v[:100])
    sd.evaluate(int(ts[99]) // (900 * 10**9) * 900 * 10**9)
    before = sd.late_readings
    sd.add("E1", "energy_active_import", ts[:5], v[:5])  # hours late
    assert sd.late_readings == before + 5
    sd.add("E1", "other_quantity", ts[:5], v[:5])  # quantities the detectors do not use are ignored
    assert sd.late_readings == before + 5
