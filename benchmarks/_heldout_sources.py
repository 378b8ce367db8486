"""Load shapes the team did not write, for benchmarks.alert_heldout (the `eval` extra).

Each loader returns a `Source`: a series at the source's own resolution, with the day type of every
source day in the source's own calendar, and (where the source has it) the outdoor temperature.

- `eemeter_*`: the sample meter data shipped inside the `eemeter` wheel (Apache-2.0): hourly
  electricity and gas of UK smart meters (real readings, 2020-2022, with their weather station's
  temperature), and the Illinois samples (hourly load modelled by eemeter from real temperature).
  Only the data files are read (located with importlib.metadata); eemeter itself is never imported.
- `bdew`: the BDEW standard load profiles (G0-G6 commercial, H0 household, L0 farm, 15 min) computed
  by `demandlib` (MIT) for a year without holidays: day type = workday / Saturday / Sunday.
- `richardson`: stochastic occupancy and electric load (1 min) of households from `richardsonpy`
  (GPL-3.0, used as a program, no code taken), its own test-reference-year irradiance.
- `epanet_pattern`: hourly water-demand multipliers of the EPANET example networks shipped in `wntr`
  (Revised BSD), read with wntr's own INP reader.

`day_types(dates)` gives the site's calendar: "work" (a working day, including the official adjusted
working weekends, 调休), "sat" (a Saturday off) and "sun" (a Sunday or a statutory holiday), from the
`chinese-calendar` package. `remap()` lays a source onto the site's days: each target day takes the
next unused source day of the same type, in order (a holiday takes a source Sunday, a 调休 Saturday a
source workday), so the source's own weekly rhythm follows the Chinese calendar.
"""

from __future__ import annotations

import gzip
import io
import random
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import metadata
from pathlib import Path

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Source:
    name: str  # e.g. "eemeter:uk-electricity-hdd-only-hourly-sample-0"
    step_s: int  # native resolution
    values: F64  # one value per step: a rate (kW, m³/h, any unit) — only the shape is used
    day_type: tuple[str, ...]  # per source day: "work", "sat", "sun"
    temp_c: F64 | None = None  # outdoor temperature per step, °C, where the source has it
    start: date | None = None  # the source's first day (its own date), where it has dates

    @property
    def per_day(self) -> int:
        return 86_400 // self.step_s


def _weekday_type(d: date) -> str:
    return "work" if d.weekday() < 5 else ("sat" if d.weekday() == 5 else "sun")


def day_types(days: list[date]) -> list[str]:
    """The site's day types from chinese-calendar (statutory holidays and 调休 working days)."""
    import chinese_calendar

    out = []
    for d in days:
        if chinese_calendar.is_workday(d):
            out.append("work")
        elif d.weekday() == 5 and chinese_calendar.get_holiday_detail(d)[1] is None:
            out.append("sat")  # an ordinary Saturday off
        else:
            out.append("sun")  # Sunday or a statutory holiday
    return out


def remap(src: Source, target: list[str], first_day: int = 0) -> F64:
    """The source's steps laid onto the target days (types `target`), from source day `first_day` on.
    A type the source has no more days of wraps round to the source's first day of that type."""
    pools: dict[str, list[int]] = {}
    for i, t in enumerate(src.day_type):
        pools.setdefault(t, []).append(i)
    next_at = {t: 0 for t in pools}
    for t, idx in pools.items():  # start each pool at the first day >= first_day
        next_at[t] = next((k for k, i in enumerate(idx) if i >= first_day), 0)
    out = []
    for t in target:
        pool = pools.get(t) or pools["sun" if t == "sat" else "work"]
        k = next_at.get(t, 0) % len(pool)
        next_at[t] = k + 1
        i = pool[k]
        out.append(src.values[i * src.per_day:(i + 1) * src.per_day])
    return np.concatenate(out)


def same_season(src: Source, target: date, days: int) -> int:
    """The index of the source day with the target's month and day (the first year with `days` days of
    data from there), so heating, cooling and BDEW's seasons match the target's."""
    if src.start is None:
        return 0
    n = len(src.day_type)
    for year in range(src.start.year, src.start.year + 4):
        try:
            d = target.replace(year=year)
        except ValueError:  # 29 February
            d = target.replace(year=year, day=28)
        i = (d - src.start).days
        if i >= 0 and i + days <= n:
            return i
    return max(0, n - days)


def remap_temp(src: Source, n_days: int, first_day: int = 0) -> F64:
    """The source's temperature, day by day in order from `first_day` (the weather does not follow the
    calendar)."""
    assert src.temp_c is not None
    a = first_day * src.per_day
    t = src.temp_c[a:a + n_days * src.per_day]
    if len(t) < n_days * src.per_day:
        raise ValueError(f"{src.name}: not enough temperature days from day {first_day}")
    return t


# ------------------------------------------------------------------------------------------- eemeter

def _eemeter_file(name: str) -> Path:
    dist = metadata.distribution("eemeter")
    path = Path(str(dist.locate_file(f"eemeter/eemeter/samples/{name}")))
    if not path.exists():
        raise FileNotFoundError(f"{path}: not in the installed eemeter (pip install -e '.[eval]')")
    return path


def eemeter_version() -> str:
    return metadata.version("eemeter")


def _read_csv_gz(path: Path) -> list[list[str]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [line.rstrip("\n").split(",") for line in io.StringIO(f.read())][1:]


def _local_series(stamps: list[str], values: list[float], utc_offset_h: float):  # -> pd.Series
    import pandas as pd

    idx = pd.to_datetime(stamps, utc=True) + pd.Timedelta(hours=utc_offset_h)
    s = pd.Series(values, index=idx.tz_localize(None)).sort_index()
    return s[~s.index.duplicated()]


def _fill(v: F64) -> F64:
    """Gaps filled with the same hour a week before (then two weeks, a day, three weeks): the source's
    own pattern, never a zero."""
    v = v.copy()
    for lag in (168, 336, 24, 504):
        bad = ~np.isfinite(v)
        v[bad] = np.roll(v, lag)[bad]
    v[~np.isfinite(v)] = np.nanmedian(v)
    return v


def eemeter(name: str) -> Source:
    """One hourly sample meter of eemeter, with its temperature (°C) on the same hours; whole local
    days only."""
    import json

    import pandas as pd

    meta = json.loads(_eemeter_file("metadata.json").read_text())[name]
    rows = _read_csv_gz(_eemeter_file(meta["meter_data_filename"]))
    uk = name.startswith("uk")
    offset = 0.0 if uk else -6.0  # the UK samples are in UTC, Illinois in -06:00 (local standard time)
    meter = _local_series([r[0] for r in rows],
                          [float(r[1]) if r[1] not in ("", "nan") else np.nan for r in rows], offset)
    trows = _read_csv_gz(_eemeter_file(meta["temperature_filename"]))
    if uk:  # ",dt,tempC"
        temp = _local_series([r[1] for r in trows], [float(r[2]) if r[2] else np.nan for r in trows], offset)
    else:
        temp = _local_series([r[0] for r in trows],
                             [(float(r[1]) - 32) / 1.8 if r[1] else np.nan for r in trows], offset)
    first = max(meter.index[0], temp.index[0]).ceil("D")
    last = min(meter.index[-1], temp.index[-1]).floor("D")
    full = pd.date_range(first, last - pd.Timedelta(hours=1), freq="h")
    v = _fill(meter.reindex(full).to_numpy(dtype=float))
    t = _fill(temp.reindex(full).to_numpy(dtype=float))
    days = len(full) // 24
    start = first.date()
    types = tuple(_weekday_type(start + timedelta(days=i)) for i in range(days))
    return Source(f"eemeter:{name}", 3600, np.maximum(v[:days * 24], 0.0), types, t[:days * 24], start)


# ------------------------------------------------------------------------------------------- demandlib

def bdew(profiles: tuple[str, ...], year: int = 2025) -> dict[str, Source]:
    """The BDEW standard load profiles of demandlib for `year` (no holidays): 15-min power."""
    import pandas as pd
    from demandlib import bdew as dl

    slp = dl.ElecSlp(year=year)
    df = slp.get_scaled_power_profiles({p: 1000.0 for p in profiles})
    df.index = pd.DatetimeIndex(df.index)
    days = len(df) // 96
    types = tuple(_weekday_type(date(year, 1, 1) + timedelta(days=i)) for i in range(days))
    return {p: Source(f"demandlib:bdew-{p}", 900, df[p].to_numpy(float)[:days * 96], types,
                      start=date(year, 1, 1)) for p in profiles}


def demandlib_version() -> str:
    return metadata.version("demandlib")


# ------------------------------------------------------------------------------------------- richardsonpy

def richardson(occupants: int, days: int, seed: int) -> Source:
    """A household's stochastic electric load at 1 min over `days` days from a Monday (richardsonpy's
    occupancy, appliance and lighting models, its own irradiance). richardsonpy always simulates a
    whole year in ElectricLoad; we run its per-day simulation (ElectricityProfile.power_sim) for the
    days needed only."""
    import richardsonpy.classes.appliance as app_model
    import richardsonpy.classes.electric_load as eload
    import richardsonpy.classes.lighting as light_model
    import richardsonpy.classes.occupancy as occ
    import richardsonpy.classes.stochastic_el_load_wrapper as wrap
    import richardsonpy.functions.change_resolution as cr
    import richardsonpy.functions.load_radiation as loadrad

    random.seed(seed)
    np.random.seed(seed)
    o = occ.Occupancy(number_occupants=occupants, initial_day=1, nb_days=days)
    q_dir, q_dif = loadrad.get_rad_from_try_path()
    irr = (np.asarray(cr.change_resolution(q_dir, old_res=3600, new_res=60))
           + np.asarray(cr.change_resolution(q_dif, old_res=3600, new_res=60)))
    inputs = Path(eload.__file__).parent.parent / "inputs"
    # as ElectricLoad.calc_stoch_el_profile sets them up: appliances at 91 % of richardsonpy's standard
    # demand of a multi-family flat of this size (9 % is lighting), the first light-bulb configuration
    demand_kwh = eload.ElectricLoad.standard_consumption["MFH"][occupants]
    apps = app_model.Appliances(str(inputs / "Appliances.csv"), annual_consumption=0.91 * demand_kwh,
                                randomize_appliances=True, prev_heat_dev=False)
    lights = light_model.load_lighting_profile(filename=str(inputs / "LightBulbs.csv"), index=0)
    sim = wrap.ElectricityProfile(apps, lights)
    first = 59  # start the weather on 1 March (day 59 of the year)
    out = []
    for i in range(days):
        demand, _light, _app = sim.power_sim(irradiation=irr[1440 * (first + i):1440 * (first + i + 1)],
                                             weekend=(i % 7) >= 5, day=first + i,
                                             occupancy=o.occupancy[144 * i:144 * (i + 1)])
        out.append(np.asarray(demand, float))
    types = tuple("work" if i % 7 < 5 else ("sat" if i % 7 == 5 else "sun") for i in range(days))
    return Source(f"richardsonpy:{occupants}-occupants-seed{seed}", 60, np.concatenate(out), types)


def richardson_version() -> str:
    return metadata.version("richardsonpy")


# ------------------------------------------------------------------------------------------- wntr / EPANET

def epanet_pattern(network: str, pattern: str) -> F64:
    """An EPANET example network's demand pattern (hourly multipliers), through wntr's INP reader."""
    import wntr

    path = Path(wntr.__file__).parent / "library" / "networks" / f"{network}.inp"
    wn = wntr.network.WaterNetworkModel(str(path))
    step = wn.options.time.pattern_timestep
    if step != 3600:
        raise ValueError(f"{network}: pattern step {step} s, expected 3600")
    return np.asarray(wn.get_pattern(pattern).multipliers, float)


def wntr_version() -> str:
    return metadata.version("wntr")


def chinese_calendar_version() -> str:
    return metadata.version("chinese-calendar")
