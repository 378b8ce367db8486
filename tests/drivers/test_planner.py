"""Planner: table tests of the pure block planner and of splitting on "illegal data address"."""

from __future__ import annotations

import pytest

from drivers.planner import Block, ReadPlan, plan_blocks
from drivers.profiles import DeviceLimits, Unreadable


def _shape(blocks: list[Block]) -> list[tuple[int, int, int]]:
    return [(b.function, b.address, b.count) for b in blocks]


@pytest.mark.parametrize(
    ("spans", "kwargs", "expected"),
    [
        # adjacent floats merge into one request
        ([(4, 0, 2), (4, 2, 2), (4, 4, 2)], {}, [(4, 0, 6)]),
        # a gap within max_gap is bridged
        ([(4, 0, 2), (4, 10, 2)], {"max_gap": 8}, [(4, 0, 12)]),
        # a gap beyond max_gap is not
        ([(4, 0, 2), (4, 11, 2)], {"max_gap": 8}, [(4, 0, 2), (4, 11, 2)]),
        # holding and input registers never mix
        ([(3, 0, 2), (4, 2, 2)], {}, [(3, 0, 2), (4, 2, 2)]),
        # the 125-register limit splits a long run
        ([(3, a, 2) for a in range(0, 200, 2)], {}, [(3, 0, 124), (3, 124, 76)]),
        # a device limit below 125
        ([(3, a, 2) for a in range(0, 20, 2)], {"max_registers": 8},
         [(3, 0, 8), (3, 8, 8), (3, 16, 4)]),
        # overlapping and duplicate spans (bit fields of one register)
        ([(3, 5, 1), (3, 5, 1), (3, 4, 2)], {}, [(3, 4, 2)]),
        # an unreadable range between two spans is never bridged, even if the gap is small
        ([(3, 0, 2), (3, 6, 2)], {"unreadable": [Unreadable(3, 4)]}, [(3, 0, 2), (3, 6, 2)]),
        # ... but an unreadable range for the other function code does not matter
        ([(3, 0, 2), (3, 6, 2)], {"unreadable": [Unreadable(3, 4, function=4)]}, [(3, 0, 8)]),
        ([], {}, []),
    ],
)
def test_plan_blocks(spans: list[tuple[int, int, int]], kwargs: dict[str, object],
                     expected: list[tuple[int, int, int]]) -> None:
    assert _shape(plan_blocks(spans, **kwargs)) == expected  # type: ignore[arg-type]


def test_every_span_is_covered_by_exactly_its_block() -> None:
    spans = [(3, a, 2) for a in (0, 2, 30, 32, 100, 102, 240)]
    blocks = plan_blocks(spans, max_registers=40, max_gap=10)
    for s in spans:
        owners = [b for b in blocks if s in b.spans]
        assert len(owners) == 1
        b = owners[0]
        assert b.address <= s[1] and s[1] + s[2] <= b.end
    assert all(b.count <= 40 for b in blocks)


def test_value_larger_than_device_limit_is_an_error() -> None:
    with pytest.raises(ValueError, match="exceeds the device's limit"):
        plan_blocks([(3, 0, 4)], max_registers=2)


def test_split_on_illegal_address_is_remembered() -> None:
    plan = ReadPlan([(3, 0, 2), (3, 2, 2), (3, 4, 2), (3, 6, 2)], DeviceLimits())
    assert plan.request_count == 1
    whole = plan.blocks[0]
    halves = plan.split(whole)
    assert _shape(halves) == [(3, 0, 4), (3, 4, 4)]
    assert plan.blocks == halves  # kept for the next poll
    # one half is still refused: split again, down to a single span that is dropped
    quarter = plan.split(halves[1])
    assert _shape(quarter) == [(3, 4, 2), (3, 6, 2)]
    assert plan.split(quarter[1]) == []
    assert (3, 6, 2) in plan.refused
    assert _shape(plan.blocks) == [(3, 0, 4), (3, 4, 2)]
    assert plan.split(whole) == []  # a stale block is ignored
