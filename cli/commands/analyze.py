"""`metergate analyze READINGS --config SITE`: energy indicators from readings and a site config.

Thin: check the options; read the readings (analytics.readings_io), the site config (site_config),
the factors (analytics.factors), optional virtual meters, basis and records; hand them to
analytics.indicator_run (the window, the grid factor by year, the rollup and the indicators); print a
rich table or JSON. Any problem: a message naming the file, row, column or key, and exit code 2; a
window without readings: exit code 1.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer
from metergate_data import bundled
from rich.console import Console
from rich.table import Table

from cli.commands.source_options import FromTimeOpt, SiteOpt, SourceOpt, SourceOptions, ToTimeOpt
from site_config import ConfigError, load_site_config

if TYPE_CHECKING:
    from analytics.basis import Basis
    from analytics.factors import CarbonFactors, FactorSet, FactorTable
    from analytics.indicator_run import IndicatorRun, Window
    from analytics.indicators import IndicatorRow
    from analytics.readings_io import Readings
    from analytics.records import Records
    from analytics.rollup import BuildingInfo, MeterInfo, VirtualMeter
    from site_config import SiteConfig

# analytics (and numpy) load only when analyze runs: `metergate run` stays lean
FACTORS_DIR = bundled("factors")


_COLUMNS = (("energy_kgce", "kgce", ",.0f"), ("kgce_per_m2", "kgce/m²", ".2f"),
            ("kgce_per_person", "kgce/person", ".2f"), ("water_m3_per_person", "m³/person", ".2f"),
            ("kgco2_per_m2", "kgCO2/m²", ".2f"), ("heating_kgce_per_m2", "heating kgce/m²", ".2f"))


class _Fail(Exception):
    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code  # 2: bad option, config or file; 1: the period has no readings


Fail = _Fail  # for `metergate report`, which reads its inputs through load_inputs


def analyze(
    config: Annotated[Path, typer.Option("--config", help="Site config (buildings and meters).")],
    readings: Annotated[Path | None, typer.Argument(
        metavar="READINGS", help="Readings: .csv, .parquet, a Parquet dataset folder (metergate "
        "export), or the gateway's outbox (SQLite); may be left out with --source or --records.")] = None,
    date_from: Annotated[str | None, typer.Option(
        "--from", help="First day, YYYY-MM-DD in the site's time zone (default: the first reading's).")
    ] = None,
    date_to: Annotated[str | None, typer.Option(
        "--to", help="Last day, inclusive (default: the last reading's).")] = None,
    period: Annotated[str, typer.Option(help="day | month | ytd | year")] = "month",
    factor_set: Annotated[str, typer.Option(
        help="Standard-coal factors: calorific (当量值) | equivalent (等价值) | …")] = "calorific",
    carbon_series: Annotated[str | None, typer.Option(
        help="Grid carbon factor, e.g. national-2023 (default: the national series of each period's "
             "year, else its latest year).")] = None,
    virtual: Annotated[Path | None, typer.Option(
        help="TOML with [[virtual_meters]] (sums and differences of meters).")] = None,
    factors_dir: Annotated[Path, typer.Option("--factors", help="Folder of factor files.")] = FACTORS_DIR,
    interval: Annotated[int, typer.Option(help="Aggregation interval in seconds (divides a day); the "
                                                "result does not depend on it.")] = 3600,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    basis: Annotated[Path | None, typer.Option(
        help="TOML with [[institutions]]: buildings, and floor area, heated area and occupants per "
             "year ([[institutions.basis]]).")] = None,
    records: Annotated[Path | None, typer.Option(
        help="CSV of monthly records of what no meter reads (institution, month, carrier, quantity, "
             "unit): petrol, diesel, LPG, coal, bought heat, bills.")] = None,
    source: SourceOpt = None,
    site: SiteOpt = None,
    from_time: FromTimeOpt = None,
    to_time: ToTimeOpt = None,
) -> None:
    """Indicators per building, institution, category and fleet: kgce, kgce/m², kgce/person, m³/person,
    kgCO2/m² and heating kgce per heated m², per day, month, year to date or year.

    No data is never 0: a figure without data is "—" (null in JSON) with its reason, each row has its
    coverage, and a period without any readings exits with code 1.

    Example: metergate analyze readings.csv --config site.toml --period ytd --to 2024-06-30 --json
    """
    try:
        rows, notes = _run(readings, config, date_from, date_to, period, factor_set, carbon_series,
                           virtual, factors_dir, interval, basis, records,
                           SourceOptions(source, site, from_time, to_time))
    except _Fail as exc:
        err = Console(stderr=True, markup=False, highlight=False, soft_wrap=True)
        err.print(f"error: {exc}", style="red")
        raise typer.Exit(exc.code) from None
    if json_out:
        sys.stdout.write(json.dumps({"rows": [_as_dict(r) for r in rows], "notes": notes},
                                    indent=2, ensure_ascii=False) + "\n")
    else:
        _print(rows, notes)


def _run(readings_path: Path | None, config: Path, date_from: str | None, date_to: str | None,
         period: str, factor_set: str, carbon_series: str | None, virtual_path: Path | None,
         factors_dir: Path, interval: int, basis_path: Path | None = None,
         records_path: Path | None = None, source: SourceOptions | None = None
         ) -> tuple[list[IndicatorRow], list[str]]:
    """Check the options, read the files and hand them to analytics.indicator_run."""
    from analytics.indicator_run import Window
    from analytics.indicators import PERIODS

    if period not in PERIODS:
        raise _Fail(f"--period must be one of {', '.join(PERIODS)}, not {period!r}")
    if interval <= 0 or 86_400 % interval:
        raise _Fail(f"--interval {interval}: must divide a day (86400 s)")
    if source is not None and source.source is not None and source.from_time is None and date_from:
        # what --from needs: from 1 January of the year before (ytd, year-on-year change); --to-time
        # stays now: a reading after --to that closes a gap at its end counts, as it does in a file
        from dataclasses import replace

        source = replace(source, from_time=f"{_day(date_from, '--from').year - 1}-01-01")
    inputs = load_inputs(readings_path, config, factor_set, carbon_series, virtual_path, factors_dir,
                         basis_path, records_path, source=source)
    if records_path is not None and period == "day":
        raise _Fail("--records holds monthly figures: use --period month, ytd or year")
    last_day = _day(date_to, "--to") if date_to else None
    run = run_window(inputs, Window(period, _day(date_from, "--from") if date_from else None, last_day,
                                    interval))
    return run.rows, run.notes


@dataclass(frozen=True)
class Inputs:
    """What `analyze` read and checked: the same for every window it (or `report`) computes."""

    site: SiteConfig
    buildings: tuple[BuildingInfo, ...]  # relabelled by the basis file's institutions
    meters: tuple[MeterInfo, ...]
    virtual: tuple[VirtualMeter, ...]
    readings: Readings | None
    table: FactorTable
    coal: FactorSet
    carbon: CarbonFactors | None  # --carbon-series; None: the national series of each year
    basis: Basis | None
    records: Records | None
    readings_name: str
    site_name: str


def load_inputs(readings_path: Path | None, config: Path, factor_set: str, carbon_series: str | None,
                virtual_path: Path | None, factors_dir: Path, basis_path: Path | None = None,
                records_path: Path | None = None, *, readings: Readings | None = None,
                readings_name: str = "", source: SourceOptions | None = None) -> Inputs:
    """Read the site config, the factors, the readings, virtual meters, basis and records (raises _Fail).
    `readings`: readings already read (the analytics service's scheduled report) instead of a file,
    named `readings_name` in messages. `source`: --source/--site/--from-time/--to-time."""
    from analytics.readings_io import ReadingsError
    from analytics.rollup import RollupError, load_virtual_meters
    from cli.commands.readings_input import read_input, source_name
    from cli.sources import SourceEmpty
    from site_config.analytics_records import rollup_meta

    try:
        site = load_site_config(config, require_env_secrets=False)
    except ConfigError as exc:
        raise _Fail("\n".join(str(p) for p in exc.problems) or str(exc)) from None
    table, coal, fixed = _factors(factors_dir, factor_set, carbon_series)
    source = source or SourceOptions()
    if readings_path is None and records_path is None and readings is None and source.source is None:
        raise _Fail("give READINGS (or --source), --records FILE, or both")
    buildings, meters = rollup_meta(site)
    basis_data, buildings = _basis(basis_path, buildings)
    try:
        virtual = load_virtual_meters(virtual_path, meters, buildings) if virtual_path else ()
        data = (read_input(readings_path, source, site=site.site.id, tz=ZoneInfo(site.site.timezone))
                if readings_path is not None or source.given else readings)
    except SourceEmpty as exc:
        raise _Fail(str(exc), code=1) from None
    except (RollupError, ReadingsError) as exc:
        raise _Fail(str(exc)) from None
    recs = _records(records_path, buildings, basis_data, table, coal)
    return Inputs(site, buildings, meters, virtual, data, table, coal, fixed, basis_data, recs,
                  readings_name or source_name(readings_path, source), str(config))


def run_window(inputs: Inputs, window: Window) -> IndicatorRun:
    """analytics.indicator_run over one window (raises _Fail: code 1 when it has no readings)."""
    from analytics.indicator_run import IndicatorRunError, NoReadingsInWindow, run_indicators

    i = inputs
    try:
        return run_indicators(i.buildings, i.meters, i.site.site.timezone, i.readings, window, i.table,
                              i.coal, carbon=i.carbon, virtual=i.virtual, basis=i.basis,
                              records=i.records, readings_name=i.readings_name, site_name=i.site_name)
    except IndicatorRunError as exc:
        raise _Fail(str(exc), code=1 if isinstance(exc, NoReadingsInWindow) else 2) from None


def _factors(directory: Path, factor_set: str, carbon_series: str | None
             ) -> tuple[FactorTable, FactorSet, CarbonFactors | None]:
    """The factor table, the standard-coal set and the fixed grid factor (--carbon-series) if any."""
    from analytics.factors import FactorError, load_factors

    try:
        table = load_factors(directory)
        return table, table.factor_set(factor_set), (
            table.carbon_series(carbon_series) if carbon_series else None)
    except FactorError as exc:
        raise _Fail(str(exc)) from None
    except KeyError as exc:
        raise _Fail(str(exc.args[0])) from None


def _basis(path: Path | None, buildings: tuple[BuildingInfo, ...]
           ) -> tuple[Basis | None, tuple[BuildingInfo, ...]]:
    """The basis file, and the buildings relabelled with its institutions (and their categories)."""
    from analytics.basis import BasisError, load_basis
    from core.categories import CATEGORIES

    if path is None:
        return None, buildings
    try:
        basis = load_basis(path, buildings, CATEGORIES)
    except BasisError as exc:
        raise _Fail(str(exc)) from None
    return basis, basis.apply(buildings)


def _records(path: Path | None, buildings: tuple[BuildingInfo, ...], basis: Basis | None,
             table: FactorTable, coal: FactorSet) -> Records | None:
    from analytics.factors import FUELS
    from analytics.records import RecordsError, check_factors, load_records

    if path is None:
        return None
    known = {b.institution for b in buildings if b.institution} | {
        i.id for i in (basis.institutions if basis else ())}
    try:
        recs = load_records(path, known, {f: d.value for f, d in table.densities.items()})
        check_factors(recs, coal, set(table.carriers) & set(FUELS))
    except RecordsError as exc:
        raise _Fail(str(exc)) from None
    return recs


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _Fail(f"{option} {text!r}: expected a date YYYY-MM-DD") from None


def _as_dict(r: IndicatorRow) -> dict[str, object]:
    out: dict[str, object] = {"level": r.level, "id": r.id, "period": r.period, **r.values,
                              "factor_set": r.factor_set, "carbon_series": r.carbon_series,
                              "coverage": r.coverage, "no_data": r.no_data, **r.amounts}
    if r.sources is not None:
        out["sources"] = r.sources
    return out


_MAX_REASON_LINES = 20


def _reason_lines(rows: list[IndicatorRow]) -> list[str]:
    """'—' explained: one line per building and reason, with the periods it holds for (at most 20)."""
    labels = {**{k: t for k, t, _ in _COLUMNS}, "co2_kg": "kgCO2"}
    by: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    for r in rows:
        if r.level != "building":
            continue
        silent = r.coverage == 0 and all(v is None for k, v in r.values.items() if k in labels)
        items = ({"all figures": "no readings of its meters in this period"} if silent
                 else {labels.get(k, k): why for k, why in r.no_data.items()})
        for name, why in items.items():
            names, periods = by.setdefault((r.id, why), ([], []))
            if name not in names:
                names.append(name)
            if r.period not in periods:
                periods.append(r.period)
    out = []
    for (key, why), (names, periods) in by.items():
        when = periods[0] if len(periods) == 1 else f"{len(periods)} periods, {periods[0]} … {periods[-1]}"
        out.append(f"no data: building {key}, {', '.join(names)} ({when}): {why}")
    if len(out) > _MAX_REASON_LINES:
        more = len(out) - _MAX_REASON_LINES
        out = [*out[:_MAX_REASON_LINES], f"no data: … {more} more (every reason is in --json, key no_data)"]
    return out


def _print(rows: list[IndicatorRow], notes: list[str]) -> None:
    out = Console(markup=False, highlight=False)
    if not out.is_terminal:
        out = Console(markup=False, highlight=False, width=180)
    yoy = any(r.values.get("kgce_per_m2_yoy") is not None for r in rows)
    recorded = any(r.sources is not None for r in rows)
    table = Table("period", "level", "id", *(c[1] for c in _COLUMNS),
                  *(["kgce/m² vs a year before", "kgce/person vs a year before"] if yoy else []),
                  *(["from records"] if recorded else []), "coverage", "CO2 factor")
    for r in rows:
        cells = ["—" if r.values[k] is None else format(r.values[k], f) for k, _, f in _COLUMNS]
        for name in ("kgce_per_m2_yoy", "kgce_per_person_yoy") if yoy else ():
            change = r.values.get(name)
            cells.append("—" if change is None else f"{change:+.2%}")
        if recorded:
            cells.append(_records_share(r))
        cov = "—" if r.coverage is None else f"{math.floor(r.coverage * 100)}%"  # 99.6 % is not 100 %
        table.add_row(r.period, r.level, r.id, *cells, cov, r.carbon_series)
    out.print(table)
    for n in _reason_lines(rows):
        out.print(n)
    for n in notes:
        out.print(f"note: {n}")


def _records_share(r: IndicatorRow) -> str:
    """The share of the row's kgce that came from records ("-": nothing from records; the JSON
    output names each recorded carrier and quantity)."""
    src = r.sources or {}
    total, kgce = r.values.get("energy_kgce"), src.get("records_kgce")
    if not src.get("records"):
        return "-"
    return f"{kgce / total:.0%}" if total and isinstance(kgce, float) else "water only"


__all__ = ["Fail", "Inputs", "analyze", "load_inputs", "run_window"]
