from __future__ import annotations

import pytest

from drivers.wiretime import bits_per_char, char_time, frame_gap, read_airtime


def test_reference_figures_at_9600() -> None:
    # meters.md: one character = 1.146 ms at 9600 baud; 60 registers in one request ~ 160 ms
    assert char_time(9600) == pytest.approx(1.146e-3, rel=1e-3)
    assert read_airtime(60, 9600) == pytest.approx((8 + 125 + 7) * 1.146e-3, rel=1e-3)
    thirty_small = 30 * read_airtime(2, 9600)
    assert thirty_small == pytest.approx(30 * (8 + 9 + 7) * 1.146e-3, rel=1e-3)


def test_gap_is_fixed_above_19200() -> None:
    assert frame_gap(115200) == 0.00175
    assert frame_gap(9600) == pytest.approx(3.5 * 11 / 9600)


def test_bits_per_char() -> None:
    assert bits_per_char(8, "E", 1) == 11
    assert bits_per_char(8, "N", 2) == 11
    assert bits_per_char(8, "N", 1) == 10
