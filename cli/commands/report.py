"""`metergate report --from READINGS --config SITE --period 2025|2025-03|2025-Q1 --format html|pdf|xlsx
-o FILE`: an energy report per institution, or the fleet and each institution.

Thin: the inputs are read as `metergate analyze` reads them (analyze.load_inputs), its indicator runs
(analyze.run_window) give every number, `metergate alerts --from`'s batch (alerts.batch_of) the alerts
and quota status; reports.model assembles them and one module per format renders. The renderers'
libraries (jinja2, matplotlib, WeasyPrint, openpyxl: the extra `report`) load only here. Any problem: a
message naming the option, file or key, and exit code 2; a period without readings: exit code 1.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from metergate_data import bundled
from rich.console import Console

from cli.commands.analyze import Fail
from cli.commands.source_options import FromTimeOpt, SiteOpt, SourceOpt, SourceOptions, ToTimeOpt

if TYPE_CHECKING:
    from cli.commands.analyze import Inputs
    from reports.model import Batch, Report, Runs
    from reports.period import ReportPeriod

FORMATS = ("html", "pdf", "xlsx")
LATENESS_S = 300  # alerts --from's default


def report(
    config: Annotated[Path, typer.Option("--config", help="Site config (buildings and meters).")],
    period: Annotated[str, typer.Option(help="A year (2025), a month (2025-03) or a quarter (2025-Q1).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The file to write.")],
    readings: Annotated[Path | None, typer.Option("--from", metavar="READINGS", help=(
        "Readings: .csv, .parquet, a Parquet dataset folder, or the gateway's outbox (SQLite), as for "
        "`metergate analyze`; or give --source."))] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="html | pdf | xlsx (default: from the "
                                                             "suffix of -o).")] = None,
    institution: Annotated[str | None, typer.Option(
        help="One institution's report (default: the fleet summary and every institution).")] = None,
    lang: Annotated[str, typer.Option(help="zh (中文, default) | en")] = "zh",
    basis: Annotated[Path | None, typer.Option(
        help="TOML with [[institutions]] (as for analyze): buildings, area and occupants per year.")] = None,
    virtual: Annotated[Path | None, typer.Option(
        help="TOML with [[virtual_meters]] (as for analyze).")] = None,
    factor_set: Annotated[str, typer.Option(
        help="calorific (当量值) | equivalent (等价值) | …")] = "calorific",
    carbon_series: Annotated[str | None, typer.Option(
        help="Grid carbon factor, e.g. national-2023 (default as for analyze).")] = None,
    reduction: Annotated[float | None, typer.Option(
        help="Yearly reduction target to track, e.g. -0.02 (as for alerts --from).")] = None,
    standard: Annotated[list[str] | None, typer.Option(
        help="Quota standard to apply (repeat); default every one that matches.")] = None,
    with_alerts: Annotated[bool, typer.Option("--alerts/--no-alerts", help=(
        "Run the detectors and quotas (alerts --from) for the alerts and quota sections; "
        "--no-alerts leaves both out, saying so."))] = True,
    interval: Annotated[int, typer.Option(help="Aggregation interval in seconds.")] = 3600,
    source: SourceOpt = None,
    site: SiteOpt = None,
    from_time: FromTimeOpt = None,
    to_time: ToTimeOpt = None,
) -> None:
    """An energy report: indicators with their year-on-year change, consumption by carrier and by
    sub-item (分项, unclassified shown), monthly and daily charts, quota status with year-end projection
    and reduction target, the period's alerts, and the data coverage of every meter.

    Every number is `metergate analyze`'s for the same days; no data is "—" (an empty cell in xlsx).

    Example: metergate report --from readings.csv --config site.toml --period 2025 --format pdf -o r.pdf
    """
    try:
        kind, when = _check(fmt, output, lang, period, interval)
        if readings is None and source is None:
            raise Fail("give --from READINGS or --source SOURCE")
        # from a source, by default what the report needs: from 1 January of the year before
        # (year-on-year change, the reduction target) to now (--to-time), so that a reading after
        # the period that closes a gap at its end counts, as it does in a file
        options = SourceOptions(source, site, from_time or (
            f"{when.first.year - 1}-01-01" if source else None), to_time)
        model = _model(readings, config, when, institution, basis, virtual, factor_set, carbon_series,
                       reduction, standard, with_alerts, interval, options)
        write_report(kind, output, lang, model)
    except Fail as exc:
        Console(stderr=True, markup=False, highlight=False, soft_wrap=True).print(
            f"error: {exc}", style="red")
        raise typer.Exit(exc.code) from None
    typer.echo(f"wrote {output} ({kind})")


def _check(fmt: str | None, output: Path, lang: str, period: str, interval: int
           ) -> tuple[str, ReportPeriod]:
    """The options that need no file, checked before any work; -o must be writable."""
    from reports.labels import LANGS
    from reports.period import PeriodError, parse_period

    kind = fmt or output.suffix.lstrip(".").lower()
    if kind not in FORMATS:
        raise Fail(f"--format {kind or '(none)'!r}: use one of {', '.join(FORMATS)}"
                   + ("" if fmt else f" (or give -o a .html, .pdf or .xlsx name, not {output.name!r})"))
    if lang not in LANGS:
        raise Fail(f"--lang {lang!r}: use one of {', '.join(LANGS)}")
    if interval <= 0 or 86_400 % interval:
        raise Fail(f"--interval {interval}: must divide a day (86400 s)")
    folder = output.parent if str(output.parent) else Path(".")
    if output.is_dir():
        raise Fail(f"-o {output}: is a folder; give a file name")
    if not folder.is_dir():
        raise Fail(f"-o {output}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (output.exists() and not os.access(output, os.W_OK)):
        raise Fail(f"-o {output}: not writable")
    try:
        return kind, parse_period(period)
    except PeriodError as exc:
        raise Fail(str(exc)) from None


def _model(readings: Path | None, config: Path, period: ReportPeriod, institution: str | None,
           basis: Path | None, virtual: Path | None, factor_set: str, carbon_series: str | None,
           reduction: float | None, standard: list[str] | None, with_alerts: bool,
           interval: int, source: SourceOptions | None = None) -> object:
    from cli.commands.analyze import load_inputs

    inputs = load_inputs(readings, config, factor_set, carbon_series, virtual, bundled("factors"), basis,
                         source=source)
    return model_of(inputs, period, institution, reduction, standard, with_alerts, interval)


def model_of(inputs: Inputs, period: ReportPeriod, institution: str | None, reduction: float | None,
             standard: list[str] | None, with_alerts: bool, interval: int, *, progress: bool = True
             ) -> Report:
    """The report model of inputs already read (also the analytics service's scheduled report, with
    `progress` off: no progress bar from a service's thread)."""
    from reports.model import ReportError, ReportInputs, build_report

    runs = _runs(inputs, period, interval)
    batch = _batch(inputs, period, reduction, standard, interval, progress) if with_alerts else None
    if batch is None:
        runs = replace(runs, notes=[*runs.notes, "--no-alerts: no alerts and no quota status"])
    assert inputs.readings is not None  # READINGS is required here
    site = inputs.site.site
    model_inputs = ReportInputs(site.institution or site.id, site.timezone, inputs.buildings,
                                inputs.meters, inputs.virtual, inputs.readings, interval)
    try:
        return build_report(model_inputs, period, runs, batch, institution)
    except ReportError as exc:
        raise Fail(str(exc)) from None


def _runs(inputs: Inputs, period: ReportPeriod, interval: int) -> Runs:
    """analyze's runs: the period, the same days a year before, its months and its days."""
    from analytics.indicator_run import Window
    from cli.commands.analyze import run_window
    from reports.model import Runs

    def run(granularity: str, first: date, last: date) -> list:  # type: ignore[type-arg]
        return run_window(inputs, Window(granularity, first, last, interval)).rows

    main = run_window(inputs, Window(period.granularity, period.first, period.last, interval))
    before = period.year_before()
    notes = list(main.notes)
    try:
        earlier = run(before.granularity, before.first, before.last)
    except Fail as exc:  # no readings a year before: no year-on-year change, with the reason
        earlier = None
        notes.append(f"no year-on-year change: {before.first} … {before.last}: {exc}")
    return Runs(main.rows, earlier, run("month", period.first, period.last),
                run("day", period.first, period.last), notes)


def _batch(inputs: Inputs, period: ReportPeriod, reduction: float | None, standard: list[str] | None,
           interval: int, progress: bool) -> Batch:
    """alerts --from (its default settings) over the readings up to the period's end, from 1 January of
    the year before (a reduction target compares with last year; the quotas count the year to date)."""
    from zoneinfo import ZoneInfo

    from analytics.local_days import midnight_ns
    from analytics.readings_io import between
    from cli.commands import alerts
    from reports.model import Batch

    assert inputs.readings is not None
    tz = ZoneInfo(inputs.site.site.timezone)
    start = midnight_ns(date(period.first.year - 1, 1, 1), tz)
    # past midnight by one interval and the lateness, so the batch evaluates the period's last day whole
    end = midnight_ns(period.last + timedelta(days=1), tz) + (interval + LATENESS_S) * 10**9
    try:
        result, _ = alerts.batch_of(between(inputs.readings, start, end), inputs.site, inputs.readings_name,
                                    inputs.site_name, interval, LATENESS_S, standard, reduction, 2, 3,
                                    show_progress=progress and sys.stderr.isatty())
    except alerts.Fail as exc:
        raise Fail(str(exc), exc.code) from None
    return Batch(result.alerts, result.quota_status, result.notes)


def write_report(kind: str, output: Path, lang: str, model: object) -> None:
    """The model rendered as `kind` into `output` (raises Fail)."""
    from reports.model import Report
    from reports.reasons import localized

    assert isinstance(model, Report)
    model = localized(model, lang)
    try:
        if kind == "html":
            from reports.html import render_html

            output.write_text(render_html(model, lang), encoding="utf-8")
        elif kind == "pdf":
            from reports.pdf import write_pdf

            write_pdf(model, output, lang)
        else:
            from reports.xlsx import write_xlsx

            write_xlsx(model, output, lang)
    except ImportError as exc:
        raise Fail(f"--format {kind}: {exc.name or exc} is not installed; install the report extra: "
                   "pip install 'metergate[report]'") from None
    except OSError as exc:
        raise Fail(f"-o {output}: {exc.strerror or exc}") from None


__all__ = ["model_of", "report", "write_report"]
