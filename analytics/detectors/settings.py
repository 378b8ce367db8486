"""What the detectors need to know: meter roles, building schedules and every threshold.

All three are frozen dataclasses that check themselves; every default is documented in
docs/detectors.md with the reason for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from analytics.calendar import WorkCalendar

KINDS = ("electricity", "water", "heat", "heat_pump")
NS = 1_000_000_000
_DAY_NS = 86_400 * NS


@dataclass(frozen=True)
class MeterRole:
    """One meter as the detectors see it: the counter analysed and what it measures."""

    meter: str
    building: str
    kind: str  # "electricity" | "water" | "heat" | "heat_pump"
    quantity: str  # the series analysed: energy_active_import, water_volume, heat_energy, ...
    max_rate: float | None = None  # physical max rise per hour (counter units/h), for spikes
    rollover: float | None = None  # register modulus of the counter
    pair: str | None = None  # heat meter: the electricity meter of its heat pump (COP = heat / elec)
    counter: bool = True  # False: an instantaneous quantity (power, flow, temperature)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"meter {self.meter!r}: kind must be one of {', '.join(KINDS)}, "
                             f"got {self.kind!r}")
        for name in ("max_rate", "rollover"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v > 0):
                raise ValueError(f"meter {self.meter!r}: {name} must be a positive number, got {v!r}")
        if self.pair is not None and self.pair == self.meter:
            raise ValueError(f"meter {self.meter!r}: pair must name another meter")


@dataclass(frozen=True)
class Schedule:
    """Occupied hours of one building, in its local time.

    tz: hours east of UTC (e.g. 8.0) or a zoneinfo name ("Asia/Shanghai").
    Occupied: `workdays` (Monday = 0) from `open_h` to `close_h`. Night window for leaks:
    `night_start_h` to `night_end_h`; night window for the base load: `base_start_h` to `base_end_h`.
    `calendar`: statutory holidays and closures (days off, whatever their weekday) and adjusted working
    days (working, whatever their weekday); the default has none.
    """

    tz: float | str = 8.0
    workdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    open_h: float = 8.0
    close_h: float = 18.0
    night_start_h: float = 2.0
    night_end_h: float = 4.0
    base_start_h: float = 1.0
    base_end_h: float = 5.0
    calendar: WorkCalendar = WorkCalendar()  # noqa: RUF009 - frozen, immutable

    def __post_init__(self) -> None:
        if not 0 <= self.open_h < self.close_h <= 24:
            raise ValueError(f"Schedule: need 0 <= open_h < close_h <= 24, got {self.open_h}, {self.close_h}")
        if not 0 <= self.night_start_h < self.night_end_h <= 24:
            raise ValueError("Schedule: need 0 <= night_start_h < night_end_h <= 24")
        if not 0 <= self.base_start_h < self.base_end_h <= 24:
            raise ValueError("Schedule: need 0 <= base_start_h < base_end_h <= 24")
        if any(d not in range(7) for d in self.workdays):
            raise ValueError("Schedule: workdays are 0 (Monday) .. 6 (Sunday)")
        if isinstance(self.tz, str):
            ZoneInfo(self.tz)  # raises if unknown

    def offset_ns(self, ts_ns: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """UTC offset in ns at each instant."""
        if not isinstance(self.tz, str):
            return np.full(np.shape(ts_ns), round(float(self.tz) * 3600) * NS, np.int64)
        hours = np.asarray(ts_ns, np.int64) // (3600 * NS)
        uniq, inv = np.unique(hours, return_inverse=True)
        offs = np.array([_offset_s(self.tz, h) for h in uniq.tolist()], np.int64) * NS
        return offs[inv].reshape(np.shape(ts_ns))

    def local(self, ts_ns: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64],
                                                          npt.NDArray[np.bool_]]:
        """(local day number, local hour of day, is a workday) of each instant."""
        loc = np.asarray(ts_ns, np.int64) + self.offset_ns(ts_ns)
        day = loc // _DAY_NS
        hour = (loc - day * _DAY_NS) / (3600 * NS)
        by_weekday = np.isin((day + 3) % 7, self.workdays)  # 1970-01-01 was a Thursday (3)
        return day, hour, self.calendar.working(day, by_weekday)


@lru_cache(maxsize=65_536)
def _offset_s(tz: str, hour: int) -> int:
    """UTC offset (s) of a zone during one UTC hour since the epoch; cached: every tick asks again."""
    local = datetime.fromtimestamp(hour * 3600, UTC).astimezone(ZoneInfo(tz))
    return int(local.utcoffset().total_seconds())  # type: ignore[union-attr]


@dataclass(frozen=True)
class DetectorSettings:
    """Every threshold, with its default. See docs/detectors.md for the reasons."""

    interval_s: int = 900  # the interval grid; evaluation ticks on its boundaries
    # readings further apart are not interpolated across (the engine's max_gap_s): two intervals, so a
    # poll a few seconds late or one missed reading of a 15-min meter is not a gap
    max_gap_s: float = 1800.0
    # time-of-week baseline (consumption anomaly)
    baseline_weeks: int = 8  # trailing weeks of the same time-of-week slot
    baseline_min_weeks: int = 3  # fewer: cold start on the same hour of the previous days
    cold_start_days: int = 2  # no verdict before this many days of history
    z_enter: float = 6.0  # robust z to open an episode (|x - median| / (1.4826 MAD))
    z_exit: float = 3.5  # ... and to keep it open
    cold_z_factor: float = 1.5  # cold start: thresholds are this much wider
    min_rel_dev: float = 0.25  # and the deviation must exceed this share of the meter's typical level
    baseline_min_intervals: int = 4  # an anomaly must last this many intervals (1 h)
    baseline_kinds: tuple[str, ...] = ("electricity",)
    window_intervals: int = 8  # the slow scale: sums over 2 h against the same 2 h of past weeks ...
    z_window_enter: float = 4.5  # ... robust z to open (noise averages out, so smaller shifts show)
    z_window_exit: float = 3.0
    window_min_rel_dev: float = 0.12  # ... and a deviation of at least 12 % of the window's level
    window_rel_floor: float = 0.03  # sigma of a window sum is at least 3 % of its median
    common_share: float = 0.3  # a deviation this share of the site's meters shows at once is common
    # the meter's noise (analytics/detectors/predictability.py): the median over history_days of each
    # day's relative deviation of its intervals from their baseline (Σ|dev| / Σlevel). An anomaly must
    # exceed noise_k times it; a meter noisier than max_noise (a household-like load: its intervals
    # are typically 30 % off their time-of-week median) gets no consumption-anomaly verdict at all
    baseline_noise_k: float = 4.0
    baseline_max_noise: float = 0.3
    # after-hours waste and base-load creep (per electricity meter, daily at the end of the base window)
    history_days: int = 28  # reference window of the daily statistics
    min_history_days: int = 7  # daily detectors stay silent before this many days
    waste_enter: float = 0.25  # after-hours load above its reference by this share of (occupied - base)
    waste_exit: float = 0.12
    waste_days: int = 1
    # base load (median of the last 3 nights) above the 28-night median by 20 % (seasonal schedules
    # and the weather move a steady building's nights by 10-15 %)
    creep_enter: float = 0.2
    creep_exit: float = 0.1
    creep_nights: int = 3
    creep_min_share: float = 0.02  # ... and by at least 2 % of the occupied load (tiny base loads)
    creep_z: float = 4.0  # ... and by 4 robust sigmas of the nights' noise
    waste_z: float = 3.0  # after-hours excess also above 3 robust sigmas of the reference days' noise
    # ... only on a meter that follows the schedule: its occupied load at least this many times its
    # workday after-hours load (a 24/7 or household-like circuit has no "after hours" to waste in)
    waste_contrast: float = 1.5
    # water leak
    leak_k: float = 3.0  # minimum night flow above k x its 28-night median ...
    leak_floor: float = 0.03  # ... and above this absolute floor (m³/h) ...
    leak_nights: int = 2  # ... for this many nights in a row
    leak_exit_floor: float = 0.015  # a leak closes below max(k/2 x median, this floor)
    leak_min_nights: int = 3  # nights of reference before any verdict
    # data faults
    comm_loss_s: float = 3600.0  # no reading for longer than this
    comm_major_s: float = 86_400.0  # comm loss becomes MAJOR after a day
    stuck_occupied_h: float = 3.0  # electricity counter flat for this many occupied hours
    stuck_water_h: float = 4.0  # water counter flat for this many occupied hours
    stuck_learn: float = 1.5  # ... or 1.5 x the longest flat spell seen outside an episode, if longer
    stuck_counts: float = 3.0  # ... or the time its usual rate takes to move the register 3 steps
    stuck_learn_h: float = 6.0  # ... judged once this many hours of the counter while it should move
    stuck_heat_h: float = 3.0  # heat counter flat while its heat pump runs, this many hours
    stuck_gauge_h: float = 6.0  # an instantaneous value bit-identical for this many hours
    # heat pump COP
    cop_ratio_enter: float = 0.82  # daily COP below this share of the expected COP for the temperature
    cop_ratio_exit: float = 0.9
    cop_min_heat_kwh: float = 5.0  # days with less heat than this are not judged
    hp_running_kwh: float = 0.05  # an interval where the heat pump drew more than this is "running"

    def __post_init__(self) -> None:
        if self.interval_s <= 0 or 86_400 % self.interval_s:
            raise ValueError(f"interval_s must divide a day, got {self.interval_s}")
        if not self.z_enter >= self.z_exit > 0:
            raise ValueError("z_enter must be >= z_exit > 0 (hysteresis)")
        if not self.waste_enter >= self.waste_exit:
            raise ValueError("waste_enter must be >= waste_exit")
        if not self.creep_enter >= self.creep_exit:
            raise ValueError("creep_enter must be >= creep_exit")
        if not self.cop_ratio_enter <= self.cop_ratio_exit:
            raise ValueError("cop_ratio_enter must be <= cop_ratio_exit")
        if not 1 <= self.baseline_min_weeks <= self.baseline_weeks:
            raise ValueError("need 1 <= baseline_min_weeks <= baseline_weeks")
        if self.window_intervals < 1:
            raise ValueError("window_intervals must be >= 1")

    @property
    def step_ns(self) -> int:
        return self.interval_s * NS

    @property
    def per_day(self) -> int:
        return 86_400 // self.interval_s
