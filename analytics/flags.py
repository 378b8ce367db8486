"""Quality flags of an aggregated interval cell (one meter × one interval).

A cell's flags are a bitmask (``uint16``); test a bit with ``flags & IntervalFlag.GAP``.
"""

from __future__ import annotations

import enum


class IntervalFlag(enum.IntFlag):
    """What happened inside one interval of one meter.

    GAP        a step between two consecutive readings longer than ``max_gap_s`` overlaps the interval;
               the counter is not interpolated across it (its delta is not counted) and coverage < 1.
    RESET      the counter dropped (meter replaced, memory cleared): a new segment starts; the step
               containing the drop contributes nothing.
    ROLLOVER   the counter wrapped at its declared register maximum; the step counts
               ``value + (rollover − previous)``.
    SPIKE      a rise faster than ``max_rate``; that step's delta is excluded, the segment continues.
    DUPLICATE  several readings of the meter share a timestamp; the one with the largest value is kept.
    NO_DATA    coverage is 0: no pair of readings backs any part of the interval (value is NaN).
    PARTIAL    0 < coverage < 1 (before the first reading, after the last, or across a gap).
    INVALID    a NaN reading fell in the interval; it was ignored (never treated as 0).
    """

    NONE = 0
    GAP = 1 << 0
    RESET = 1 << 1
    ROLLOVER = 1 << 2
    SPIKE = 1 << 3
    DUPLICATE = 1 << 4
    NO_DATA = 1 << 5
    PARTIAL = 1 << 6
    INVALID = 1 << 7


FLAG_DTYPE = "uint16"
