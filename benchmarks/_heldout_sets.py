"""Evaluation sets for benchmarks.alert_heldout: sites whose load comes from the sources of
benchmarks._heldout_sources, counter readings at real cadences, faults injected with labels.

A set is one site (3 buildings by default) over `days` days from a Monday, in Asia/Shanghai, on the
Chinese calendar of those days (chinese-calendar). Per building:
- electricity sub-meters (`chint-dtsu666`, kWh at 0.01): the shapes of the set's source, each laid on
  the calendar from another source day, scaled to a mean of 5-60 kW. Cadences: mostly 15 min, some
  hourly, one read once a day (00:05-00:15 local) per building, and (richardsonpy set) 1 min;
- water meters (`tuf-2000m`, m³ at 0.001): the hourly demand pattern of an EPANET example network
  (wntr: ky4 for dev, Net6 PATTERN-0 for held-out) times a day-type factor (office: Saturday 0.35,
  Sunday/holiday 0.25 of a working day; dormitory: 1) times gamma noise per 15 min (shape 2) — the
  pattern is EPANET's, the day-type factor and the noise are ours (no package ships a public
  building's water series);
- one heat-pump pair: a heat meter (`kamstrup-multical`, kWh at 0.1) whose load is the hourly gas
  use of an eemeter sample meter (a gas boiler's load is the heat demand; real UK/modelled IL data)
  and its electricity meter (`chint-dtsu666`, named by the heat meter's `pair`), heat / COP with
  COP = 0.45 × Carnot between 35 °C supply and the sample's own outdoor temperature, clipped to
  1.5-5.5, plus 1 % standby — the COP model is ours.
Readings jitter by 0-3 s like a poller's (daily reads by up to 10 min). BDEW profiles are averages of
many customers: a BDEW meter gets a day factor (lognormal, sd 6 %) and 15-min noise (sd 8 %, ours).

Faults (`inject`), each a labelled `Event` (kind, subject, start, end), at most one per meter in any
window of 2 days, from day 22 on (the detectors' baselines need 3 weeks):
- counter_reset: from one reading on, the counter restarts at 0-5 units (a reset or a meter swap);
  window = [previous reading, that reading];
- stuck_meter: the counter repeats one value from a working-day morning for 8-30 h (daily-read
  meters: 4-6 days), then counts on from it (the consumption in between is lost);
- comm_loss: no readings for 3-24 h (daily-read meters: 3-5 days);
- water_leak: + 20-60 % of the meter's mean flow, day and night, for 3-7 days;
- consumption_anomaly: + 40-100 % of the meter's mean load, 4-8 h from 09:00-11:00 on a working day;
- base_load_creep: + 30-60 % of the meter's mean 01:00-05:00 load, rising over 48 h, held 7-10 days;
- spike: one reading raised by 100 × the meter's mean hourly use (at least 1000 units), the next back;
- sentinel: one reading NaN (an invalid value, as the gateway's outbox export or a CSV shows it).
"""

from __future__ import annotations

import csv
import json
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from benchmarks import _heldout_sources as src

TZ = ZoneInfo("Asia/Shanghai")
S = 1_000_000_000
MIN = 60  # the base grid: one rate value per minute
F64 = npt.NDArray[np.float64]
QUANTITY = {"electricity": "energy_active_import", "water": "water_volume", "heat": "heat_energy"}
PROFILE = {"electricity": "chint-dtsu666", "water": "tuf-2000m", "heat": "kamstrup-multical"}
RESOLUTION = {"electricity": 0.01, "water": 0.001, "heat": 0.1}
KINDS = ("counter_reset", "stuck_meter", "comm_loss", "water_leak", "consumption_anomaly",
         "base_load_creep", "spike", "sentinel")
WARMUP_DAYS = 21


@dataclass
class Meter:
    id: str
    building: str
    kind: str  # electricity | water | heat
    cadence_s: int
    rate: F64  # units per hour, one value per minute of the set
    start_value: float
    source: str
    subitem: str | None = None
    pair: str | None = None


@dataclass(frozen=True)
class Building:
    id: str
    name: str
    category: str
    floor_area_m2: float
    occupants: int
    use: str  # "office" | "dorm": water day factors


@dataclass(frozen=True)
class Event:
    kind: str
    subject: str
    start_ns: int
    end_ns: int
    size: float = 0.0


@dataclass
class EvalSet:
    name: str
    split: str  # "dev" | "heldout"
    source: str
    seed: int
    start: date
    days: int
    buildings: list[Building]
    meters: list[Meter]
    events: list[Event] = field(default_factory=list)

    @property
    def t0_ns(self) -> int:
        return int(datetime(self.start.year, self.start.month, self.start.day, tzinfo=TZ).timestamp()) * S

    @property
    def meter_weeks(self) -> float:
        return len(self.meters) * self.days / 7


# ------------------------------------------------------------------------------------------- shapes

def _to_minutes(values: F64, step_s: int) -> F64:
    return np.repeat(values, step_s // MIN) if step_s >= MIN else values


def _norm(x: F64) -> F64:
    m = float(np.mean(x))
    return x / m if m > 0 else np.ones_like(x)


def _bdew_noise(rng: np.random.Generator, n_min: int, days: int) -> F64:
    day = np.repeat(np.exp(rng.normal(0.0, 0.06, days)), 1440)
    q = np.repeat(np.clip(1.0 + rng.normal(0.0, 0.08, n_min // 15), 0.5, 1.5), 15)
    return day[:n_min] * q[:n_min]


def _water(rng: np.random.Generator, pattern: F64, types: list[str], use: str) -> F64:
    """m³/h shape per minute: EPANET pattern (hourly, repeating) × day-type factor × gamma noise."""
    days = len(types)
    hours = np.resize(pattern, days * 24)
    factor = {"office": {"work": 1.0, "sat": 0.35, "sun": 0.25},
              "dorm": {"work": 1.0, "sat": 1.0, "sun": 1.0}}
    f = np.repeat([factor[use][t] for t in types], 24)
    per15 = np.repeat(hours * f, 4) * rng.gamma(2.0, 0.5, days * 96)
    return np.repeat(per15, 15)


def _cop(temp_c: F64) -> F64:
    sink, source = 35.0 + 273.15, temp_c + 273.15
    return np.clip(0.45 * sink / np.maximum(sink - source, 5.0), 1.5, 5.5)


# ------------------------------------------------------------------------------------------- sets

MakeShapes = Callable[[int, np.random.Generator], list[tuple[src.Source, bool]]]


@dataclass(frozen=True)
class Recipe:
    """What a set is made of: the electricity shapes, water patterns, gas (heat) source, cadences."""

    name: str
    split: str
    source: str
    start: date
    buildings: tuple[tuple[str, str, str], ...]  # (id, category, use)
    electricity: MakeShapes  # n, rng -> (shape, gets BDEW noise) per meter
    water: tuple[str, ...]  # EPANET "network:pattern"
    gas: tuple[str, ...]  # eemeter gas samples for the heat pumps
    one_minute: int = 0  # how many electricity meters per building are read every minute


def _elec_eemeter(names: tuple[str, ...]) -> MakeShapes:
    def make(n: int, rng: np.random.Generator) -> list[tuple[src.Source, bool]]:
        loaded = [src.eemeter(x) for x in names]
        return [(loaded[i % len(loaded)], False) for i in range(n)]
    return make


def _elec_bdew(profiles: tuple[str, ...]) -> MakeShapes:
    def make(n: int, rng: np.random.Generator) -> list[tuple[src.Source, bool]]:
        loaded = src.bdew(profiles)
        return [(loaded[profiles[i % len(profiles)]], True) for i in range(n)]
    return make


def _elec_richardson(days: int) -> MakeShapes:
    def make(n: int, rng: np.random.Generator) -> list[tuple[src.Source, bool]]:
        # a dormitory floor: the sum of 4 flats' stochastic loads (richardsonpy), each its own run
        out = []
        for i in range(n):
            flats = [src.richardson(int(rng.integers(1, 6)), days + 7, int(rng.integers(1, 2**31)))
                     for _ in range(4)]
            v = np.sum([f.values for f in flats], axis=0)
            out.append((src.Source(f"richardsonpy:4 flats #{i}", 60, v, flats[0].day_type), False))
        return out
    return make


def recipes(days: int) -> dict[str, Recipe]:
    """The dev and held-out recipes. Dev: Illinois + UK sample 0 (eemeter) and BDEW G0/G1/G4/H0, water
    from EPANET ky4's pattern, spring 2025 (清明, 劳动节 with its 调休 Sunday). Held-out: other
    buildings, UK samples 1 and 2, BDEW G1/G2/G3/G5/G6/L0, richardsonpy (a source dev never sees),
    water from EPANET Net6's PATTERN-0, autumn 2024 (中秋, 国庆 with three 调休 weekend days).
    Water patterns: those of the example networks with a building's night minimum (ky4: day use,
    Net6 PATTERN-0: a household's morning and evening peaks); Net2's and Net3's patterns are district
    demand with night-time peaks (tank filling), unlike any one building's meter."""
    spring, autumn = date(2025, 3, 3), date(2024, 9, 2)
    return {
        "dev-eemeter": Recipe("dev-eemeter", "dev", "eemeter", spring,
                              (("dev-a1", "office", "office"), ("dev-a2", "school", "dorm"),
                               ("dev-a3", "office", "office")),
                              _elec_eemeter(("il-electricity-cdd-hdd-hourly",
                                             "il-electricity-cdd-only-hourly",
                                             "uk-electricity-hdd-only-hourly-sample-0")),
                              ("ky4:1",), ("il-gas-hdd-only-hourly",)),
        "dev-bdew": Recipe("dev-bdew", "dev", "demandlib-bdew", spring,
                           (("dev-b1", "office", "office"), ("dev-b2", "venue", "office"),
                            ("dev-b3", "school", "dorm")),
                           _elec_bdew(("g0", "g1", "g4", "h0")), ("ky4:1",), ("il-gas-hdd-only-hourly",)),
        # the dev sources in autumn (2023: 中秋 and 国庆 as one 8-day holiday, 调休 on 7 and 8 October):
        # mild weather, heat pumps idle for days at their standby draw
        "dev-autumn": Recipe("dev-autumn", "dev", "eemeter", date(2023, 9, 4),
                             (("dev-c1", "office", "office"), ("dev-c2", "school", "dorm"),
                              ("dev-c3", "venue", "office")),
                             _elec_eemeter(("il-electricity-cdd-only-hourly",
                                            "uk-electricity-hdd-only-hourly-sample-0",
                                            "il-electricity-cdd-hdd-hourly")),
                             ("ky4:1",), ("il-gas-hdd-only-hourly",)),
        "ho-eemeter": Recipe("ho-eemeter", "heldout", "eemeter", autumn,
                             (("ho-e1", "office", "office"), ("ho-e2", "school", "dorm"),
                              ("ho-e3", "hospital", "dorm")),
                             _elec_eemeter(("uk-electricity-hdd-only-hourly-sample-1",
                                            "uk-electricity-hdd-only-hourly-sample-2")),
                             ("Net6:PATTERN-0",), ("uk-gas-hdd-only-hourly-sample-0",)),
        "ho-bdew": Recipe("ho-bdew", "heldout", "demandlib-bdew", autumn,
                          (("ho-b1", "office", "office"), ("ho-b2", "venue", "office"),
                           ("ho-b3", "research", "office")),
                          _elec_bdew(("g1", "g2", "g3", "g5", "g6", "l0")), ("Net6:PATTERN-0",),
                          ("uk-gas-hdd-only-hourly-sample-0",)),
        "ho-richardson": Recipe("ho-richardson", "heldout", "richardsonpy", autumn,
                                (("ho-r1", "school", "dorm"), ("ho-r2", "school", "dorm")),
                                _elec_richardson(days), ("Net6:PATTERN-0",),
                                ("uk-gas-hdd-only-hourly-sample-0",),
                                one_minute=2),
    }


def set_rng(seed: int, name: str, stream: int) -> np.random.Generator:
    """The generator of one set and purpose: two sets under one seed get different draws."""
    return np.random.default_rng([seed, zlib.crc32(name.encode()), stream])


def build(recipe: Recipe, seed: int, days: int, elec_per_building: int = 6, water_per_building: int = 2,
          buildings: int | None = None) -> EvalSet:
    rng = set_rng(seed, recipe.name, 0)
    dates = [recipe.start + timedelta(days=i) for i in range(days)]
    types = src.day_types(dates)
    n_min = days * 1440
    blds = recipe.buildings[:buildings] if buildings else recipe.buildings
    shapes = recipe.electricity(elec_per_building * len(blds), rng)
    patterns = [src.epanet_pattern(*x.split(":")) for x in recipe.water]
    gases = [src.eemeter(x) for x in recipe.gas]
    out_b: list[Building] = []
    meters: list[Meter] = []
    k = 0
    for bid, category, use in blds:
        area = float(rng.uniform(3000, 20000))
        out_b.append(Building(bid, f"{category} {bid}", category, round(area), int(area / 25), use))
        for i in range(elec_per_building):
            shape, noisy = shapes[k]
            k += 1
            first = src.same_season(shape, dates[0], days + 14) + int(rng.integers(0, 14))
            rate = _norm(_to_minutes(src.remap(shape, types, first), shape.step_s))
            if noisy:
                rate = rate * _bdew_noise(rng, n_min, days)
            cadence = 900
            if i == elec_per_building - 1:
                cadence = 86_400
            elif i < recipe.one_minute:
                cadence = 60
            elif i % 3 == 2:
                cadence = 3600
            mean_kw = float(rng.uniform(5.0, 60.0))
            sub = ("lighting_sockets", "hvac", "power", "special", "other")[i % 5]
            meters.append(Meter(f"{bid}-e{i + 1:02d}", bid, "electricity", cadence, mean_kw * rate[:n_min],
                                float(rng.uniform(1e3, 5e5)), shape.name, subitem=sub))
        for i in range(water_per_building):
            pat = patterns[(len(out_b) + i) % len(patterns)]
            mean = float(rng.uniform(0.3, 3.0))
            daily = i == water_per_building - 1 and len(out_b) == 2  # one daily-read water meter
            cadence = 86_400 if daily else (900 if i == 0 else 3600)
            meters.append(Meter(f"{bid}-w{i + 1:02d}", bid, "water", cadence,
                                mean * _norm(_water(rng, pat, types, use)), float(rng.uniform(100, 5e4)),
                                f"wntr:{recipe.water[(len(out_b) + i) % len(recipe.water)]}"))
        gas = gases[len(out_b) % len(gases)]
        first = src.same_season(gas, dates[0], days + 14) + int(rng.integers(0, 7))
        g = src.remap(gas, types, first)
        temp = src.remap_temp(gas, days, first)
        rated = float(rng.uniform(20.0, 80.0))
        heat = rated * 0.4 * g / max(float(np.percentile(g, 95)), 1e-9)
        heat = np.clip(heat, 0.0, rated)
        elec = heat / _cop(temp) + 0.01 * rated
        hp_e = f"{bid}-hpe1"
        meters.append(Meter(hp_e, bid, "electricity", 900, _to_minutes(elec, 3600),
                            float(rng.uniform(1e3, 2e5)), f"{gas.name} / COP", subitem="hvac"))
        meters.append(Meter(f"{bid}-hph1", bid, "heat", 900, _to_minutes(heat, 3600),
                            float(rng.uniform(1e3, 5e5)), gas.name, pair=hp_e))
    return EvalSet(recipe.name, recipe.split, recipe.source, seed, recipe.start, days, out_b, meters)


# ------------------------------------------------------------------------------------------- readings

@dataclass
class Edits:
    """A meter's faults: rate additions (before integration) and reading edits (after)."""

    add: list[tuple[int, int, F64]] = field(default_factory=list)  # minute range, added rate
    stuck: list[tuple[int, int]] = field(default_factory=list)  # ns window
    drop: list[tuple[int, int]] = field(default_factory=list)  # ns window, exclusive
    reset_at: list[tuple[int, float]] = field(default_factory=list)  # reading index, new value
    spike_at: list[tuple[int, float]] = field(default_factory=list)  # reading index, added
    nan_at: list[int] = field(default_factory=list)


def reading_times(s: EvalSet, m: Meter, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    if m.cadence_s >= 86_400:
        base = np.arange(s.days + 1, dtype=np.int64) * 86_400 + 300
        jit = rng.integers(0, 600, len(base))
    else:
        base = np.arange(s.days * 86_400 // m.cadence_s + 1, dtype=np.int64) * m.cadence_s
        jit = rng.integers(0, 4, len(base))
    t = np.minimum(base + jit, s.days * 86_400)
    return s.t0_ns + t * S


def counter(s: EvalSet, m: Meter, ts: npt.NDArray[np.int64], ed: Edits | None) -> F64:
    rate = m.rate.copy()
    for a, b, add in ed.add if ed else ():
        rate[a:b] += add
    cum = np.concatenate([[0.0], np.cumsum(rate / 60.0)])  # units at each minute boundary
    sec = (ts - s.t0_ns) / S
    v = m.start_value + np.interp(sec / 60.0, np.arange(len(cum)), cum)
    if ed:
        for a, b in ed.stuck:
            inside = (ts >= a) & (ts <= b)
            if inside.any():
                first = int(np.argmax(inside))
                frozen = v[first]
                last = int(np.nonzero(inside)[0][-1])
                lost = v[last] - frozen
                v[inside] = frozen
                v[last + 1:] -= lost
        for k, new in ed.reset_at:
            v[k:] = v[k:] - v[k - 1] + new
    res = RESOLUTION[m.kind]
    v = np.floor(v / res) * res
    if ed:
        for k, extra in ed.spike_at:
            v[k] += extra
        for k in ed.nan_at:
            v[k] = np.nan
    return v


def readings(s: EvalSet, edits: dict[str, Edits] | None = None, seed: int = 0
             ) -> list[tuple[str, npt.NDArray[np.int64], F64]]:
    """(meter, ts_ns, value) per meter; the same reading times for the clean and injected copies."""
    out = []
    for j, m in enumerate(s.meters):
        rng = np.random.default_rng(seed * 1000 + j)
        ts = reading_times(s, m, rng)
        ed = (edits or {}).get(m.id)
        v = counter(s, m, ts, ed)
        keep = np.ones(len(ts), bool)
        for a, b in ed.drop if ed else ():
            keep &= ~((ts > a) & (ts < b))
        out.append((m.id, ts[keep], v[keep]))
    return out


# ------------------------------------------------------------------------------------------- faults

def inject(s: EvalSet, seed: int, per_kind: int = 4) -> dict[str, Edits]:
    """Faults of every kind on the set's meters; fills `s.events` and returns the edits."""
    rng = set_rng(seed, s.name, 1)
    edits: dict[str, Edits] = {m.id: Edits() for m in s.meters}
    busy: dict[str, list[tuple[int, int]]] = {}
    types = src.day_types([s.start + timedelta(days=i) for i in range(s.days)])
    day_ns = 86_400 * S
    s.events = []

    def free(mid: str, a: int, b: int) -> bool:
        slack = 2 * day_ns
        return all(b + slack <= x or a >= y + slack for x, y in busy.get(mid, []))

    def when(dur_h: tuple[float, float], workday: tuple[float, float] | None) -> tuple[int, int]:
        for _ in range(100):
            day = int(rng.integers(WARMUP_DAYS + 1, s.days - 3))
            if workday is not None and types[day] != "work":
                continue
            hour = float(rng.uniform(*workday)) if workday else float(rng.uniform(0.0, 24.0))
            a = s.t0_ns + day * day_ns + int(hour * 3600) * S
            b = a + int(float(rng.uniform(*dur_h)) * 3600) * S
            if b < s.t0_ns + (s.days - 1) * day_ns:
                return a, b
        raise RuntimeError("no room for an event")

    def place(pool: list[Meter], dur_h: tuple[float, float], workday: tuple[float, float] | None = None,
              dur_daily: tuple[float, float] | None = None) -> tuple[Meter, int, int] | None:
        for _ in range(200):
            m = pool[int(rng.integers(0, len(pool)))]
            d = dur_daily if (m.cadence_s >= 86_400 and dur_daily) else dur_h
            a, b = when(d, workday)
            if free(m.id, a, b):
                busy.setdefault(m.id, []).append((a, b))
                return m, a, b
        return None

    def minute(t: int) -> int:
        return int((t - s.t0_ns) // (60 * S))

    def times(m: Meter) -> npt.NDArray[np.int64]:
        j = s.meters.index(m)
        return reading_times(s, m, np.random.default_rng(seed * 1000 + j))

    sub_daily = [m for m in s.meters if m.cadence_s < 86_400]
    elec = [m for m in sub_daily if m.kind == "electricity" and m.subitem != "hvac"]
    water = [m for m in sub_daily if m.kind == "water"]
    flowing = [m for m in s.meters if m.kind in ("electricity", "water")]
    for _ in range(per_kind):
        p = place(s.meters, (0.0, 0.0))
        if p:  # counter reset at the first reading at or after a
            m, a, _b = p
            ts = times(m)
            k = int(np.searchsorted(ts, a))
            edits[m.id].reset_at.append((k, float(rng.uniform(0.0, 5.0))))
            s.events.append(Event("counter_reset", m.id, int(ts[k - 1]), int(ts[k])))
        p = place(flowing, (8.0, 30.0), workday=(8.0, 10.0), dur_daily=(96.0, 144.0))
        if p:
            m, a, b = p
            edits[m.id].stuck.append((a, b))
            s.events.append(Event("stuck_meter", m.id, a, b))
        p = place(s.meters, (3.0, 24.0), dur_daily=(72.0, 120.0))
        if p:
            m, a, b = p
            edits[m.id].drop.append((a, b))
            s.events.append(Event("comm_loss", m.id, a, b))
        p = place(water, (72.0, 168.0))
        if p:
            m, a, b = p
            q = float(rng.uniform(0.2, 0.6)) * float(np.mean(m.rate))
            edits[m.id].add.append((minute(a), minute(b), np.full(minute(b) - minute(a), q)))
            s.events.append(Event("water_leak", m.id, a, b, q))
        p = place(elec, (4.0, 8.0), workday=(9.0, 11.0))
        if p:
            m, a, b = p
            q = float(rng.uniform(0.4, 1.0)) * float(np.mean(m.rate))
            edits[m.id].add.append((minute(a), minute(b), np.full(minute(b) - minute(a), q)))
            s.events.append(Event("consumption_anomaly", m.id, a, b, q))
        p = place(elec, (7 * 24.0, 10 * 24.0))
        if p:
            m, a, b = p
            night = m.rate.reshape(s.days, 1440)[:, 60:300]
            q = float(rng.uniform(0.3, 0.6)) * float(np.mean(night))
            n = minute(b) - minute(a)
            ramp = np.minimum(np.arange(n) / (48 * 60), 1.0) * q
            edits[m.id].add.append((minute(a), minute(b), ramp))
            s.events.append(Event("base_load_creep", m.id, a, b, q))
        p = place(sub_daily, (0.0, 0.0))
        if p:
            m, a, _b = p
            ts = times(m)
            k = int(np.searchsorted(ts, a))
            add = max(1000.0, 100.0 * float(np.mean(m.rate)))
            edits[m.id].spike_at.append((k, add))
            s.events.append(Event("spike", m.id, int(ts[k - 1]), int(ts[k + 1]), add))
        p = place(s.meters, (0.0, 0.0))
        if p:
            m, a, _b = p
            ts = times(m)
            k = int(np.searchsorted(ts, a))
            edits[m.id].nan_at.append(k)
            s.events.append(Event("sentinel", m.id, int(ts[k - 1]), int(ts[k + 1])))
    return edits


# ------------------------------------------------------------------------------------------- files

def site_toml(s: EvalSet) -> str:
    lines = ["# generated by benchmarks.alert_heldout — an evaluation site, not a real one", "[site]",
             f'id = "{s.name}"', f'name = "evaluation set {s.name} (seed {s.seed})"',
             'timezone = "Asia/Shanghai"', ""]
    for b in s.buildings:
        lines += ["[[buildings]]", f'id = "{b.id}"', f'name = "{b.name}"', f'category = "{b.category}"',
                  f"floor_area_m2 = {b.floor_area_m2:.0f}", f"occupants = {b.occupants}", ""]
    for i, b in enumerate(s.buildings):  # never connected: `alerts --from` reads a file
        lines += ["[[buses]]", f'id = "{b.id}-bus"', 'type = "tcp"', 'host = "127.0.0.1"',
                  f"port = {15020 + i}", ""]
    units: dict[str, int] = {}
    for m in s.meters:
        u = units[m.building] = units.get(m.building, 0) + 1
        lines += ["[[meters]]", f'id = "{m.id}"', f'profile = "{PROFILE[m.kind]}"', f"unit = {u}",
                  f'bus = "{m.building}-bus"', f'building = "{m.building}"',
                  f'description = "{m.source}, read every {m.cadence_s} s"']
        if m.subitem:
            lines.append(f'subitem = "{m.subitem}"')
        if m.pair:
            lines.append(f'pair = "{m.pair}"')
        lines.append("")
    return "\n".join(lines)


def write_csv(rows: list[tuple[str, npt.NDArray[np.int64], F64]], s: EvalSet, path: Path) -> Path:
    kind = {m.id: m.kind for m in s.meters}
    allts = np.concatenate([r[1] for r in rows])
    order = np.argsort(allts, kind="stable")
    ids = np.concatenate([np.full(len(r[1]), r[0]) for r in rows])[order]
    vals = np.concatenate([r[2] for r in rows])[order]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["ts", "meter", "quantity", "value"])
        for t, mid, v in zip(allts[order], ids, vals, strict=True):
            w.writerow([int(t), mid, QUANTITY[kind[mid]], "nan" if not np.isfinite(v) else f"{v:.4f}"])
    return path


def labels_json(s: EvalSet) -> str:
    def iso(ns: int) -> str:
        return datetime.fromtimestamp(ns / S, TZ).isoformat(timespec="seconds")
    return json.dumps({
        "set": s.name, "split": s.split, "source": s.source, "seed": s.seed, "start": s.start.isoformat(),
        "days": s.days, "meters": [{"id": m.id, "building": m.building, "kind": m.kind,
                                     "cadence_s": m.cadence_s, "source": m.source, "pair": m.pair}
                                    for m in s.meters],
        "events": [asdict(e) | {"start": iso(e.start_ns), "end": iso(e.end_ns)} for e in s.events]},
        indent=1, ensure_ascii=False)


def write(s: EvalSet, folder: Path, edits: dict[str, Edits]) -> tuple[Path, Path, Path]:
    """site.toml, readings.csv (injected), clean.csv, labels.json of a set in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    site = folder / "site.toml"
    site.write_text(site_toml(s), encoding="utf-8")
    inj = write_csv(readings(s, edits, s.seed), s, folder / "readings.csv")
    clean = write_csv(readings(s, None, s.seed), s, folder / "clean.csv")
    (folder / "labels.json").write_text(labels_json(s), encoding="utf-8")
    return site, inj, clean
