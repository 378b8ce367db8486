"""Meter physics: the true engineering values of the meters of one simulated public building.

A building behaves like a real one: weekday office hours with a lunch dip, a night base load,
weather-driven heating and cooling, an air-source heat pump whose COP follows the outdoor and flow
temperatures, and water use that peaks at lunch and is near zero at night. Every counter is the exact
integral of its rate.

Determinism: every value is a function of (kind, seed, unit, start, t) only, never of how often or at
which intermediate times `advance()` was called. The physics lives on a fixed grid of whole epoch
seconds: gauges at step k are computed element-wise from k (seeded sinusoids and counter-based hash
noise, no hidden state), and a counter at step n is its start value plus the sum of its per-step
increments over [floor(start), n). Increments are rounded to integer multiples of 1e-9 of the
counter unit, so sums are exact and do not depend on how the steps were grouped. Long jumps are
integrated vectorised, one simulated day per numpy call.

Units are the canonical units of core.quantities (W, kWh, m³, m³/h, °C, ...). Times are epoch
seconds; the site's local time is `tz_offset_h` hours east of UTC (China, +8, by default).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar, Protocol, overload, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = [
    "HEATING", "HOT_WATER", "KINDS", "OFF", "RHO_C_WATER", "ElectricityPhysics", "GasPhysics", "HeatPhysics",
    "HeatPumpPhysics", "MeterPhysics", "WaterPhysics", "heat_pump_cop", "heating_curve",
    "heating_schedule", "make_physics", "occupancy", "outdoor_temperature",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

KINDS = ("electricity", "water", "heat", "heat_pump", "gas")

RHO_C_WATER = 1.16  # kWh/(m³·K): volumetric heat capacity of water, as heat meters use it
CARNOT_FRACTION = 0.45  # share of the Carnot COP an air-source heat pump reaches
COP_RANGE = (1.5, 6.0)

_DAY = 86_400
_YEAR_DAYS = 365.2425
_BLOCK = 3_600  # steps per cached counter block (aligned to the absolute grid)
_PAGE = 60  # steps per cached page of gauges
_KNOT = 60  # slow drivers (weather, occupancy) are evaluated every _KNOT s and interpolated
_CHUNK_BLOCKS = 24  # blocks integrated per numpy call on long jumps (one day: a few MB)
_QUANTUM = 1e-9  # counters count integer multiples of this many counter units
_W_TO_KWH = 1.0 / 3.6e6  # kWh per W·s (also kvarh per var·s)
_M3H_TO_M3 = 1.0 / 3_600  # m³ per (m³/h)·s
_PHASES = ("l1", "l2", "l3")


@runtime_checkable
class MeterPhysics(Protocol):
    """True values of one meter, moving forward on simulated time."""

    kind: str

    def advance(self, t: float) -> None:
        """Move to epoch seconds `t`; a `t` before the current time is ignored (never goes back)."""
        ...

    def values(self) -> dict[str, float]:
        """True values at the current time, canonical units, keyed by core.quantities names."""
        ...

    def add_leak(self, flow_m3h: float) -> None:
        """Water meters: add a continuous flow from now on. Other kinds raise ValueError."""
        ...


# --- deterministic noise ------------------------------------------------------------------------

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    z = x + _GOLDEN  # uint64 arrays wrap silently, which is what the mixer wants
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def _uniform(key: int, i: IntArray) -> FloatArray:
    """Counter-based uniform noise in [0, 1): one value per integer index, fixed by `key`."""
    z = _splitmix64(i.astype(np.uint64) ^ np.uint64(key))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _slot_uniform(key: int, k: IntArray, width: int) -> FloatArray:
    """One uniform value per slot of `width` steps, hashing each slot once."""
    slot = k // width
    lo = int(slot.min())
    table = _uniform(key, np.arange(lo, int(slot.max()) + 1, dtype=np.int64))
    return table[slot - lo]


def _value_noise(key: int, k: IntArray, width: int) -> FloatArray:
    """Uniform values at every `width`-th step, linearly interpolated in between: [0, 1)."""
    slot = k // width
    lo = int(slot.min())
    table = _uniform(key, np.arange(lo, int(slot.max()) + 2, dtype=np.int64))
    frac = (k - slot * width) / width
    u0 = table[slot - lo]
    return u0 + (table[slot - lo + 1] - u0) * frac


@dataclass(frozen=True)
class _Sines:
    """Smooth noise of unit-ish size: a sum of sinusoids with seeded periods and phases."""

    omega: tuple[float, ...]  # rad/s
    amp: tuple[float, ...]
    phase: tuple[float, ...]

    @classmethod
    def draw(cls, rng: np.random.Generator, n: int, min_period_s: float, max_period_s: float,
             std: float) -> _Sines:
        periods = np.exp(rng.uniform(math.log(min_period_s), math.log(max_period_s), n))
        amp = np.sqrt(periods / max_period_s)  # slower components carry more variance (red noise)
        amp *= std / math.sqrt(float(np.sum(amp**2)) / 2.0)
        phase = rng.uniform(0.0, 2.0 * math.pi, n)
        return cls(tuple((2.0 * math.pi / periods).tolist()), tuple(amp.tolist()),
                   tuple(phase.tolist()))

    def __call__(self, t: FloatArray) -> FloatArray:
        out = np.zeros_like(t)
        for w, a, p in zip(self.omega, self.amp, self.phase, strict=True):
            out += a * np.sin(w * t + p)
        return out


def _rng(*parts: int) -> np.random.Generator:
    return np.random.default_rng([p % 2**64 for p in parts])


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


# --- the site: weather, grid and the working week -------------------------------------------------


@dataclass(frozen=True)
class _Site:
    """What every meter of one seed shares: climate, weather noise and the grid."""

    mean_c: float  # annual mean outdoor temperature
    season_c: float  # half the difference between July and January
    diurnal_c: float  # half the day-night swing
    weather: _Sines  # fronts and spells: hours to weeks
    grid_volt: _Sines  # V around 230
    grid_freq: _Sines  # Hz around 50


_SITE_STREAM = 0x5173


@lru_cache(maxsize=64)
def _site(seed: int) -> _Site:
    rng = _rng(seed, _SITE_STREAM)
    return _Site(
        mean_c=14.5 + rng.uniform(-1.5, 1.5),
        season_c=13.0 + rng.uniform(-1.0, 1.0),
        diurnal_c=4.0 + rng.uniform(-1.0, 1.0),
        weather=_Sines.draw(rng, 10, 0.7 * _DAY, 20 * _DAY, std=2.5),
        grid_volt=_Sines.draw(rng, 6, 600, 6 * 3600, std=1.2),
        grid_freq=_Sines.draw(rng, 6, 300, 3600, std=0.012),
    )


def _as_array(t: float | FloatArray) -> tuple[FloatArray, bool]:
    arr = np.asarray(t, dtype=np.float64)
    return np.atleast_1d(arr), arr.ndim == 0


def _local_day_hour(t: FloatArray, tz_offset_h: float) -> tuple[FloatArray, FloatArray]:
    """Local day number since 1970-01-01 and local hour of day (float)."""
    local = t + tz_offset_h * 3600.0
    day = np.floor(local / _DAY)
    return day, (local - day * _DAY) / 3600.0


def _workday(day: FloatArray) -> npt.NDArray[np.bool_]:
    return (day + 3) % 7 < 5  # 1970-01-01 was a Thursday: weekday 3 with Monday = 0


def _smoothstep(x: FloatArray, a: float, b: float) -> FloatArray:
    s = np.clip((x - a) / (b - a), 0.0, 1.0)
    return s * s * (3.0 - 2.0 * s)


@overload
def occupancy(t: float, tz_offset_h: float = ...) -> float: ...
@overload
def occupancy(t: FloatArray, tz_offset_h: float = ...) -> FloatArray: ...
def occupancy(t: float | FloatArray, tz_offset_h: float = 8.0) -> float | FloatArray:
    """Share of the building's occupants present (0..1) at epoch seconds `t`.

    Workdays (Monday-Friday; public holidays are not modelled): arrival 7:30-8:45, a lunch dip to 0.7
    around 12:00-13:30, departure 17:15-18:45 and a little overtime until about 21:00. Weekends: about
    a tenth.
    """
    arr, scalar = _as_array(t)
    day, hour = _local_day_hour(arr, tz_offset_h)
    leave = _smoothstep(hour, 17.25, 18.75)
    present = _smoothstep(hour, 7.5, 8.75) * (1.0 - leave)
    lunch = _smoothstep(hour, 11.75, 12.25) * (1.0 - _smoothstep(hour, 13.0, 13.75))
    overtime = 0.12 * leave * (1.0 - _smoothstep(hour, 19.5, 21.5))
    work = present * (1.0 - 0.3 * lunch) + overtime
    weekend = 0.1 * present * (1.0 - 0.3 * lunch)
    out = np.where(_workday(day), work, weekend)
    return float(out[0]) if scalar else out


def heating_schedule(t: FloatArray, tz_offset_h: float = 8.0) -> FloatArray:
    """Share of the design heating load the controls ask for: 1 on workdays 6:30-18:30 (plus a
    warm-up boost of up to 0.25 before 9:00), a 0.55 setback at night and at weekends."""
    day, hour = _local_day_hour(t, tz_offset_h)
    start = _smoothstep(hour, 6.0, 7.0)
    comfort = start * (1.0 - _smoothstep(hour, 18.0, 19.0))
    boost = 0.25 * start * (1.0 - _smoothstep(hour, 8.0, 9.5))
    return 0.55 + np.where(_workday(day), 0.45 * comfort + boost, 0.0)


@overload
def outdoor_temperature(t: float, *, seed: int, tz_offset_h: float = ...) -> float: ...
@overload
def outdoor_temperature(t: FloatArray, *, seed: int, tz_offset_h: float = ...) -> FloatArray: ...
def outdoor_temperature(t: float | FloatArray, *, seed: int,
                        tz_offset_h: float = 8.0) -> float | FloatArray:
    """Outdoor air temperature (°C) of the site `seed` at epoch seconds `t`.

    A seasonal cycle (coldest around 20 January, a northern-Chinese climate: January near 0 °C,
    July near 28 °C), a daily cycle peaking at 14:30 local time and smooth weather noise (std 2.5 K,
    periods from under a day to three weeks). Meters sample it on a 60 s grid and interpolate, which
    differs from this function by far less than 0.01 K.
    """
    arr, scalar = _as_array(t)
    site = _site(seed)
    days = arr / _DAY
    _, hour = _local_day_hour(arr, tz_offset_h)
    out = (site.mean_c
           - site.season_c * np.cos(2.0 * math.pi * (days - 20.5) / _YEAR_DAYS)
           + site.diurnal_c * np.cos(2.0 * math.pi * (hour - 14.5) / 24.0)
           + site.weather(arr))
    return float(out[0]) if scalar else out


@overload
def heat_pump_cop(t_supply: float, t_outdoor: float) -> float: ...
@overload
def heat_pump_cop(t_supply: FloatArray, t_outdoor: FloatArray | float) -> FloatArray: ...
def heat_pump_cop(t_supply: float | FloatArray,
                  t_outdoor: float | FloatArray) -> float | FloatArray:
    """COP of an air-source heat pump: 0.45 of the Carnot COP T_supply/(T_supply − T_out) in kelvin,
    clipped to 1.5..6."""
    ts, scalar = _as_array(t_supply)
    lift = np.maximum(ts - np.asarray(t_outdoor, dtype=np.float64), 1.0)
    out = np.clip(CARNOT_FRACTION * (ts + 273.15) / lift, *COP_RANGE)
    return float(out[0]) if scalar else out


def heating_curve(t_outdoor: FloatArray, *, at_15c: float = 35.0,
                  at_minus_10c: float = 55.0) -> FloatArray:
    """Weather-compensated flow temperature: `at_15c` at +15 °C outdoors rising linearly to
    `at_minus_10c` at −10 °C (and flat beyond)."""
    return at_15c + (at_minus_10c - at_15c) * np.clip((15.0 - t_outdoor) / 25.0, 0.0, 1.0)


# --- the grid engine -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Counter:
    name: str
    rate: str  # key in _core() output that the counter integrates
    per_second: float  # counter units per (rate unit · s)


Arrays = dict[str, FloatArray]


class _GridPhysics:
    """Engine shared by the meter kinds: the 1-second grid, counter integration and caching.

    Subclasses define `_setup` (parameters and initial counters from the seeded generator), `_core`
    (everything the counters integrate, vectorised over step indices) and `_gauges` (the rest).
    """

    kind: str  # set by each subclass
    _counters: ClassVar[tuple[_Counter, ...]]
    _leak: ClassVar[tuple[str, str] | None] = None  # (counter, rate) a leak adds to, if any

    def __init__(self, *, seed: int, unit: int, start: float, tz_offset_h: float = 8.0) -> None:
        if not math.isfinite(start):
            raise ValueError(f"start {start!r}: give finite epoch seconds")
        self.seed, self.unit, self.tz_offset_h = seed, unit, tz_offset_h
        self._constants: dict[str, float] = {}
        initial = self._setup(_rng(seed, unit, KINDS.index(self.kind)))
        self._gain = np.array([c.per_second / _QUANTUM for c in self._counters])
        self._k = math.floor(start)
        self._b = self._k // _BLOCK
        self._prefix = self._block_prefix(self._b)
        c0 = np.array([round(initial[c.name] / _QUANTUM) for c in self._counters], dtype=np.int64)
        self._base = c0 - self._prefix[:, self._k - self._b * _BLOCK]  # counter = base + prefix
        self._page_no: int | None = None
        self._page = np.empty((0, 0))
        self._names: tuple[str, ...] = ()
        self._leaks: list[tuple[int, float]] = []  # (first step, m³/h)

    # subclass hooks
    def _setup(self, rng: np.random.Generator) -> dict[str, float]:
        raise NotImplementedError

    def _core(self, k: IntArray) -> Arrays:
        raise NotImplementedError

    def _gauges(self, k: IntArray, core: Arrays) -> Arrays:
        raise NotImplementedError

    def _finish(self, out: dict[str, float]) -> None:
        """Derived values (totals, nets) on the final dict."""

    # public interface
    @property
    def t(self) -> float:
        """The current grid time (epoch seconds)."""
        return float(self._k)

    def advance(self, t: float) -> None:
        k = math.floor(t)
        if k <= self._k:
            return
        b = k // _BLOCK
        if b != self._b:
            end = self._base + self._prefix[:, _BLOCK]  # counters at the start of block _b + 1
            self._base = end + self._sum_blocks(self._b + 1, b)
            self._b = b
            self._prefix = self._block_prefix(b)
        self._k = k

    def values(self) -> dict[str, float]:
        row = self._gauge_row(self._k)
        out = dict(zip(self._names, row, strict=True))
        quanta = (self._base + self._prefix[:, self._k - self._b * _BLOCK]).tolist()
        if self._leak is not None and self._leaks:
            counter, rate = self._leak
            index = [c.name for c in self._counters].index(counter)
            # rounded once per leak, so the volume is exactly flow × time (and still monotone)
            quanta[index] += sum(round(flow * _M3H_TO_M3 * (self._k - k0) / _QUANTUM)
                                 for k0, flow in self._leaks)
            out[rate] += sum(flow for _, flow in self._leaks)
        for c, q in zip(self._counters, quanta, strict=True):
            out[c.name] = q * _QUANTUM
        out.update(self._constants)
        self._finish(out)
        return out

    def add_leak(self, flow_m3h: float) -> None:
        if self._leak is None:
            raise ValueError(f"{self.kind} meters carry no water that could leak")
        if not (math.isfinite(flow_m3h) and flow_m3h >= 0.0):
            raise ValueError(f"leak flow {flow_m3h!r} m³/h: give a finite flow of 0 or more")
        self._leaks.append((self._k, flow_m3h))

    # internals
    def _increments(self, k: IntArray) -> IntArray:
        core = self._core(k)
        rows = [np.rint(np.maximum(core[c.rate], 0.0) * g)
                for c, g in zip(self._counters, self._gain, strict=True)]
        return np.stack(rows).astype(np.int64)

    def _block_prefix(self, b: int) -> IntArray:
        inc = self._increments(np.arange(b * _BLOCK, (b + 1) * _BLOCK, dtype=np.int64))
        prefix = np.zeros((len(self._counters), _BLOCK + 1), dtype=np.int64)
        np.cumsum(inc, axis=1, out=prefix[:, 1:])
        return prefix

    def _sum_blocks(self, b_from: int, b_to: int) -> IntArray:
        """Counter quanta accumulated over the whole blocks [b_from, b_to)."""
        total = np.zeros(len(self._counters), dtype=np.int64)
        for b in range(b_from, b_to, _CHUNK_BLOCKS):
            stop = min(b + _CHUNK_BLOCKS, b_to)
            k = np.arange(b * _BLOCK, stop * _BLOCK, dtype=np.int64)
            total += self._increments(k).sum(axis=1)
        return total

    def _gauge_row(self, k: int) -> list[float]:
        """Gauges at step k (columns named by self._names), from the cached page that holds k."""
        page_no = k // _PAGE
        if page_no != self._page_no:
            steps = np.arange(page_no * _PAGE, (page_no + 1) * _PAGE, dtype=np.int64)
            gauges = self._gauges(steps, self._core(steps))
            self._names = tuple(n for n in gauges if not n.startswith("_"))
            self._page = np.stack(
                [np.broadcast_to(gauges[n], steps.shape) for n in self._names], axis=1)
            self._page_no = page_no
        return self._page[k - page_no * _PAGE].tolist()

    def _slow(self, k: IntArray, fn: Callable[[FloatArray], Arrays],
              names: tuple[str, ...] | None = None) -> Arrays:
        """Evaluate the slow drivers `fn` on the _KNOT grid and interpolate linearly to steps k
        (only `names`, if given)."""
        knot = k // _KNOT
        lo = int(knot.min())
        at = fn(np.arange(lo, int(knot.max()) + 2, dtype=np.int64).astype(np.float64) * _KNOT)
        picked = at if names is None else {n: at[n] for n in names}
        if k[0] == lo * _KNOT and k.size % _KNOT == 0 and k[-1] - k[0] == k.size - 1:
            # whole knot intervals in order (blocks and pages): broadcast instead of gathering;
            # the same arithmetic per element as the general case below
            w = np.arange(_KNOT) / _KNOT
            return {n: (v[:-1, None] + (v[1:] - v[:-1])[:, None] * w).ravel()
                    for n, v in picked.items()}
        j = knot - lo
        w = (k - knot * _KNOT) / _KNOT
        return {n: v[j] + (v[j + 1] - v[j]) * w for n, v in picked.items()}

    def _keys(self, rng: np.random.Generator, n: int) -> list[int]:
        return [int(x) for x in rng.integers(0, 2**63, size=n)]

    def _weather(self, t: FloatArray) -> tuple[FloatArray, FloatArray]:
        return (outdoor_temperature(t, seed=self.seed, tz_offset_h=self.tz_offset_h),
                occupancy(t, self.tz_offset_h))

    def _jitter(self, key: int, k: IntArray, size: float) -> FloatArray:
        """1 ± `size`, fresh every second."""
        return 1.0 + size * (2.0 * _uniform(key, k) - 1.0)


def _years_running(rng: np.random.Generator) -> float:
    return rng.uniform(1.0, 6.0)


# --- electricity -----------------------------------------------------------------------------------


def _line_voltage(va: FloatArray, vb: FloatArray) -> FloatArray:
    """|Va − Vb| for phasors 120° apart: √(Va² + Vb² + Va·Vb) (= √3·V when balanced)."""
    return np.sqrt(va * va + vb * vb + va * vb)


def _neutral_current(ia: FloatArray, ib: FloatArray, ic: FloatArray) -> FloatArray:
    """|Ia + Ib + Ic| for phasors 120° apart (fundamental only)."""
    return np.sqrt(np.maximum(ia * ia + ib * ib + ic * ic - ia * ib - ib * ic - ic * ia, 0.0))


def _sum_phases(arrays: Arrays, prefix: str) -> FloatArray:
    """L1 + L2 + L3 of `prefix`_l1.. in a fixed order (so totals are reproducible to the bit)."""
    return arrays[f"{prefix}_l1"] + arrays[f"{prefix}_l2"] + arrays[f"{prefix}_l3"]


class ElectricityPhysics(_GridPhysics):
    """Three-phase main meter of the building (3P4W): lighting, plug loads, lifts and split-unit
    air conditioning."""

    kind = "electricity"
    _counters = (
        _Counter("energy_active_import", "power_active", _W_TO_KWH),
        *(_Counter(f"energy_active_import_{p}", f"power_active_{p}", _W_TO_KWH) for p in _PHASES),
        _Counter("energy_reactive_import", "power_reactive", _W_TO_KWH),
    )

    def _setup(self, rng: np.random.Generator) -> dict[str, float]:
        self.peak_w = _log_uniform(rng, 20e3, 150e3)
        self._base_frac = rng.uniform(0.15, 0.35)  # night base load, share of peak
        self._hvac_frac = rng.uniform(0.15, 0.35)
        self._occ_frac = 1.0 - self._base_frac - self._hvac_frac
        self._phase_bias = rng.normal(0.0, 0.04, 3)
        self._phase_drift = [_Sines.draw(rng, 5, 1800, 12 * 3600, std=0.012) for _ in _PHASES]
        self._load_noise = _Sines.draw(rng, 8, 900, 8 * 3600, std=0.04)
        self._pf0 = rng.uniform(0.855, 0.875)
        self._pf_bias = rng.normal(0.0, 0.006, 3)
        self._pf_noise = _Sines.draw(rng, 4, 1800, 6 * 3600, std=0.005)
        self._v_bias = rng.normal(0.0, 1.5, 3)
        self._v_noise = [_Sines.draw(rng, 5, 300, 3 * 3600, std=0.8) for _ in _PHASES]
        self._key_jit, self._key_on, self._key_size, self._key_phase, self._key_f = self._keys(rng, 5)

        export = rng.uniform(0.5, 25.0) if rng.random() < 0.25 else 0.0  # e.g. a test feed-in once
        weights = (1.0 + self._phase_bias) / np.sum(1.0 + self._phase_bias)
        self._constants = {
            "energy_active_export": export,
            **{f"energy_active_export_{p}": export * w for p, w in zip(_PHASES, weights.tolist(),
                                                                       strict=True)},
            "energy_reactive_export": round(rng.uniform(0.0, 5.0), 2),
            "error_code": 0.0,
        }
        imported = _years_running(rng) * self.peak_w * 0.3 * 8760 / 1000
        return {
            "energy_active_import": imported,
            **{f"energy_active_import_{p}": imported * w for p, w in zip(_PHASES, weights.tolist(),
                                                                       strict=True)},
            "energy_reactive_import": imported * rng.uniform(0.25, 0.45),
        }

    def _drivers(self, t: FloatArray) -> Arrays:
        temp, occ = self._weather(t)
        cooling = np.clip((temp - 22.0) / 12.0, 0.0, 1.0)
        heating = 0.6 * np.clip((12.0 - temp) / 22.0, 0.0, 1.0)  # split units; most heat is piped
        hvac = (cooling + heating) * (0.25 + 0.75 * occ)
        power = self.peak_w * (self._base_frac + self._occ_frac * occ + self._hvac_frac * hvac)
        raw = [1.0 + b + d(t) for b, d in zip(self._phase_bias, self._phase_drift, strict=True)]
        total = raw[0] + raw[1] + raw[2]
        site = _site(self.seed)
        grid_v = 230.0 + site.grid_volt(t)
        out = {"p": power * (1.0 + self._load_noise(t)), "occ": occ, "pf": self._pf_noise(t),
               "f": 50.0 + site.grid_freq(t)}
        for i in range(3):
            out[f"w{i}"] = raw[i] / total
            out[f"v{i}"] = grid_v + self._v_bias[i] + self._v_noise[i](t)
        return out

    def _core(self, k: IntArray) -> Arrays:
        s = self._slow(k, self._drivers, ("p", "occ", "pf", "w0", "w1", "w2"))
        # single-phase appliances (kettles, lifts, printers) switching in 20 s slots
        on = _slot_uniform(self._key_on, k, 20) < 0.03 + 0.25 * s["occ"]
        event = np.where(on, self.peak_w * (0.005 + 0.025 * _slot_uniform(self._key_size, k, 20)),
                         0.0)
        event_phase = (_slot_uniform(self._key_phase, k, 20) * 3).astype(np.int64)
        smooth = s["p"] * self._jitter(self._key_jit, k, 0.01)
        load = (smooth + event) / self.peak_w
        out: Arrays = {}
        for i, p in enumerate(_PHASES):
            active = smooth * s[f"w{i}"] + np.where(event_phase == i, event, 0.0)
            pf = np.clip(self._pf0 + self._pf_bias[i] + 0.11 * load + s["pf"], 0.85, 0.99)
            out[f"power_active_{p}"] = active
            out[f"power_factor_{p}"] = pf
            out[f"power_reactive_{p}"] = active * np.sqrt(1.0 - pf * pf) / pf
        out["power_active"] = _sum_phases(out, "power_active")
        out["power_reactive"] = _sum_phases(out, "power_reactive")
        out["_load"] = load
        return out

    def _gauges(self, k: IntArray, core: Arrays) -> Arrays:
        grid = self._slow(k, self._drivers, ("v0", "v1", "v2", "f"))
        out = dict(core)
        volts, amps = [], []
        for i, p in enumerate(_PHASES):
            v = np.clip(grid[f"v{i}"] - 3.0 * core["_load"], 215.0, 245.0)  # drop under load
            s = core[f"power_active_{p}"] / core[f"power_factor_{p}"]
            out[f"voltage_{p}"] = v
            out[f"power_apparent_{p}"] = s
            out[f"current_{p}"] = s / v
            volts.append(v)
            amps.append(s / v)
        out["voltage_l1_l2"] = _line_voltage(volts[0], volts[1])
        out["voltage_l2_l3"] = _line_voltage(volts[1], volts[2])
        out["voltage_l3_l1"] = _line_voltage(volts[2], volts[0])
        out["current_n"] = _neutral_current(*amps)
        out["power_apparent"] = np.hypot(core["power_active"], core["power_reactive"])
        out["power_factor"] = core["power_active"] / out["power_apparent"]
        out["frequency"] = np.clip(grid["f"] + 0.004 * (2.0 * _uniform(self._key_f, k) - 1.0),
                                   49.95, 50.05)
        return out

    def _finish(self, out: dict[str, float]) -> None:
        out["energy_active_total"] = out["energy_active_import"] + out["energy_active_export"]


# --- water -----------------------------------------------------------------------------------------


def _bump(hour: FloatArray, centre: float, width: float) -> FloatArray:
    """Gaussian density over the hour of day (integrates to 1 over hours)."""
    return np.exp(-0.5 * ((hour - centre) / width) ** 2) / (width * math.sqrt(2.0 * math.pi))


def _area(dn_mm: float) -> float:
    return math.pi / 4.0 * (dn_mm / 1000.0) ** 2


_DN_MM = (25, 32, 40, 50, 65, 80, 100)
_LOW_FLOW_CUTOFF = 0.005  # m³/h: meters report 0 below this (zero-flow noise suppression)
_MEAN_V2 = 0.3056  # E[v²] of linearly interpolated uniform value noise: normalises bursts to mean 1


class WaterPhysics(_GridPhysics):
    """Cold-water main meter (ultrasonic, TUF-2000M style): staff and visitors' water use."""

    kind = "water"
    _counters = (_Counter("water_volume", "water_flow", _M3H_TO_M3),)
    _leak = ("water_volume", "water_flow")

    def _setup(self, rng: np.random.Generator) -> dict[str, float]:
        self.people = _log_uniform(rng, 50.0, 500.0)
        # 40-100 L per person and working day (canteen included): 10-25 m³ a year, as quotas say
        self.daily_m3 = self.people * rng.uniform(40.0, 100.0) / 1000.0
        peak_m3h = self.daily_m3 * 0.6  # lunch-time bursts
        self.dn_mm = next((d for d in _DN_MM if peak_m3h / 3600 / _area(d) <= 1.5), _DN_MM[-1])
        self._area_m2 = _area(self.dn_mm)
        self._temp_mean = 15.0 + rng.uniform(-1.0, 1.0)
        self._temp_season = rng.uniform(3.5, 4.5)
        self._temp_noise = _Sines.draw(rng, 4, 3 * 3600, 5 * _DAY, std=0.3)
        self._t2_offset = rng.uniform(-0.3, 0.3)
        self._signal_base = rng.uniform(89.0, 96.0)
        self._signal_noise = _Sines.draw(rng, 4, 600, 6 * 3600, std=1.5)
        self._key_burst, self._key_cistern, self._key_jit = self._keys(rng, 3)
        self._constants = {"water_volume_reverse": round(rng.uniform(0.0, 2.0), 3),
                           "error_code": 0.0}
        return {"water_volume": _years_running(rng) * self.daily_m3 * 260}

    def _drivers(self, t: FloatArray) -> Arrays:
        day, hour = _local_day_hour(t, self.tz_offset_h)
        occ = occupancy(t, self.tz_offset_h)
        # shares of a working day's water: arrival, lunch (canteen), afternoon, and the rest spread
        # over the occupied hours (~9.5 occupancy-hours a workday)
        shape = (0.2 * _bump(hour, 8.75, 0.6) + 0.3 * _bump(hour, 12.2, 0.45)
                 + 0.15 * _bump(hour, 15.5, 0.8)) * np.where(_workday(day), 1.0, 0.1)
        shape = shape + 0.35 * occ / 9.5
        season = np.cos(2.0 * math.pi * (t / _DAY - 50.0) / _YEAR_DAYS)  # a month behind the air
        return {"mean": self.daily_m3 * shape,
                "temp": self._temp_mean - self._temp_season * season + self._temp_noise(t),
                "signal": self._signal_base + self._signal_noise(t)}

    def _core(self, k: IntArray) -> Arrays:
        s = self._slow(k, self._drivers)
        burst = _value_noise(self._key_burst, k, 20) ** 2 / _MEAN_V2  # taps open and close
        # toilet cisterns refilling (~0.4 m³/h for 90 s), also at night: night flow is mostly 0
        cistern = np.where(_slot_uniform(self._key_cistern, k, 90) < min(0.05, self.people / 2e4),
                           0.4, 0.0)
        flow = s["mean"] * burst + cistern
        return {**s, "water_flow": np.where(flow < _LOW_FLOW_CUTOFF, 0.0, flow)}

    def _gauges(self, k: IntArray, core: Arrays) -> Arrays:
        temp = core["temp"] + 0.05 * (2.0 * _uniform(self._key_jit, k) - 1.0)
        return {"water_flow": core["water_flow"], "temp_supply": temp,
                "temp_return": temp + self._t2_offset,
                "signal_quality": np.rint(np.clip(core["signal"], 85.0, 99.0))}

    def _finish(self, out: dict[str, float]) -> None:
        out["flow_velocity"] = out["water_flow"] / 3600.0 / self._area_m2
        out["water_volume_net"] = out["water_volume"] - out["water_volume_reverse"]


# --- heat meter ------------------------------------------------------------------------------------


class HeatPhysics(_GridPhysics):
    """Heat meter (Kamstrup MULTICAL style) on a heating/cooling circuit of the building.

    heat_power is signed: positive when heating, negative when the circuit delivers cooling, so that
    temp_supply − temp_return = heat_power / (ρc · heat_flow) holds in both seasons; heat_energy
    integrates the heating part, cooling_energy the cooling part. Between seasons the circulation
    pump stops (flow and power 0). temp_t3 is the plant room, temp_t4 the outdoor air.
    """

    kind = "heat"
    _counters = (
        _Counter("heat_energy", "_heating_w", _W_TO_KWH),
        _Counter("cooling_energy", "_cooling_w", _W_TO_KWH),
        _Counter("heat_volume", "heat_flow", _M3H_TO_M3),
    )

    def _setup(self, rng: np.random.Generator) -> dict[str, float]:
        self.design_w = _log_uniform(rng, 20e3, 200e3)  # heating load at −10 °C outdoors
        self.cooling_w = self.design_w * rng.uniform(0.6, 1.0) if rng.random() < 0.6 else 0.0
        self.nominal_flow = self.design_w / 1000.0 / (RHO_C_WATER * 8.0)  # m³/h at ΔT 8 K
        self._power_noise = _Sines.draw(rng, 6, 1800, 2 * _DAY, std=0.04)
        self._supply_noise = _Sines.draw(rng, 4, 300, 2 * 3600, std=0.3)
        self._plant_room = rng.uniform(19.0, 23.0)
        self._key_jit, self._key_flow = self._keys(rng, 2)
        self._constants = {"error_code": 0.0}
        years = _years_running(rng)
        return {"heat_energy": years * self.design_w * 1.2,  # ~1200 full-load hours a year
                "cooling_energy": years * self.cooling_w * 0.5,
                "heat_volume": years * self.nominal_flow * 0.6 * 3500}

    def _drivers(self, t: FloatArray) -> Arrays:
        temp, occ = self._weather(t)
        heating = (self.design_w * np.clip((15.5 - temp) / 25.5, 0.0, 1.15)
                   * heating_schedule(t, self.tz_offset_h))
        cooling = self.cooling_w * np.clip((temp - 24.0) / 11.0, 0.0, 1.15) * (0.1 + 0.9 * occ)
        return {"demand": (heating - cooling) * (1.0 + self._power_noise(t)),
                "temp_outdoor": temp,
                "supply_heat": heating_curve(temp, at_15c=30.0, at_minus_10c=50.0),
                "noise": self._supply_noise(t),
                "plant": self._plant_room + 0.15 * (temp - 15.0)}

    def _core(self, k: IntArray) -> Arrays:
        s = self._slow(k, self._drivers)
        power = s["demand"] * self._jitter(self._key_jit, k, 0.01)
        on = np.abs(power) > 0.01 * self.design_w
        power = np.where(on, power, 0.0)
        share = np.minimum(np.abs(power) / self.design_w, 1.0)
        flow = np.where(on, self.nominal_flow * (0.4 + 0.6 * share), 0.0)
        flow *= self._jitter(self._key_flow, k, 0.004)
        return {**s, "heat_power": power, "heat_flow": flow,
                "_heating_w": np.maximum(power, 0.0), "_cooling_w": np.maximum(-power, 0.0)}

    def _gauges(self, k: IntArray, core: Arrays) -> Arrays:
        power, flow = core["heat_power"], core["heat_flow"]
        supply = np.where(power > 0, core["supply_heat"], np.where(power < 0, 7.0, core["plant"]))
        supply = supply + core["noise"]
        delta = np.divide(power / 1000.0, RHO_C_WATER * flow, out=np.zeros_like(power),
                          where=flow > 0)
        return {"heat_power": power, "heat_flow": flow, "temp_supply": supply,
                "temp_return": supply - delta, "temp_t3": core["plant"],
                "temp_t4": core["temp_outdoor"]}


# --- heat pump -------------------------------------------------------------------------------------

OFF, HEATING, HOT_WATER = 0, 1, 2  # operating_state codes
_MIN_MODULATION = 0.3  # an inverter compressor cannot run below this share of its capacity
_RAMP_S = 240.0  # flow temperature rise time after the compressor starts


class HeatPumpPhysics(_GridPhysics):
    """Air-to-water heat pump (Lambda EU-L style) for space heating and domestic hot water.

    Space heating follows the weather: it modulates continuously when the demand is above 30 % of the
    capacity, cycles on and off below that, and idles in summer. Domestic hot water is heated in two
    daily windows (early morning, after lunch) at a higher flow temperature and so a lower COP.
    operating_state: 0 off, 1 heating, 2 hot water. cop is heat_power / power_active, 0 when off.
    """

    kind = "heat_pump"
    _counters = (
        _Counter("energy_active_import", "power_active", _W_TO_KWH),
        _Counter("heat_energy", "heat_power", _W_TO_KWH),
    )

    def _setup(self, rng: np.random.Generator) -> dict[str, float]:
        self.rated_w = _log_uniform(rng, 15e3, 80e3)  # heat output at A7/W35
        self.nominal_flow = self.rated_w / 1000.0 / (RHO_C_WATER * 5.0)  # m³/h at ΔT 5 K
        self._windows = ((5.0 + rng.uniform(-0.25, 0.25), 0.75),  # (start hour, hours)
                         (13.5 + rng.uniform(-0.25, 0.25), 0.5))
        self._cycle_s = int(rng.integers(1500, 2700))
        self._cycle_offset = int(rng.integers(0, self._cycle_s))
        self._aux_w = self.rated_w * 0.008  # circulation pump and fan
        self._demand_noise = _Sines.draw(rng, 5, 1800, 2 * _DAY, std=0.03)
        self._key_jit, self._key_flow = self._keys(rng, 2)
        self._constants = {"error_code": 0.0}
        heat = _years_running(rng) * self.rated_w * 1.5  # ~1500 full-load hours a year
        return {"heat_energy": heat, "energy_active_import": heat / rng.uniform(2.8, 3.6)}

    def _drivers(self, t: FloatArray) -> Arrays:
        temp = outdoor_temperature(t, seed=self.seed, tz_offset_h=self.tz_offset_h)
        demand = (self.rated_w * 0.95 * np.clip((16.0 - temp) / 26.0, 0.0, 1.2)
                  * heating_schedule(t, self.tz_offset_h) * (1.0 + self._demand_noise(t)))
        target = heating_curve(temp)
        share = np.clip(demand / (0.15 * self.rated_w), 0.0, 1.0)  # buffer kept warm in winter
        buffer_top = 25.0 + (target - 25.0) * share
        buffer_bottom = buffer_top - 1.0 - 4.0 * np.clip(demand / self.rated_w, 0.0, 1.0)
        _, hour = _local_day_hour(t, self.tz_offset_h)
        tank_top, tank_bottom = self._tank(hour)
        return {"temp_outdoor": temp, "demand": demand, "target": target,
                "capacity": self.rated_w * np.clip(1.0 + 0.012 * (temp - 7.0), 0.65, 1.15),
                "temp_buffer_top": buffer_top, "temp_buffer_bottom": buffer_bottom,
                "temp_hot_water_top": tank_top, "temp_hot_water_bottom": tank_bottom}

    def _tank(self, hour: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Hot-water tank: heated to 55 °C in each window, cooling by draws and losses between."""
        ends = [s + d for s, d in self._windows]

        def since_end(h: FloatArray | float) -> FloatArray:
            return np.min([np.mod(np.asarray(h) - e, 24.0) for e in ends], axis=0)

        def top(since: FloatArray) -> FloatArray:
            return 44.0 + 11.0 * np.exp(-since / 10.0)

        def strat(since: FloatArray) -> FloatArray:
            return 5.0 + 7.0 * (1.0 - np.exp(-since / 3.0))

        since = since_end(hour)
        t_top, t_strat = top(since), strat(since)
        for start, dur in self._windows:
            prog = (hour - start) / dur
            inside = (prog >= 0.0) & (prog < 1.0)
            top0, strat0 = top(since_end(start)), strat(since_end(start))
            t_top = np.where(inside, top0 + (55.0 - top0) * prog, t_top)
            t_strat = np.where(inside, strat0 + (3.0 - strat0) * prog, t_strat)
        return t_top, t_top - t_strat

    def _core(self, k: IntArray) -> Arrays:
        s = self._slow(k, self._drivers)
        tz_s = round(self.tz_offset_h * 3600)
        hour = ((k + tz_s) % _DAY) / 3600.0
        dhw_s = np.full(k.shape, -1.0)  # seconds since the hot-water window opened, −1 outside
        dhw_prog = np.zeros(k.shape)
        for start, dur in self._windows:
            inside = (hour >= start) & (hour < start + dur)
            dhw_s = np.where(inside, (hour - start) * 3600.0, dhw_s)
            dhw_prog = np.where(inside, (hour - start) / dur, dhw_prog)
        hot_water = dhw_s >= 0.0

        demand, capacity = s["demand"], s["capacity"]
        modulating = demand >= _MIN_MODULATION * capacity
        duty = demand / (_MIN_MODULATION * capacity)
        phase = ((k + self._cycle_offset) % self._cycle_s).astype(np.float64)
        cycling = (demand > 0.02 * self.rated_w) & (phase < duty * self._cycle_s)
        heating = ~hot_water & (modulating | cycling)
        running = hot_water | heating

        heat = np.where(hot_water, 0.7 * capacity,
                        np.where(modulating, np.minimum(demand, capacity),
                                 _MIN_MODULATION * capacity))
        heat = np.where(running, heat * self._jitter(self._key_jit, k, 0.01), 0.0)
        idle = s["temp_buffer_bottom"] - 1.0
        run_s = np.where(hot_water, dhw_s, np.where(modulating, 1e6, phase))
        goal = np.where(hot_water, 50.0 + 8.0 * dhw_prog, s["target"])
        supply = np.where(running, idle + (goal - idle) * (1.0 - np.exp(-run_s / _RAMP_S)), idle)
        cop = heat_pump_cop(supply, s["temp_outdoor"])
        standby = 25.0 + np.where(s["temp_outdoor"] < 5.0, 60.0, 0.0)  # + crankcase heater
        power = np.where(running, heat / cop + self._aux_w, standby)
        state = np.where(hot_water, float(HOT_WATER), np.where(heating, float(HEATING), float(OFF)))
        return {**s, "power_active": power, "heat_power": heat, "temp_supply": supply,
                "operating_state": state, "_running": running.astype(np.float64)}

    def _gauges(self, k: IntArray, core: Arrays) -> Arrays:
        running = core["_running"] > 0
        heat, power, supply = core["heat_power"], core["power_active"], core["temp_supply"]
        flow = np.where(running, self.nominal_flow * self._jitter(self._key_flow, k, 0.005), 0.0)
        delta = np.divide(heat / 1000.0, RHO_C_WATER * flow, out=np.zeros_like(heat),
                          where=running)
        out = {n: v for n, v in core.items() if n.startswith("temp_")}
        out.update({"power_active": power, "heat_power": heat, "cop": np.where(running,
                    heat / power, 0.0), "heat_flow": flow, "temp_return": supply - delta,
                    "operating_state": core["operating_state"]})
        return out


# --- natural gas -----------------------------------------------------------------------------------

_GAS_KWH_PER_M3 = 9.8  # lower heating value of pipeline natural gas, kWh per m³ at base conditions


class GasPhysics(_GridPhysics):
    """Natural-gas meter with temperature and pressure correction (a flow computer on the building's
    gas service): a gas boiler that follows the weather on the heating schedule, and a canteen's
    cooking before lunch and dinner on working days. Flow and totals at base conditions."""

    kind = "gas"
    _counters = (_Counter("gas_volume", "gas_flow", _M3H_TO_M3),)

    def _setup(self, rng: np.random.Generator) -> dict[str, float]:
        self.boiler_w = _log_uniform(rng, 50e3, 600e3) if rng.random() < 0.7 else 0.0  # at −10 °C
        self.kitchen_m3h = _log_uniform(rng, 2.0, 30.0)  # burners at full fire
        self._efficiency = rng.uniform(0.88, 0.95)
        self._line_kpa = rng.choice([2.3, 5.0, 10.0, 100.0])  # low- or medium-pressure service, gauge
        self._kpa_noise = _Sines.draw(rng, 4, 300, 6 * 3600, std=0.01)
        self._soil = 12.0 + rng.uniform(-2.0, 2.0)  # a buried service line follows the soil, slowly
        self._key_jit, self._key_burner = self._keys(rng, 2)
        self._constants = {"error_code": 0.0}
        yearly = self.boiler_w * 1.2 / 1000.0 / _GAS_KWH_PER_M3 + self.kitchen_m3h * 3 * 250
        return {"gas_volume": _years_running(rng) * yearly}

    def _drivers(self, t: FloatArray) -> Arrays:
        temp, _ = self._weather(t)
        day, hour = _local_day_hour(t, self.tz_offset_h)
        heat_w = (self.boiler_w * np.clip((15.5 - temp) / 25.5, 0.0, 1.15)
                  * heating_schedule(t, self.tz_offset_h))
        cooking = (_bump(hour, 10.8, 0.6) + 0.7 * _bump(hour, 16.8, 0.6)) * np.where(_workday(day), 1.0, 0.1)
        season = np.cos(2.0 * math.pi * (t / _DAY - 50.0) / _YEAR_DAYS)
        return {"mean": heat_w / 1000.0 / self._efficiency / _GAS_KWH_PER_M3
                + self.kitchen_m3h * 0.6 * cooking * math.sqrt(2.0 * math.pi) * 0.6,
                "temp_gas": self._soil - 6.0 * season + 0.1 * (temp - self._soil),
                "kpa": self._line_kpa * (1.0 + self._kpa_noise(t))}

    def _core(self, k: IntArray) -> Arrays:
        s = self._slow(k, self._drivers)
        burners = 0.75 + 0.5 * _value_noise(self._key_burner, k, 45)  # burners turned up and down
        flow = s["mean"] * burners * self._jitter(self._key_jit, k, 0.01)
        return {**s, "gas_flow": np.where(flow < 0.01, 0.0, flow)}

    def _gauges(self, k: IntArray, core: Arrays) -> Arrays:
        return {"gas_flow": core["gas_flow"], "temp_gas": core["temp_gas"], "gas_pressure": core["kpa"]}


# --- factory ---------------------------------------------------------------------------------------

_CLASSES: dict[str, type[_GridPhysics]] = {
    cls.kind: cls for cls in (ElectricityPhysics, WaterPhysics, HeatPhysics, HeatPumpPhysics, GasPhysics)
}


def make_physics(kind: str, *, seed: int, unit: int, start: float,
                 tz_offset_h: float = 8.0) -> MeterPhysics:
    """The physics of one meter: `kind` from KINDS; `seed` picks the site (weather, grid) and, with
    `unit`, the meter's building (size, base load, water use); the meter starts at epoch `start`."""
    try:
        cls = _CLASSES[kind]
    except KeyError:
        raise ValueError(f"unknown meter kind {kind!r}: choose one of {', '.join(KINDS)}") from None
    return cls(seed=seed, unit=unit, start=start, tz_offset_h=tz_offset_h)
