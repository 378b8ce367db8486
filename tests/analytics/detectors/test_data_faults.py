"""Data faults on raw readings: comm loss, stuck, reset/swap, spike, sentinel."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.detectors import DetectorSettings
from analytics.detectors.engine import lag_ns
from analytics.events import AlertKind, Severity
from tests.analytics.detectors._data import (
    DAY,
    STEP,
    T0,
    H,
    counter,
    elec,
    grid,
    of_kind,
    office_kw,
    readings,
    run,
)

E = "energy_active_import"


def _elec(days: float = 4) -> tuple[np.ndarray, np.ndarray]:
    ts = grid(days)
    return ts, counter(ts, office_kw(ts))


def test_clean_meter_has_no_data_fault() -> None:
    ts, v = _elec(6)
    assert run(readings(("E1", E, ts, v)), [elec(max_rate=100.0)]) == []


def test_comm_loss_found_from_the_last_reading_with_its_severity() -> None:
    ts, v = _elec(4)
    lost = (ts > T0 + DAY + 10 * H) & (ts < T0 + DAY + 14 * H)  # last reading at 10:00
    found = run(readings(("E1", E, ts[~lost], v[~lost])), [elec()])
    comm = of_kind(found, AlertKind.COMM_LOSS)
    assert len(comm) == 1
    d = comm[0]
    assert d.subject == "E1" and d.severity == Severity.WARNING
    assert d.start_ns == T0 + DAY + 10 * H  # the boundary at (after) the last reading
    assert d.end_ns is not None and T0 + DAY + 11 * H < d.end_ns <= T0 + DAY + 14 * H + 900 * 10**9
    assert of_kind(found, AlertKind.CONSUMPTION_ANOMALY) == []  # missing data is not "no consumption"


def test_a_meter_read_hourly_or_daily_is_lost_only_past_its_own_cadence() -> None:
    """The comm-loss limit is 1.5 × the meter's cadence when that is longer than comm_loss_s: readings
    once an hour or once a day are not a lost meter between them; three silent days are."""
    ts, v = _elec(12)
    hourly = ts % H == 0
    daily = ts % DAY == 0
    clean = run(readings(("E1", E, ts[hourly], v[hourly]), ("E2", E, ts[daily], v[daily])),
                [elec("E1"), elec("E2")], end_ns=int(ts[-1]))
    assert of_kind(clean, AlertKind.COMM_LOSS) == []
    gap = daily & ~((ts > T0 + 5 * DAY) & (ts < T0 + 8 * DAY))  # days 6 and 7 not read
    found = run(readings(("E2", E, ts[gap], v[gap])), [elec("E2")], end_ns=int(ts[-1]))
    (d,) = of_kind(found, AlertKind.COMM_LOSS)
    last = int(ts[gap & (ts <= T0 + 5 * DAY)].max())  # the last reading before the silence
    assert d.start_ns == last and d.threshold == 36.0  # 1.5 × 24 h


def test_comm_loss_longer_than_a_day_is_major_and_still_open_at_the_end() -> None:
    ts, v = _elec(4)
    keep = ts <= T0 + 2 * DAY
    found = run(readings(("E1", E, ts[keep], v[keep])), [elec()], end_ns=int(ts[-1]))
    (d,) = of_kind(found, AlertKind.COMM_LOSS)
    assert d.severity == Severity.MAJOR and d.end_ns is None


def test_stuck_counter_found_after_three_occupied_hours() -> None:
    ts, _ = _elec(4)
    kw = office_kw(ts)
    frozen = (ts >= T0 + DAY + 9 * H) & (ts < T0 + DAY + 16 * H)
    v = counter(ts, np.where(frozen, 0.0, kw))
    found = run(readings(("E1", E, ts, v)), [elec()])
    (d,) = of_kind(found, AlertKind.STUCK_METER)
    assert d.subject == "E1"
    assert T0 + DAY + 9 * H <= d.start_ns <= T0 + DAY + 9 * H + 900 * 10**9
    # known once the interval is final: its end plus the lag (max_gap_s rounded up to intervals)
    assert int(d.details["detected_ns"]) <= T0 + DAY + 12 * H + 900 * 10**9 + lag_ns(DetectorSettings())
    assert d.end_ns is not None and d.end_ns <= T0 + DAY + 16 * H + 900 * 10**9


def test_a_coarse_register_on_a_small_load_is_not_stuck_but_stops_are_found() -> None:
    """A counter shown in whole kWh on a 0.15-0.2 kW circuit moves once every 5-7 h: flat for three
    occupied hours is its normal (the limit becomes 3 register steps at its usual rate, where
    learning from past flat spells alone would first raise one). The same register frozen for two
    working days still is a stuck meter."""
    ts = grid(14)
    hour, work = ((ts - T0) % DAY) / H, ((ts - T0) // DAY) % 7 < 5
    kw = np.where(work & (hour >= 8) & (hour < 18), 0.2, 0.15)
    whole = np.floor(counter(ts, kw))  # 1 kWh resolution
    assert (np.diff(whole) == 0).sum() > 0.6 * len(ts)
    assert of_kind(run(readings(("E1", E, ts, whole)), [elec()]), AlertKind.STUCK_METER) == []
    frozen = whole.copy()
    k = int(np.searchsorted(ts, T0 + 7 * DAY + 7 * H))  # from the second Monday, 07:00, on
    frozen[k:] = frozen[k]
    (d,) = of_kind(run(readings(("E1", E, ts, frozen)), [elec()]), AlertKind.STUCK_METER)
    assert d.start_ns >= T0 + 7 * DAY


def test_flat_counter_at_night_is_not_stuck() -> None:
    ts, _ = _elec(4)
    hour = ((ts - T0) % DAY) / H
    night = (hour < 6) | (hour >= 20)
    v = counter(ts, np.where(night, 0.0, office_kw(ts)))  # the circuit is switched off at night
    assert of_kind(run(readings(("E1", E, ts, v)), [elec()]), AlertKind.STUCK_METER) == []


def test_bit_identical_gauge_is_stuck() -> None:
    ts = grid(2)
    p = office_kw(ts)
    p[(ts >= T0 + 3 * H) & (ts < T0 + 11 * H)] = 2.5
    role = elec("P1").__class__("P1", "B1", "electricity", "power_active", counter=False)
    found = run(readings(("P1", "power_active", ts, p)), [role])
    (d,) = of_kind(found, AlertKind.STUCK_METER)
    assert d.start_ns == T0 + 3 * H


def test_counter_reset_and_meter_swap() -> None:
    ts, v = _elec(3)
    k = int(np.searchsorted(ts, T0 + DAY + 10 * H + 100 * 10**9))
    reset = v.copy()
    reset[k:] -= reset[k]  # counts on from 0
    swap = v.copy()
    swap[k:] = swap[k:] - swap[k] + 3.0  # a new meter reading 3 kWh
    found = run(readings(("A", E, ts, reset), ("B", E, ts, swap)), [elec("A"), elec("B")])
    resets = {d.subject: d for d in of_kind(found, AlertKind.COUNTER_RESET)}
    assert set(resets) == {"A", "B"}
    for d in resets.values():
        assert d.start_ns <= int(ts[k]) < d.end_ns  # type: ignore[operator]
        assert d.value > 500  # the drop, in kWh
    assert resets["B"].severity == Severity.MAJOR  # fell to under 10 % of its level: a swap
    assert len(found) == 2


def test_rollover_is_not_a_reset() -> None:
    ts, v = _elec(2)
    wrapped = np.mod(v, 1200.0)
    assert (np.diff(wrapped) < 0).any()
    found = run(readings(("E1", E, ts, wrapped)), [elec(rollover=1200.0, max_rate=100.0)])
    assert found == []


def test_spike_is_not_also_a_reset() -> None:
    ts, v = _elec(2)
    k = int(np.searchsorted(ts, T0 + 11 * H))
    v = v.copy()
    v[k] += 5000.0  # one outlier reading
    found = run(readings(("E1", E, ts, v)), [elec(max_rate=100.0)])
    assert [d.kind for d in found] == [AlertKind.SPIKE]
    assert found[0].start_ns <= int(ts[k]) < found[0].end_ns  # type: ignore[operator]
    assert found[0].value > 4900  # the rise above the level, in kWh


def test_spike_inside_an_interval() -> None:
    ts, v = _elec(2)
    k = int(np.searchsorted(ts, T0 + 11 * H + 5 * 60 * 10**9))
    v = v.copy()
    v[k] += 5000.0
    found = run(readings(("E1", E, ts, v)), [elec(max_rate=100.0)])
    assert [(d.kind, d.start_ns) for d in found] == [(AlertKind.SPIKE, T0 + 11 * H)]


def test_sentinels_are_reported_and_never_read_as_zero() -> None:
    ts, v = _elec(3)
    v = v.copy()
    k = int(np.searchsorted(ts, T0 + DAY + 11 * H))
    v[k] = np.nan
    v[k + 1] = -np.inf
    v[k + 40] = np.inf
    found = run(readings(("E1", E, ts, v)), [elec(max_rate=100.0)])
    sent = of_kind(found, AlertKind.SENTINEL)
    assert len(sent) == 2 and sent[0].value == 2.0
    assert {d.kind for d in found} == {AlertKind.SENTINEL}  # no reset, no spike, no anomaly from a 0


def test_all_readings_invalid_for_an_hour_is_major() -> None:
    ts, v = _elec(2)
    v = v.copy()
    v[(ts >= T0 + 10 * H) & (ts < T0 + 12 * H)] = np.nan
    (d,) = of_kind(run(readings(("E1", E, ts, v)), [elec()]), AlertKind.SENTINEL)
    assert d.severity == Severity.MAJOR
    assert d.start_ns == T0 + 10 * H and d.end_ns == T0 + 12 * H
    assert STEP  # (readings every 5 min)


def test_heat_counters_are_stuck_only_while_their_pair_says_they_should_move() -> None:
    from analytics.detectors import MeterRole

    ts = grid(3)
    heat_kw = np.where(((ts - T0) % DAY) < 12 * H, 20.0, 0.0)  # runs half of each day
    elec_kw = heat_kw / 3.0
    frozen = (ts >= T0 + DAY) & (ts < T0 + DAY + 8 * H)
    roles = [MeterRole("HPE", "B1", "heat_pump", E),
             MeterRole("HPH", "B1", "heat", "heat_energy", pair="HPE"),
             MeterRole("H2", "B1", "heat", "heat_energy")]
    rd = readings(("HPE", E, ts, counter(ts, np.where(frozen, 0.0, elec_kw))),
                  ("HPH", "heat_energy", ts, counter(ts, heat_kw)),
                  ("H2", "heat_energy", ts, counter(ts, np.zeros(len(ts)))))  # unpaired, idle: not judged
    found = run(rd, roles)
    assert [(d.kind, d.subject) for d in found] == [(AlertKind.STUCK_METER, "HPE")]
    assert found[0].start_ns == T0 + 12 * H  # the value last changed when the pump stopped the day before
    assert found[0].value == 8.0  # hours flat while the heat meter counted heat


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 570), st.sampled_from([np.nan, np.inf, -np.inf])), min_size=1,
                max_size=12))
def test_invalid_readings_only_ever_raise_sentinels(bad: list[tuple[int, float]]) -> None:
    ts, v = _elec(2)
    v = v.copy()
    for k, x in bad:
        v[k] = x
    found = run(readings(("E1", E, ts, v)), [elec(max_rate=100.0)])
    assert found and {d.kind for d in found} == {AlertKind.SENTINEL}
    for k, _ in bad:  # every invalid reading lies in a reported episode
        assert any(d.start_ns <= ts[k] < d.end_ns for d in found)  # type: ignore[operator]


def test_fifteen_minute_polls_with_jitter_are_judged_and_a_false_low_reading_is_a_spike() -> None:
    """A gateway polls a 15-minute meter a few seconds late each time (steps of 898–903 s), as the
    outside data had: with no max_rate set, a reset, and one reading far below the count that the
    counter comes back from (a false reading, not a reset), are each found once."""
    rng = np.random.default_rng(5)
    ts = T0 + np.arange(4 * 96 + 1, dtype=np.int64) * 900 * 10**9 + rng.integers(0, 4, 4 * 96 + 1) * 10**9
    v = counter(ts, office_kw(ts))
    assert run(readings(("E1", E, ts, v)), [elec()]) == []
    k = int(np.searchsorted(ts, T0 + 2 * DAY + 3 * H))
    reset = v.copy()
    reset[k:] -= reset[k]
    low = v.copy()
    j = int(np.searchsorted(ts, T0 + DAY + 11 * H))
    low[j] = 12.0  # one false reading
    found = run(readings(("A", E, ts, reset), ("B", E, ts, low)), [elec("A"), elec("B")])
    assert sorted((d.kind, d.subject) for d in found) == [(AlertKind.COUNTER_RESET, "A"),
                                                          (AlertKind.SPIKE, "B")], found
    spike = next(d for d in found if d.subject == "B")
    assert spike.start_ns <= int(ts[j]) < spike.end_ns  # type: ignore[operator]
    assert spike.value < -1000 and "below the count" in spike.message  # the reading minus the count


def test_a_meter_read_once_a_day_that_repeats_its_value_is_stuck() -> None:
    """Read at 00:10 every day: a repeated reading means the counter stood still through the day's
    occupied hours (not for the one interval holding the reading), and its rate is learnt per hour
    it should have moved (the readings themselves fall in unoccupied hours)."""
    ts = grid(24)
    v = counter(ts, office_kw(ts))
    daily = np.flatnonzero(((ts - T0) % DAY) == 10 * 60 * 10**9)
    frozen = v.copy()
    stuck_from = T0 + 14 * DAY
    frozen[ts >= stuck_from] = v[np.searchsorted(ts, stuck_from)]  # stands still from day 14 on
    clean = run(readings(("E1", E, ts[daily], v[daily])), [elec()])
    assert of_kind(clean, AlertKind.STUCK_METER) == []
    found = of_kind(run(readings(("E1", E, ts[daily], frozen[daily])), [elec()]), AlertKind.STUCK_METER)
    assert len(found) == 1
    # known at the first or second repeated reading after the freeze (day 15 or 16, 00:10 + lag)
    assert stuck_from < int(found[0].details["detected_ns"]) <= T0 + 16 * DAY + 2 * H
