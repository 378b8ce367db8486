"""The natural-gas profile (Tancy precession vortex flow meter) against the manufacturer's own worked
example: "累计流量 = 1234 × 100 + 87.89 = 123487.89" (registers 40009-10 and 40011-12, floats)."""

from __future__ import annotations

import struct

import pytest

from core.quantities import QUANTITIES, Kind
from drivers.profiles import BUNDLED_PROFILES, load_profile
from drivers.reader import MeterReader


class Registers:
    """A register table as the meter would hold it (wire addresses, FC3)."""

    def __init__(self, words: dict[int, int]) -> None:
        self.words = words

    def read_registers(self, unit: int, function: int, address: int, count: int) -> list[int]:
        assert function == 3
        return [self.words.get(a, 0) for a in range(address, address + count)]


def _float(address: int, value: float) -> dict[int, int]:
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return {address: hi, address + 1: lo}


def test_manufacturers_total_example_decodes_to_its_sum() -> None:
    variant = load_profile(BUNDLED_PROFILES / "tancy-precession-vortex.toml").variant()
    # 40001 temperature, 40003 pressure, 40007 standard flow per second, 40009/40011 the total
    words = {**_float(0, 21.7), **_float(2, 102.2), **_float(6, 0.0125), **_float(8, 1234.0),
             **_float(10, 87.89)}
    got = {r.quantity: r.value for r in MeterReader(Registers(words), variant, 1).read()}
    assert got["gas_volume"] == pytest.approx(123487.89, abs=1e-4)
    assert got["temp_gas"] == pytest.approx(21.7, abs=1e-5)
    assert got["gas_pressure"] == pytest.approx(102.2, abs=1e-4)
    assert got["gas_flow"] == pytest.approx(0.0125 * 3600, rel=1e-6)  # m³/s on the wire, m³/h out
    assert QUANTITIES["gas_volume"].kind is Kind.COUNTER and QUANTITIES["gas_volume"].unit == "m³"
