"""drivers.scan: unit lists, line settings and timeouts, presence, identification, the scan loop.

The loop is tested against a fake bus whose devices answer only at their own line setting; the
identification of every bundled profile variant runs against the simulator's meters in-process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from drivers.errors import (
    ConnectError,
    ModbusExceptionResponse,
    ModbusFrameError,
    ModbusTimeout,
)
from drivers.profiles import MeterVariant, load_profile
from drivers.scan import (
    DEFAULT_BAUDS,
    FoundDevice,
    LineSetting,
    Presence,
    identify,
    line_settings,
    parse_units,
    presence,
    profile_variants,
    scan,
)
from simulators.local import LocalSource
from simulators.meter import SimulatedMeter

# ---------------------------------------------------------------------------------------------------
# what to scan


def test_parse_units() -> None:
    assert parse_units("1-10,20") == [*range(1, 11), 20]
    assert parse_units(" 5 , 3-4,5") == [5, 3, 4]
    assert parse_units("0-2", low=0, high=255) == [0, 1, 2]


@pytest.mark.parametrize(("text", "message"), [
    ("5-1", "runs backwards"), ("x", "not a unit id"), ("0", "from 1 to 247"),
    ("240-250", "from 1 to 247"), ("", "no unit ids"),
])
def test_parse_units_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_units(text)


def test_default_line_settings_are_the_common_meter_settings() -> None:
    settings = line_settings()
    assert len(settings) == len(DEFAULT_BAUDS) * 2
    assert settings[:2] == [LineSetting(9600, "N", 1), LineSetting(9600, "E", 1)]
    assert {s.baud for s in settings} == {1200, 2400, 4800, 9600, 19200, 38400, 115200}


def test_line_settings_can_be_narrowed() -> None:
    assert line_settings([1200], ["e"]) == [LineSetting(1200, "E", 1)]
    assert line_settings([9600], ["N"], stopbits=2) == [LineSetting(9600, "N", 2)]


def test_probe_timeout_is_wire_time_plus_a_margin() -> None:
    fast, slow = LineSetting(9600, "N", 1), LineSetting(1200, "E", 1)
    # 15 bytes + two gaps at 9600 baud (23 ms), the default 20 ms turnaround, an 80 ms slack
    assert fast.probe_timeout() == pytest.approx(0.123, abs=0.001)
    assert fast.probe_timeout(0.1) == pytest.approx(0.203, abs=0.001)  # a TUF-2000M's 100 ms
    assert 0.25 < slow.probe_timeout() < 0.35  # the same at 1200 baud
    assert fast.ident_timeout() > 0.25 + 255 * 10 / 9600  # a 125-register answer fits


# ---------------------------------------------------------------------------------------------------
# presence


class Answers:
    """A register source that answers every request the same way."""

    def __init__(self, answer: list[int] | Exception) -> None:
        self.answer = answer

    def read_registers(self, unit: int, function: int, address: int, count: int) -> list[int]:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer[:count]


@pytest.mark.parametrize(("answer", "state"), [
    ([0x1234], Presence.PRESENT),
    (ModbusExceptionResponse(2), Presence.PRESENT),  # an exception still proves a device
    (ModbusExceptionResponse(1), Presence.PRESENT),
    (ModbusExceptionResponse(11), Presence.ABSENT),  # a TCP gateway: nobody behind it
    (ModbusTimeout("no answer"), Presence.ABSENT),
    (ModbusFrameError("CRC error"), Presence.GARBAGE),
])
def test_presence(answer: list[int] | Exception, state: Presence) -> None:
    assert presence(Answers(answer), 1)[0] is state


def test_presence_says_what_answered() -> None:
    assert presence(Answers([0x1234]), 1)[1] == "register 0 = 0x1234"
    assert presence(Answers(ModbusExceptionResponse(2)), 1)[1] == \
        "exception 2 (illegal data address)"


# ---------------------------------------------------------------------------------------------------
# identification

PROFILES = {
    "alpha.toml": """
manufacturer = "Acme"
model = "Alpha"
default_variant = "v1"
kind = "electricity"
points = [
  { quantity = "voltage_l1", address = 0, type = "uint16", scale = 0.1, range = [80, 300] },
  { quantity = "frequency", address = 1, type = "uint16", scale = 0.01, range = [45, 65] },
]
[variants.v1]
fingerprint = ["voltage_l1", { address = 9, equals = 1 }]
[variants.v2]
fingerprint = ["voltage_l1", { address = 9, equals = 2 }, "frequency"]
""",
    "beta.toml": """
manufacturer = "Acme"
model = "Beta"
kind = "electricity"
points = [
  { quantity = "voltage_l1", address = 0, type = "uint16", scale = 0.1, range = [80, 300] },
]
[variants.default]
fingerprint = ["voltage_l1", { address = 9, range = [1, 2] }]
""",
}


@pytest.fixture
def variants(tmp_path: Path) -> list[MeterVariant]:
    out: list[MeterVariant] = []
    for name, text in PROFILES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        out += list(load_profile(tmp_path / name).variants.values())
    return out


class Device:
    """A register map: address -> register; absent addresses refused with exception 2."""

    def __init__(self, regs: dict[int, int], latency: float = 0.0) -> None:
        self.regs = regs
        self.latency = latency  # seconds before it answers
        self.requests = 0

    def read_registers(self, unit: int, function: int, address: int, count: int) -> list[int]:
        self.requests += 1
        if any(a not in self.regs for a in range(address, address + count)):
            raise ModbusExceptionResponse(2)
        return [self.regs[a] for a in range(address, address + count)]


def _regs(version: int, volts: int = 2301) -> dict[int, int]:
    return {0: volts, 1: 5001, 9: version, **{a: 0 for a in range(2, 9)}}


def test_identify_picks_the_variant_whose_checks_all_pass(
        variants: list[MeterVariant]) -> None:
    results = identify(Device(_regs(1)), 1, variants)
    assert [r.key for r in results if r.matched] == ["alpha:v1", "beta:default"]
    device = FoundDevice(1, None, "", tuple(results))
    # both pass all checks; alpha:v1 and beta have two each: they cannot be told apart
    assert device.describe() == "ambiguous: alpha:v1 or beta:default"


def test_more_checks_win_among_full_matches(variants: list[MeterVariant]) -> None:
    results = identify(Device(_regs(2)), 1, variants)
    device = FoundDevice(1, None, "", tuple(results))
    assert device.identified is not None and device.identified.key == "alpha:v2"  # 3 checks
    assert device.describe() == "Acme Alpha (alpha:v2)"


def test_unknown_is_reported_honestly(variants: list[MeterVariant]) -> None:
    results = identify(Device(_regs(7, volts=12)), 1, variants)
    device = FoundDevice(1, None, "", tuple(results))
    assert device.identified is None and device.matches == []
    assert device.describe().startswith("unknown")
    assert device.closest is not None
    assert any("register 9 (FC3) = 7, expected" in f for f in device.closest.failures)
    assert device.as_dict()["identified"] is False


def test_identify_reads_shared_registers_once(variants: list[MeterVariant]) -> None:
    device = Device(_regs(1))
    identify(device, 1, variants)
    assert device.requests == 1  # registers 0..9 of all five checks in one request


# ---------------------------------------------------------------------------------------------------
# the scan loop, on a fake bus


class FakeBus:
    """Devices at their own line settings; a probe at another setting times out (or, with
    `noisy`, arrives garbled). A device slower than the timeout times out and its late answer
    garbles the next request. Records every opening with its timeout."""

    def __init__(self, devices: dict[int, tuple[LineSetting | None, Device]], *,
                 noisy: bool = False, refuse_parity: str | None = None) -> None:
        self.devices = devices
        self.noisy = noisy
        self.refuse_parity = refuse_parity
        self.opened: list[tuple[LineSetting | None, float]] = []
        self.late_answer_pending = False

    @contextmanager
    def connect(self, setting: LineSetting | None, timeout: float) -> Iterator[Port]:
        if setting is not None and setting.parity == self.refuse_parity:
            raise ConnectError(f"cannot open the port at {setting}")
        self.opened.append((setting, timeout))
        yield Port(self, setting, timeout)


class Port:
    def __init__(self, bus: FakeBus, setting: LineSetting | None, timeout: float) -> None:
        self.bus = bus
        self.setting = setting
        self.timeout = timeout

    def read_registers(self, unit: int, function: int, address: int, count: int) -> list[int]:
        if self.bus.late_answer_pending:
            self.bus.late_answer_pending = False
            raise ModbusFrameError("a frame from another unit")
        found = self.bus.devices.get(unit)
        if found is None:
            if self.setting is None:
                raise ModbusExceptionResponse(11)
            raise ModbusTimeout(f"no answer from unit {unit}")
        setting, device = found
        if setting != self.setting:
            if self.bus.noisy and setting is not None and self.setting is not None \
                    and setting.baud == self.setting.baud:
                raise ModbusFrameError("parity errors")
            raise ModbusTimeout(f"no answer from unit {unit}")
        if device.latency > self.timeout:
            self.bus.late_answer_pending = True
            raise ModbusTimeout(f"no answer from unit {unit}")
        return device.read_registers(unit, function, address, count)


N96, E96, N192, E192 = (LineSetting(9600, "N", 1), LineSetting(9600, "E", 1),
                        LineSetting(19200, "N", 1), LineSetting(19200, "E", 1))


def _bus(**kwargs: object) -> FakeBus:
    return FakeBus({1: (N96, Device(_regs(2))), 2: (N96, Device(_regs(1))),
                    5: (E192, Device(_regs(2)))}, **kwargs)  # type: ignore[arg-type]


def test_scan_finds_each_unit_at_its_line_setting(variants: list[MeterVariant]) -> None:
    bus = _bus()
    found: list[FoundDevice] = []
    report = scan(bus.connect, units=range(1, 7), settings=[N96, E96, N192, E192],  # type: ignore[arg-type]
                  variants=variants, on_found=found.append)
    assert [(d.unit, d.setting) for d in report.devices] == [(1, N96), (2, N96), (5, E192)]
    assert found == report.devices  # each device was emitted as it was found
    assert report.devices[0].describe() == "Acme Alpha (alpha:v2)"
    assert report.probes == 24
    assert report.as_dict()["devices"][2]["line"] == {  # type: ignore[index]
        "baud": 19200, "parity": "E", "stopbits": 1, "bytesize": 8}


def test_scan_uses_a_short_timeout_per_setting_and_a_longer_one_to_identify(
        variants: list[MeterVariant]) -> None:
    bus = _bus()
    scan(bus.connect, units=[1, 3], settings=[N96, E192], variants=variants)  # type: ignore[arg-type]
    timeouts = [(s, round(t, 3)) for s, t in bus.opened]
    short, long_ = round(N96.probe_timeout(), 3), round(N96.ident_timeout(), 3)
    # 9600 N: open short, reopen long for unit 1's identification, back to short; then 19200 E
    assert timeouts == [(N96, short), (N96, long_), (N96, short),
                        (E192, round(E192.probe_timeout(), 3))]


def test_a_given_timeout_overrides_the_wire_time(variants: list[MeterVariant]) -> None:
    bus = _bus()
    scan(bus.connect, units=[3], settings=[N96], variants=variants, timeout=0.5)  # type: ignore[arg-type]
    assert bus.opened == [(N96, 0.5)]


def test_stop_at_first_ends_after_the_setting_that_found_something(
        variants: list[MeterVariant]) -> None:
    report = scan(_bus().connect, units=range(1, 7), settings=[N96, E96, N192, E192],  # type: ignore[arg-type]
                  variants=variants, stop_at_first=True)
    assert [d.unit for d in report.devices] == [1, 2]  # unit 5 at 19200 E is not reached
    assert report.stopped_early
    assert report.settings_scanned == [N96]


def test_garbled_answers_hint_at_another_parity(variants: list[MeterVariant]) -> None:
    report = scan(_bus(noisy=True).connect, units=[5], settings=[N192, E192],  # type: ignore[arg-type]
                  variants=variants)
    assert report.garbage == {"19200 8N1": 1}
    assert [d.setting for d in report.devices] == [E192]


def test_a_slow_device_is_found_from_its_late_answer(variants: list[MeterVariant]) -> None:
    slow = Device(_regs(2), latency=0.2)  # answers after the probe timeout (~0.1 s at 9600)
    bus = FakeBus({3: (N96, slow), 6: (N96, Device(_regs(1)))})
    report = scan(bus.connect, units=range(1, 8), settings=[N96], variants=variants)  # type: ignore[arg-type]
    assert [d.unit for d in report.devices] == [3, 6]
    assert report.devices[0].answer == "register 0 = 0x08FD"
    assert report.devices[0].recovered and report.devices[0].late  # reported as answered late
    assert report.late == [report.devices[0]]
    assert "after the probe's timeout" in report.devices[0].timing()
    assert report.devices[0].describe() == "Acme Alpha (alpha:v2)"
    assert report.garbage == {"9600 8N1": 1}  # unit 4's probe caught unit 3's late answer


class Scripted:
    """Answers each unit's requests from a list, in turn (an Exception is raised)."""

    def __init__(self, answers: dict[int, list[list[int] | Exception]]) -> None:
        self.answers = answers
        self.asked: list[int] = []

    @contextmanager
    def connect(self, setting: LineSetting | None, timeout: float) -> Iterator[Scripted]:
        yield self

    def read_registers(self, unit: int, function: int, address: int, count: int) -> list[int]:
        self.asked.append(unit)
        answer = self.answers[unit].pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_a_late_frame_two_probes_later_names_the_slow_unit() -> None:
    # unit 3 is slower than the probe: its answer lands after unit 4's, garbling unit 5's probe;
    # the stray frame starts with unit id 3 and FC3, so unit 3 is asked again and found
    bus = Scripted({3: [ModbusTimeout("silent"), [7]], 4: [[1]],
                    5: [ModbusFrameError("late", bytes([3, 3, 2, 0, 7, 0, 0])),
                        ModbusTimeout("silent")]})
    report = scan(bus.connect, units=[3, 4, 5], settings=[N96])  # type: ignore[arg-type]
    assert bus.asked == [3, 4, 5, 3, 5]
    assert [(d.unit, d.recovered) for d in report.devices] == [(4, False), (3, True)]
    assert presence(Answers(ModbusFrameError("x", bytes([3, 3, 2, 0, 7]))), 5)[2] == 3
    assert presence(Answers(ModbusFrameError("noise", b"\xff")), 5)[2] is None


def test_a_setting_the_port_refuses_is_skipped_and_reported(
        variants: list[MeterVariant]) -> None:
    report = scan(_bus(refuse_parity="E").connect, units=[1, 5], settings=[N96, E96],  # type: ignore[arg-type]
                  variants=variants)
    assert [d.unit for d in report.devices] == [1]
    assert report.unusable == {"9600 8E1": "cannot open the port at 9600 8E1"}


def test_no_usable_setting_at_all_is_an_error(variants: list[MeterVariant]) -> None:
    with pytest.raises(ConnectError, match="cannot open"):
        scan(_bus(refuse_parity="E").connect, units=[1], settings=[E96, E192],  # type: ignore[arg-type]
             variants=variants)


def test_scan_over_tcp_probes_unit_ids_only(variants: list[MeterVariant]) -> None:
    bus = FakeBus({3: (None, Device(_regs(2))), 4: (None, Device({}))})
    progress: list[tuple[int, int]] = []
    report = scan(bus.connect, units=range(1, 6), variants=variants,  # type: ignore[arg-type]
                  on_progress=lambda done, total, s, u: progress.append((done, total)))
    assert [(d.unit, d.describe()) for d in report.devices] == [
        (3, "Acme Alpha (alpha:v2)"), (4, "unknown")]  # unit 4 answers only exception 2
    assert report.devices[1].answer == "exception 2 (illegal data address)"
    assert progress[0] == (0, 5) and progress[-1] == (5, 5)


# ---------------------------------------------------------------------------------------------------
# every bundled variant, simulated, identifies as itself


ALL_VARIANTS, _PROBLEMS = profile_variants()


def test_bundled_profiles_all_load() -> None:
    assert _PROBLEMS == []


@pytest.mark.parametrize("variant", ALL_VARIANTS, ids=lambda v: v.key)
def test_each_bundled_variant_is_identified_as_itself(variant: MeterVariant) -> None:
    meter = SimulatedMeter(variant, 7, seed=3)
    results = identify(LocalSource({7: meter}), 7, ALL_VARIANTS)
    device = FoundDevice(7, None, "", tuple(results))
    assert device.identified is not None, device.describe()
    assert device.identified.key == variant.key
