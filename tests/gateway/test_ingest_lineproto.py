"""Line protocol: escaping, field types, timestamps, the readings layout."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.shared.lineproto import LineError, line, reading_lines, ts_to_ns


def test_escapes_per_line_protocol_rules() -> None:
    got = line("my meas,x", {"b key": "v=1,2 3", "a": "back\\slash"}, {"f=1": 1.5, "n": 3, "ok": True},
               1_700_000_000_000_000_000)
    assert got == ("my\\ meas\\,x,a=back\\\\slash,b\\ key=v\\=1\\,2\\ 3 f\\=1=1.5,n=3i,ok=true "
                   "1700000000000000000")


@pytest.mark.parametrize(("fields", "what"), [
    ({"v": math.nan}, "finite"), ({"v": math.inf}, "finite"), ({"v": 2**63}, "64-bit"),
    ({"v": "text"}, "portable"), ({}, "at least one field"),
])
def test_refuses_unwritable_fields(fields: dict[str, object], what: str) -> None:
    with pytest.raises(LineError, match=what):
        line("m", {}, fields, 1)  # type: ignore[arg-type]


@pytest.mark.parametrize(("measurement", "tags"), [
    ("m\nx", {}), ("m", {"t": ""}), ("m", {"t": "a\nb"}), ("", {}),
])
def test_refuses_line_breaks_and_empty_names(measurement: str, tags: dict[str, str]) -> None:
    with pytest.raises(LineError):
        line(measurement, tags, {"v": 1.0}, 1)


def test_timestamp_must_be_int_ns() -> None:
    with pytest.raises(LineError, match="nanoseconds"):
        line("m", {}, {"v": 1.0}, 1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(("ts", "ns"), [
    (1710208800.125, 1710208800125000000),
    (1710208800.1, 1710208800100000000),  # ts * 1e9 would give ...100000238
    (1710208800.001, 1710208800001000000),
    (1710208800.123456, 1710208800123456000),
    (1795311151.4440374, 1795311151444037400),  # what a gateway's time.time() looks like
    (1, 1_000_000_000),
    (1.5e-10, 0), (2.5e-9, 2), (1e20, 10**29), (-1.5, -1_500_000_000),
])
def test_ts_to_ns_is_the_decimal_value(ts: float, ns: int) -> None:
    assert ts_to_ns(ts) == ns


@given(st.integers(min_value=0, max_value=4_102_444_800_000))  # every millisecond up to 2100
def test_millisecond_timestamps_convert_exactly(ms: int) -> None:
    assert ts_to_ns(ms / 1000) == ms * 1_000_000


@given(st.floats(min_value=946684800.0, max_value=4102444800.0))
def test_any_timestamp_is_its_shortest_decimal(ts: float) -> None:
    assert ts_to_ns(ts) == int(Decimal(repr(ts)) * 10**9)


def test_reading_lines_layout() -> None:
    doc = {"schema": "metergate.readings/1", "site": "campus-a", "gateway": "gw-1", "meter": "lib-main",
           "seq": 7, "ts": 1710208800.125, "time": "2024-03-12T10:00:00.125+08:00",
           "readings": [
               {"quantity": "energy_active_import", "value": 152873, "unit": "kWh", "quality": "ok"},
               {"quantity": "power_active", "value": 18234.5, "unit": "W", "quality": "out_of_range"},
               {"quantity": "power_factor", "value": None, "unit": "", "quality": "invalid",
                "error": "NaN"},
               {"quantity": "frequency", "value": None, "unit": "Hz", "quality": "comm_error",
                "ts": 1710208800.337},
           ]}
    tags = "gateway=gw-1,meter=lib-main,site=campus-a"
    assert reading_lines(doc) == [
        f"energy_active_import,{tags} value=152873.0,quality=0i 1710208800125000000",
        f"power_active,{tags} value=18234.5,quality=1i 1710208800125000000",
        f"power_factor,{tags} quality=3i 1710208800125000000",
        f"frequency,{tags} quality=4i 1710208800337000000",
    ]
