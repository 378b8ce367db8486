"""Water leak from the minimum night flow."""

from __future__ import annotations

import numpy as np

from analytics.detectors import DetectorSettings
from analytics.events import AlertKind, Severity
from tests.analytics.detectors._data import (
    DAY,
    T0,
    H,
    counter,
    grid,
    readings,
    run,
    water,
    water_m3h,
)

Q = "water_volume"


def _water(days: float, leak_from: int | None, flow: float, leak_to: int | None = None) -> tuple:
    ts = grid(days)
    f = water_m3h(ts)
    if leak_from is not None:
        f = f + np.where((ts >= leak_from) & (ts < (leak_to or ts[-1] + 1)), flow, 0.0)
    return ts, counter(ts, f, start=50.0)


def test_leak_found_on_the_second_night_with_its_start() -> None:
    start = T0 + 10 * DAY + 12 * H
    ts, v = _water(16, start, 0.2)
    found = run(readings(("W1", Q, ts, v)), [water()])
    (d,) = found
    assert d.kind == AlertKind.WATER_LEAK and d.subject == "W1" and d.severity == Severity.MAJOR
    assert d.start_ns == T0 + 11 * DAY + 2 * H  # the first night window after the leak began
    assert int(d.details["detected_ns"]) <= T0 + 12 * DAY + 4 * H + 2 * 900 * 10**9  # end of night two
    assert d.end_ns is None  # still leaking at the end of the data
    assert np.isclose(d.value, 0.2, rtol=0.05)


def test_leak_that_stops_closes() -> None:
    ts, v = _water(20, T0 + 10 * DAY + 12 * H, 0.2, T0 + 14 * DAY + 12 * H)
    (d,) = run(readings(("W1", Q, ts, v)), [water()])
    assert d.end_ns == T0 + 14 * DAY + 4 * H


def test_one_night_is_not_a_leak() -> None:
    ts, v = _water(16, T0 + 11 * DAY + 1 * H, 0.2, T0 + 11 * DAY + 5 * H)
    assert run(readings(("W1", Q, ts, v)), [water()]) == []


def test_flow_below_the_floor_is_not_a_leak() -> None:
    ts, v = _water(16, T0 + 10 * DAY + 12 * H, 0.02)
    assert run(readings(("W1", Q, ts, v)), [water()]) == []


def test_k_times_the_median_night_flow() -> None:
    # a meter with a steady night flow of 0.1 m³/h (a cooling tower make-up): 0.2 is not 3x that
    ts = grid(16)
    f = water_m3h(ts) + 0.1 + np.where(ts >= T0 + 10 * DAY, 0.1, 0.0)
    v = counter(ts, f, start=50.0)
    assert run(readings(("W1", Q, ts, v)), [water()]) == []
    f = water_m3h(ts) + 0.1 + np.where(ts >= T0 + 10 * DAY, 0.3, 0.0)
    (d,) = run(readings(("W1", Q, ts, counter(ts, f, start=50.0))), [water()])
    assert np.isclose(d.threshold, 0.3, rtol=0.05)  # k x the median of the clean nights


def test_leak_nights_setting() -> None:
    ts, v = _water(16, T0 + 10 * DAY + 12 * H, 0.2)
    (d,) = run(readings(("W1", Q, ts, v)), [water()], DetectorSettings(leak_nights=3))
    assert int(d.details["detected_ns"]) > T0 + 13 * DAY + 4 * H


def test_cold_start_is_silent() -> None:
    # the first three nights are not judged: they only build the reference
    ts, v = _water(3.5, T0 + 12 * H, 0.3)
    assert run(readings(("W1", Q, ts, v)), [water()]) == []
    # from the fourth night on, against the reference of the nights before (two clean, one leaking)
    ts, v = _water(6, T0 + 1 * DAY + 12 * H, 0.3)
    (d,) = run(readings(("W1", Q, ts, v)), [water()])
    assert d.start_ns == T0 + 3 * DAY + 2 * H
