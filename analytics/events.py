"""What a detector reports: the contract between detectors, quota tracking and the alert lifecycle.

A detector looks at interval series and returns `Detection`s: one per episode of a condition on one
subject (a meter, or a building for quota and after-hours findings). The lifecycle (raise, update,
clear with hysteresis, acknowledge) turns the stream of detections into alerts; detectors stay pure
numpy and know nothing of MQTT, storage or time of day in the real world.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum


class AlertKind(StrEnum):
    """Every kind of finding. The value is what appears in topics, JSON and tables."""

    CONSUMPTION_ANOMALY = "consumption_anomaly"  # off its robust time-of-week baseline
    AFTER_HOURS_WASTE = "after_hours_waste"  # night/weekend base load high against occupied hours
    BASE_LOAD_CREEP = "base_load_creep"  # base load stepping or creeping up over weeks
    WATER_LEAK = "water_leak"  # minimum night flow above k x 28-day median and a floor, N nights
    STUCK_METER = "stuck_meter"  # value flat while it should move
    COMM_LOSS = "comm_loss"  # no readings for longer than allowed
    COUNTER_RESET = "counter_reset"  # counter went backwards: reset or meter swap
    SPIKE = "spike"  # step beyond the meter's physical maximum rate
    SENTINEL = "sentinel"  # invalid/sentinel values reported by the meter
    HEAT_PUMP_COP = "heat_pump_cop"  # COP below expectation for the outdoor temperature
    QUOTA_GUIDE = "quota_above_guide"  # year to date above the pro-rated guide value
    QUOTA_BASELINE = "quota_above_baseline"
    QUOTA_CONSTRAINT = "quota_above_constraint"
    QUOTA_PROJECTED = "quota_projected_exceed"  # projected year end above the constraint value
    REDUCTION_TARGET = "reduction_target_off_track"  # yearly reduction target (e.g. -2 %) off track


class Severity(IntEnum):
    """Ordered: a higher value is more urgent."""

    INFO = 1
    WARNING = 2
    MAJOR = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Detection:
    """One episode of a condition on one subject.

    `start_ns`/`end_ns` are interval boundaries (UTC ns). `end_ns` is None while the condition still
    holds at the end of the data the detector saw. `value` is the measured figure and `threshold`
    what it was compared with, both in `unit`, so a message can say "0.42 m³/h against 0.10 m³/h".
    """

    kind: AlertKind
    subject: str  # meter id, or building id for quota / building-level findings
    start_ns: int
    end_ns: int | None
    severity: Severity
    value: float
    threshold: float
    unit: str
    message: str
    details: Mapping[str, float | int | str] = field(default_factory=dict)

    @property
    def ongoing(self) -> bool:
        return self.end_ns is None
