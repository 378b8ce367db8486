"""drivers.probe and drivers.guess: verdicts in words, and ranking orders and numberings.

Unit tests run against a small fake register source built from a test profile; the integration
tests at the end run the guess against the simulator's meters in-process (no sockets).
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from core.reading import Quality
from drivers.codec import Order
from drivers.errors import (
    ModbusExceptionResponse,
    ModbusFrameError,
    ModbusTimeout,
)
from drivers.guess import (
    candidates,
    derive_variant,
    guess,
    plausible,
    profile_layout,
    profile_order,
)
from drivers.probe import probe
from drivers.profiles import MeterVariant, find_profile, load_profile, resolve_variant
from drivers.reader import Reading
from simulators.local import LocalSource

PROFILE = """
manufacturer = "Test"
model = "T1"
kind = "electricity"
defaults = {{ function = 3, type = "float32", order = "ABCD", address_base = {base} }}
points = [
  {{ quantity = "voltage_l1", address = 10, range = [0, 500] }},
  {{ quantity = "voltage_l2", address = 12, range = [0, 500] }},
  {{ quantity = "current_l1", address = 14, range = [0, 100] }},
  {{ quantity = "power_active", address = 16, range = [-1e5, 1e5] }},
  {{ quantity = "frequency", address = 30, range = [45, 65] }},
  {{ quantity = "energy_active_import", address = 40, range = [0, 1e9], max_rate = 1000 }},
  {{ quantity = "energy_active_export", address = 42, range = [0, 1e9], max_rate = 1000 }},
]
[variants.default]
"""
VALUES = {"voltage_l1": 230.1, "voltage_l2": 229.7, "current_l1": 12.34, "power_active": 2801.5,
          "frequency": 50.02, "energy_active_import": 12345.67, "energy_active_export": 0.0}


class FakeMeter:
    """A register source holding `values` laid out like `variant`, optionally in another order and
    shifted; unmapped registers read 0 (`unmapped="zero"`) or are refused with exception 2."""

    def __init__(self, variant: MeterVariant, values: dict[str, float], *,
                 order: Order | None = None, shift: int = 0, unmapped: str = "zero",
                 silent: bool = False, gateway_absent: bool = False) -> None:
        self.regs: dict[tuple[int, int], int] = {}
        self.requests: list[tuple[int, int, int]] = []
        self.unmapped = unmapped
        self.silent = silent
        self.gateway_absent = gateway_absent
        self.garbled: set[int] = set()
        for p in variant.points:
            codec = p.codec if order is None else replace(p.codec, order=order)
            value = values[p.quantity]
            words = codec.encode(value) if not math.isnan(value) else _nan_words(codec.count)
            for i, w in enumerate(words):
                self.regs[(p.function, p.address + shift + i)] = w

    def read_registers(self, unit: int, function: int, address: int, count: int) -> list[int]:
        self.requests.append((function, address, count))
        if self.silent:
            raise ModbusTimeout(f"no answer from unit {unit} within 1 s")
        if self.gateway_absent:
            raise ModbusExceptionResponse(11)
        keys = [(function, a) for a in range(address, address + count)]
        if any(a in self.garbled for _, a in keys):
            raise ModbusFrameError("CRC error in the answer")
        if self.unmapped == "refuse" and any(k not in self.regs for k in keys):
            raise ModbusExceptionResponse(2)
        return [self.regs.get(k, 0) for k in keys]


def _nan_words(count: int) -> list[int]:
    return [0x7FC0] + [0] * (count - 1)


@pytest.fixture
def variant(tmp_path: Path) -> MeterVariant:
    return _variant(tmp_path, base=0)


def _variant(tmp_path: Path, base: int, text: str = PROFILE) -> MeterVariant:
    path = tmp_path / "test-t1.toml"
    path.write_text(text.format(base=base), encoding="utf-8")
    return load_profile(path).variant()


# ---------------------------------------------------------------------------------------------------
# probe: verdicts in words


def test_probe_reads_every_point_and_says_ok(variant: MeterVariant) -> None:
    result = probe(FakeMeter(variant, VALUES), variant, 1)
    assert [p.verdict for p in result.points] == ["ok"] * len(VALUES)
    assert result.summary() == "7 ok / 0 out of range / 0 invalid / 0 comm errors"
    by_q = {p.quantity: p for p in result.points}
    assert by_q["voltage_l1"].reading.value == pytest.approx(230.1, rel=1e-6)
    assert by_q["voltage_l1"].raw_hex() == "4366 199A"
    assert not result.silent


def test_verdicts_name_the_problem(variant: MeterVariant) -> None:
    values = dict(VALUES, voltage_l1=900.0, current_l1=math.nan)
    meter = FakeMeter(variant, values, unmapped="refuse")
    del meter.regs[(3, 30)], meter.regs[(3, 31)]  # frequency: the device refuses the address
    verdicts = {p.quantity: p.verdict for p in probe(meter, variant, 1).points}
    assert verdicts["voltage_l1"] == "outside plausible range 0..500 V"
    assert verdicts["current_l1"] == "invalid: NaN or sentinel"
    assert verdicts["frequency"] == "invalid: the meter refuses this register (exception 2)"
    assert verdicts["energy_active_export"] == "ok"  # read once the refused address is split off
    assert verdicts["voltage_l2"] == "ok"


def test_a_communication_error_keeps_its_cause(variant: MeterVariant) -> None:
    meter = FakeMeter(variant, VALUES)
    meter.garbled = {10}
    result = probe(meter, variant, 1)
    by_q = {p.quantity: p for p in result.points}
    assert by_q["voltage_l1"].quality is Quality.COMM_ERROR
    assert "CRC error" in by_q["voltage_l1"].verdict
    assert by_q["frequency"].verdict == "ok"
    assert not result.silent


def test_probe_json_gives_null_never_zero_for_invalid(variant: MeterVariant) -> None:
    result = probe(FakeMeter(variant, dict(VALUES, current_l1=math.nan)), variant, 1)
    data = {p.quantity: p.as_dict() for p in result.points}
    assert data["current_l1"]["value"] is None
    assert data["current_l1"]["quality"] == "invalid"
    assert set(data["voltage_l1"]) >= {"quantity", "value", "unit", "quality", "verdict", "raw"}
    assert data["voltage_l1"]["unit"] == "V"


@pytest.mark.parametrize("kind", ["silent", "gateway_absent"])
def test_probe_knows_when_nobody_answered(variant: MeterVariant, kind: str) -> None:
    meter = FakeMeter(variant, VALUES, silent=kind == "silent",
                      gateway_absent=kind == "gateway_absent")
    result = probe(meter, variant, 1)
    assert result.silent
    assert {p.quality for p in result.points} == {Quality.COMM_ERROR}


def test_probe_of_a_silent_meter_waits_one_timeout_not_one_per_request(
        variant: MeterVariant) -> None:
    meter = FakeMeter(variant, VALUES, silent=True)
    probe(meter, variant, 1)
    assert len(meter.requests) == 1  # the plan has three requests


# ---------------------------------------------------------------------------------------------------
# guess: candidates


def test_candidates_cover_four_orders_and_three_numberings(variant: MeterVariant) -> None:
    cands = candidates(variant)
    assert len(cands) == 12
    assert (cands[0].order, cands[0].shift) == (Order.ABCD, 0)  # the profile as written first
    assert {(c.order, c.shift) for c in cands} == {(o, s) for o in Order for s in (0, -1, 1)}
    assert {c.shift_label for c in cands} == {"as profile", "register − 1", "register + 1"}


def test_sixteen_bit_points_make_word_order_moot(tmp_path: Path) -> None:
    text = PROFILE.replace('type = "float32"', 'type = "uint16"').replace("1e9]", "65535]")
    v = _variant(tmp_path, 0, text)
    cands = candidates(v)
    assert len(cands) == 6  # ABCD = CDAB and BADC = DCBA for one-register values
    assert cands[0].order_label == "ABCD = CDAB"


def test_derived_variant_moves_and_reorders_without_touching_the_profile(
        variant: MeterVariant) -> None:
    moved = derive_variant(variant, Order.CDAB, -1)
    assert [p.address for p in moved.points] == [p.address - 1 for p in variant.points]
    assert {p.codec.order for p in moved.points} == {Order.CDAB}
    assert {p.codec.order for p in variant.points} == {Order.ABCD}


def test_plausible_rejects_float_artefacts_even_inside_the_range(variant: MeterVariant) -> None:
    point = variant.point("energy_active_import")
    tiny = Reading("energy_active_import", 2.4e-41, "kWh", Quality.OK, 0.0, raw=(0x0000, 0x4366))
    assert not plausible(point, tiny)  # a denormal: 230.0 read word-swapped
    negative = Reading("energy_active_import", -5.0, "kWh", Quality.OK, 0.0, raw=(0xC0A0, 0))
    assert not plausible(replace(point, range=(-10.0, 10.0)), negative)  # a counter below zero


# ---------------------------------------------------------------------------------------------------
# guess: ranking


@pytest.mark.parametrize("unmapped", ["zero", "refuse"])
@pytest.mark.parametrize("shift", [0, -1, 1])
@pytest.mark.parametrize("order", list(Order))
def test_guess_names_the_order_and_numbering_the_meter_uses(
        variant: MeterVariant, order: Order, shift: int, unmapped: str) -> None:
    meter = FakeMeter(variant, VALUES, order=order, shift=shift, unmapped=unmapped)
    result = guess(meter, variant, 1)
    assert (result.winner.candidate.order, result.winner.candidate.shift) == (order, shift)
    assert result.confidence() in ("clear", "likely", "coverage")
    assert result.profile_fits == (order is Order.ABCD and shift == 0)


def test_guess_reads_the_union_once_not_twelve_times(variant: MeterVariant) -> None:
    meter = FakeMeter(variant, VALUES)
    guess(meter, variant, 1)
    # points at 10..17, 30..31, 40..43: three blocks (each widened by one register either side)
    assert meter.requests == [(3, 9, 10), (3, 29, 4), (3, 39, 6)]


def test_refused_neighbours_cost_a_few_requests_not_the_block(variant: MeterVariant) -> None:
    meter = FakeMeter(variant, VALUES, unmapped="refuse")
    result = guess(meter, variant, 1)
    assert len(meter.requests) <= 12  # per block: refused, core, two single edge registers
    assert result.winner.candidate.shift == 0


def test_a_value_equal_in_every_candidate_carries_no_information(tmp_path: Path) -> None:
    v = _variant(tmp_path, 0, PROFILE.replace("address = 42", "address = 50"))
    result = guess(FakeMeter(v, VALUES), v, 1)
    # 0.0 among empty registers reads 0 in every order and numbering: it cannot vote
    assert "energy_active_export" not in result.discriminating
    assert "voltage_l1" in result.discriminating
    assert result.winner.score == 1.0


def test_advice_for_another_word_order(variant: MeterVariant, tmp_path: Path) -> None:
    layout = profile_layout(tmp_path / "test-t1.toml", "default")
    result = guess(FakeMeter(variant, VALUES, order=Order.CDAB), variant, 1, layout=layout)
    assert result.advice == ('set order = "CDAB" in [defaults]',)


def test_advice_for_a_one_based_manual(variant: MeterVariant, tmp_path: Path) -> None:
    layout = profile_layout(tmp_path / "test-t1.toml", "default")
    result = guess(FakeMeter(variant, VALUES, shift=-1), variant, 1, layout=layout)
    assert result.advice == ("set address_base = 1 in [defaults] (the manual numbers registers "
                             "from 1)",)


def test_advice_when_the_profile_is_one_based_but_should_not_be(tmp_path: Path) -> None:
    v = _variant(tmp_path, base=1)
    layout = profile_layout(tmp_path / "test-t1.toml", "default")
    assert layout is not None and layout.address_base == 1
    result = guess(FakeMeter(v, VALUES, shift=1), v, 1, layout=layout)
    assert result.advice[0].startswith("set address_base = 0 in [defaults]")


def test_advice_names_a_point_that_sets_its_own_order(tmp_path: Path) -> None:
    text = PROFILE.replace('{ quantity = "power_active", address = 16,',
                           '{ quantity = "power_active", address = 16, order = "CDAB",')
    v = _variant(tmp_path, 0, text)
    layout = profile_layout(tmp_path / "test-t1.toml", "default")
    result = guess(FakeMeter(v, VALUES, order=Order.ABCD), v, 1, layout=layout)
    assert result.advice == ('set order = "ABCD" on power_active, which sets its own order '
                             "(or fraction order)",)


def test_nothing_to_change_when_the_profile_fits(variant: MeterVariant) -> None:
    result = guess(FakeMeter(variant, VALUES), variant, 1)
    assert result.profile_fits
    assert result.advice == ("the profile's order and addresses fit this meter; nothing to change",)


def test_an_undecidable_word_order_is_reported_as_a_tie(tmp_path: Path) -> None:
    text = """
manufacturer = "Test"
model = "T2"
kind = "heat_pump"
[[points]]
quantity = "temp_supply"
address = 4
type = "int16"
scale = 0.01
range = [-40, 150]

[[points]]
quantity = "energy_active_import"
address = 20
type = "int32"
scale = 0.001
range = [0, 1e6]
max_rate = 100

[variants.default]
"""
    path = tmp_path / "t2.toml"
    path.write_text(text, encoding="utf-8")
    v = load_profile(path).variant()
    # 0x0003_0002 Wh = 196.610 kWh, word-swapped 0x0002_0003 = 131.075 kWh: both plausible
    meter = FakeMeter(v, {"temp_supply": 45.5, "energy_active_import": 196.61})
    result = guess(meter, v, 1)
    assert result.confidence() == "tie"
    assert result.winner.candidate.order is Order.ABCD  # ties keep the profile's own order
    assert "energy_active_import" in result.explain()
    assert "compare with the meter's display" in result.explain()


def test_guess_of_a_silent_meter(variant: MeterVariant) -> None:
    meter = FakeMeter(variant, VALUES, silent=True)
    result = guess(meter, variant, 1)
    assert result.silent
    assert len(meter.requests) == 2  # gives up after two timeouts, not one per block


# ---------------------------------------------------------------------------------------------------
# against the simulator's meters, in-process


class Counting:
    def __init__(self, source: LocalSource) -> None:
        self.source = source
        self.requests = 0

    def read_registers(self, unit: int, function: int, address: int, count: int) -> list[int]:
        self.requests += 1
        return self.source.read_registers(unit, function, address, count)


@pytest.mark.parametrize("shift", [0, 1, -1])
@pytest.mark.parametrize("order", list(Order))
def test_guess_on_a_simulated_dtsu666(simulated_meter, order: Order, shift: int) -> None:  # type: ignore[no-untyped-def]
    # the simulator fills unmapped registers with 0, so a one-off, word-swapped reading of these
    # float blocks is almost as plausible as the truth: coverage must break the tie
    meter = simulated_meter("chint-dtsu666", 1, order=order, address_shift=shift)
    source = Counting(LocalSource({1: meter}))
    result = guess(source, resolve_variant("chint-dtsu666"), 1)
    assert (result.winner.candidate.order, result.winner.candidate.shift) == (order, shift)
    assert source.requests <= 6


def test_profile_layout_of_a_multi_variant_profile() -> None:
    prof = find_profile("chint-dtsu666")
    native = profile_layout(prof.path, "native")
    sungrow = profile_layout(prof.path, "sungrow")
    assert native is not None and sungrow is not None
    assert (native.order, native.address_base) == ("ABCD", 0)
    assert native.section == "[variants.native.defaults]"  # [defaults] would change the others too
    assert sungrow.section == "[variants.sungrow.defaults]"
    assert profile_order(prof.variant("native")) is Order.ABCD
