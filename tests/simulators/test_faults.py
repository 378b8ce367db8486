"""Every fault kind has its documented effect, seen the way the gateway sees it: through
MeterReader over the in-process source and over ModbusConnection on TCP and RTU."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from core.reading import Quality
from drivers.errors import ModbusExceptionResponse
from drivers.profiles import resolve_variant
from drivers.pymodbus_adapter import ModbusConnection
from drivers.reader import MeterReader, Reading, RegisterSource
from simulators.bus import Simulator
from simulators.clock import fixed_clock
from simulators.faults import KINDS, Fault, FaultSpecError, parse_fault_spec
from simulators.local import LocalSource
from simulators.meter import SimulatedMeter
from simulators.pytest_plugin import FIXED_TIME

WANTED = ("voltage_l1", "voltage_l2", "power_active", "energy_active_import")
TIMEOUT = 0.25
NIGHT = FIXED_TIME - 7 * 3600  # 03:00 site time: no water use but a leak


def _read(source: RegisterSource, meter: SimulatedMeter,
          quantities: tuple[str, ...] | None = WANTED) -> dict[str, Reading]:
    reader = MeterReader(source, meter.variant, meter.unit, quantities=quantities)
    return {r.quantity: r for r in reader.read()}


def _value(reading: Reading) -> float:
    assert reading.value is not None, reading
    return reading.value


def _assert_failed(readings: dict[str, Reading], quality: Quality = Quality.COMM_ERROR) -> None:
    for r in readings.values():
        assert r.value is None and r.quality is quality, r  # never a made-up 0


class Ticker:
    """A monotonic clock the test moves by hand (fault windows without sleeping)."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


# -- spec syntax -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [
        ("3:no_answer", 3, Fault("no_answer")),
        ("2:exception:code=6,probability=0.5", 2, Fault("exception", code=6, probability=0.5)),
        ("1:offline:after=10,duration=30", 1, Fault("offline", after=10, duration=30)),
        ("4:nan:quantity=power_active", 4, Fault("nan", quantity="power_active")),
        ("5:exception:code=2,start=0x2006,end=0x2007", 5, Fault("exception", start=0x2006,
                                                                end=0x2007)),
        ("6:late", 6, Fault("late", delay=1.5)),
        ("7:spike:quantity=power_active,factor=5,reads=2", 7,
         Fault("spike", quantity="power_active", factor=5, reads=2)),
        ("8:bad-crc:count=3", 8, Fault("bad_crc", count=3)),
    ],
)
def test_fault_specs_parse(text: str, unit: int, expected: Fault) -> None:
    assert parse_fault_spec(text) == (unit, expected)
    assert Fault.parse(str(expected)) == expected  # str() gives the spec back


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("no_answer", "UNIT:KIND"),
        ("3:explode", "kinds: no_answer, offline, late"),
        ("3:late:dealy=2", "key of after, duration, count, probability, delay"),
        ("3:exception:code=4", "use 2 (illegal data address) or 6"),
        ("3:exception:code=6,start=5", "code 2"),
        ("3:late:delay=soon", "not a number"),
        ("3:spike", "quantity=NAME"),
        ("3:no_answer:probability=2", "within 0..1"),
    ],
)
def test_bad_fault_specs_name_kinds_and_keys(text: str, words: str) -> None:
    with pytest.raises(FaultSpecError, match=re.escape(words)):
        parse_fault_spec(text)


def test_every_kind_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "simulator.md").read_text("utf-8")
    for kind in KINDS:
        assert f"`{kind}`" in doc, kind


# -- in process ------------------------------------------------------------------------------------


@pytest.fixture
def dtsu() -> Iterator[tuple[SimulatedMeter, Ticker]]:
    ticker = Ticker()  # drives the fault windows by hand
    meter = SimulatedMeter(resolve_variant("chint-dtsu666"), 1, clock=fixed_clock(FIXED_TIME),
                           monotonic=ticker)
    yield meter, ticker


def test_no_answer_and_bad_crc_are_comm_errors(dtsu: tuple[SimulatedMeter, Ticker]) -> None:
    meter, _ = dtsu
    source = LocalSource({1: meter})
    for kind, reason in (("no_answer", "timeout"), ("bad_crc", "crc_error")):
        meter.inject(kind)
        reader = MeterReader(source, meter.variant, 1, quantities=WANTED)
        _assert_failed({r.quantity: r for r in reader.read()})
        assert set(reader.stats.failures) == {reason}
        meter.clear()
    assert all(r.quality is Quality.OK for r in _read(source, meter).values())


def test_offline_window(dtsu: tuple[SimulatedMeter, Ticker]) -> None:
    meter, ticker = dtsu
    source = LocalSource({1: meter})
    meter.inject("offline:after=10,duration=30")
    assert _read(source, meter)["voltage_l1"].quality is Quality.OK
    ticker.t += 10
    _assert_failed(_read(source, meter))
    ticker.t += 29.9
    _assert_failed(_read(source, meter))
    ticker.t += 0.1
    assert _read(source, meter)["voltage_l1"].quality is Quality.OK


def test_late_answers_time_out_only_when_later_than_the_timeout(
    dtsu: tuple[SimulatedMeter, Ticker]
) -> None:
    meter, _ = dtsu
    meter.inject("late:delay=1.5")
    _assert_failed(_read(LocalSource({1: meter}, timeout=1.0), meter))
    assert _read(LocalSource({1: meter}, timeout=2.0), meter)["voltage_l1"].quality is Quality.OK


def test_exception_count_and_probability(dtsu: tuple[SimulatedMeter, Ticker]) -> None:
    meter, _ = dtsu
    source = LocalSource({1: meter})
    meter.inject("exception:code=6,count=2")
    outcomes: list[object] = []
    for _ in range(4):
        try:
            source.read_registers(1, 3, 0x2006, 2)
            outcomes.append("ok")
        except ModbusExceptionResponse as exc:
            outcomes.append(exc.code)
    assert outcomes == [6, 6, "ok", "ok"]
    meter.clear()
    meter.inject("exception:code=6,probability=0.5")
    fails = 0
    for _ in range(200):
        try:
            source.read_registers(1, 3, 0x2006, 2)
        except Exception:
            fails += 1
    assert 70 < fails < 130


def test_exception_2_on_one_register_costs_only_that_point(
    dtsu: tuple[SimulatedMeter, Ticker]
) -> None:
    meter, _ = dtsu
    meter.inject("exception:code=2,start=0x2006,end=0x2007")  # voltage_l1 is "missing"
    readings = _read(LocalSource({1: meter}), meter, None)
    truth = meter.true_values()
    assert readings["voltage_l1"].quality is Quality.INVALID and readings["voltage_l1"].value is None
    others = [r for q, r in readings.items() if q != "voltage_l1"]
    assert all(r.quality is Quality.OK and r.value == truth[r.quantity] for r in others)


def test_stuck_counter_reset_nan_spike(simulated_meter: Callable[..., SimulatedMeter]) -> None:
    now = [FIXED_TIME]
    meter = simulated_meter("chint-dtsu666", clock=lambda: now[0])
    source = LocalSource({1: meter})
    start = _read(source, meter)

    meter.inject("stuck:quantity=voltage_l1")
    meter.inject("counter_reset:quantity=energy_active_import")
    meter.inject("nan:quantity=power_active")
    _read(source, meter)  # the faults start here
    now[0] += 900
    later = _read(source, meter)
    assert later["voltage_l1"].value == start["voltage_l1"].value  # frozen
    assert later["voltage_l2"].value != start["voltage_l2"].value  # the others move on
    energy = _value(later["energy_active_import"])
    assert 0 < energy < 100 < _value(start["energy_active_import"])
    assert later["power_active"].quality is Quality.INVALID and later["power_active"].value is None
    now[0] += 900
    assert _value(_read(source, meter)["energy_active_import"]) > energy  # counts on from 0

    meter.clear()
    meter.inject("spike:quantity=power_active,factor=10,reads=1")
    normal = meter.true_values()["power_active"]  # spiked too: true_values shows the registers
    assert normal is not None
    spiked = _read(source, meter)["power_active"].value
    after = _read(source, meter)["power_active"].value
    assert spiked == pytest.approx(normal) and after == pytest.approx(normal / 10, rel=1e-6)


def test_nan_on_integer_registers_uses_sentinel_or_all_ones(
    simulated_meter: Callable[..., SimulatedMeter]
) -> None:
    meter = simulated_meter("tuf-2000m")
    meter.inject("nan")
    readings = _read(LocalSource({1: meter}), meter, None)
    floats = [q for q, r in readings.items() if meter.variant.point(q).codec.dtype.startswith("f")
              or meter.variant.point(q).fraction_codec is not None]
    assert floats and all(readings[q].quality is Quality.INVALID for q in floats)
    assert meter.read(3, 71, 1) == [0xFFFF]  # error_code: u16 without sentinel -> 0xFFFF
    assert all(r.value != 0 for r in readings.values())


def test_leak_adds_night_flow(simulated_meter: Callable[..., SimulatedMeter]) -> None:
    now = [NIGHT]
    meter = simulated_meter("tuf-2000m", clock=lambda: now[0])
    source = LocalSource({1: meter})
    before = _read(source, meter, ("water_flow", "water_volume"))
    meter.inject("leak:flow=0.5")
    meter.true_values()  # the leak starts with the next look at the meter
    now[0] += 3600
    after = _read(source, meter, ("water_flow", "water_volume"))
    flow = _value(before["water_flow"])
    assert _value(after["water_flow"]) == pytest.approx(flow + 0.5, abs=0.05)
    assert _value(after["water_volume"]) - _value(before["water_volume"]) >= 0.5
    with pytest.raises(ValueError, match="water meter"):
        simulated_meter("chint-dtsu666").inject("leak")


def test_unknown_quantity_is_refused(simulated_meter: Callable[..., SimulatedMeter]) -> None:
    with pytest.raises(ValueError, match="no quantity 'water_flow'"):
        simulated_meter("chint-dtsu666").inject("stuck:quantity=water_flow")


# -- over the wire ---------------------------------------------------------------------------------


@contextmanager
def _served(transport: str) -> Iterator[tuple[Simulator, ModbusConnection, SimulatedMeter]]:
    meter = SimulatedMeter(resolve_variant("chint-dtsu666"), 1, seed=5,
                           clock=fixed_clock(FIXED_TIME))
    sim = Simulator([meter])
    if transport == "tcp":
        sim.add_tcp()
    else:
        sim.add_rtu(wire_timing=False)
    with sim, ModbusConnection(sim.endpoints[0], timeout=TIMEOUT) as conn:
        yield sim, conn, meter


@pytest.mark.parametrize("transport", ["tcp", pytest.param("rtu", marks=pytest.mark.rtu)])
def test_request_faults_over_the_wire(transport: str) -> None:
    with _served(transport) as (sim, conn, meter):
        ok = _read(conn, meter)
        assert all(r.quality is Quality.OK for r in ok.values())
        # Modbus TCP has no CRC: a damaged answer there is a bad frame (drivers/errors.py)
        damaged = "bad_frame" if transport == "tcp" else "crc_error"
        for fault, reason in [("no_answer", "timeout"), ("late:delay=0.5", "timeout"),
                              ("bad_crc", damaged), ("exception:code=6", "exception_6")]:
            sim.inject(1, fault)
            reader = MeterReader(conn, meter.variant, 1, quantities=WANTED)
            _assert_failed({r.quantity: r for r in reader.read()})
            failures = set(reader.stats.failures)
            if fault.startswith("late"):
                # the late answer to one block may land while the master waits for the next: a
                # stray frame (wrong transaction id on TCP), as with real meters
                assert reason in failures <= {reason, damaged}
            else:
                assert failures == {reason}, fault
            sim.clear(1)
            # let the last late answer go by: sent 0.5 s after a request that timed out at 0.25 s
            time.sleep(0.6 if fault.startswith("late") else 0)
        sim.inject(1, "exception:code=2,start=0x2006,end=0x2007")
        readings = _read(conn, meter)
        assert readings["voltage_l1"].quality is Quality.INVALID
        assert readings["power_active"].value == meter.true_values()["power_active"]
        sim.clear(1)
        sim.inject(1, "offline:after=0.1,duration=0.4")
        assert _read(conn, meter)["voltage_l1"].quality is Quality.OK
        time.sleep(0.1)
        _assert_failed(_read(conn, meter))
        time.sleep(0.4)
        assert _read(conn, meter)["voltage_l1"].quality is Quality.OK


def test_value_faults_over_tcp() -> None:
    with _served("tcp") as (sim, conn, meter):
        sim.inject(1, "nan:quantity=power_active")
        sim.inject(1, "spike:quantity=voltage_l1,factor=3")
        truth = meter.physical_values()
        readings = _read(conn, meter)
        assert readings["power_active"].quality is Quality.INVALID
        assert readings["power_active"].value is None
        assert readings["voltage_l1"].value == pytest.approx(3 * truth["voltage_l1"], rel=1e-6)
        assert _read(conn, meter)["voltage_l1"].value == pytest.approx(truth["voltage_l1"], rel=1e-6)
