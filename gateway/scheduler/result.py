"""What one poll of one (meter, poll group) produced, handed to the sink from the bus thread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from drivers.reader import Reading

PollResultKind = Literal["ok", "partial", "failed"]


@dataclass(frozen=True, slots=True)
class PollResult:
    meter_id: str
    group_interval_s: float  # the group's configured interval (its identity in the config)
    ts: float  # wall clock when the poll started; each reading carries its own request time
    readings: list[Reading]
    result: str  # "ok" | "partial" (some comm_error readings) | "failed" (all comm_error)
    deadline: float = 0.0  # the aligned deadline this poll served (≤ ts)
