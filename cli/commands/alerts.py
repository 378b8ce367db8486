"""`metergate alerts`: list the alerts of the local store, or find the alerts in a readings file.

    metergate alerts --config /etc/metergate/analytics.toml [--all] [--json]   # the service's store
    metergate alerts --store alerts.sqlite [--all] [--json]
    metergate alerts --config /etc/metergate/analytics.toml --notifications [--all] [--json]
    metergate alerts --from readings.csv --config site.toml [--json]          # batch: every detector
                                                                               # and quota, replayed
Thin: parse, call services.analytics / analytics.alert_engine, print. Any problem: a message naming the
file, row, line or key, and exit code 2; a readings file without any reading: exit code 1.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import Progress, TaskID
from rich.table import Table

from cli.commands.source_options import FromTimeOpt, SiteOpt, SourceOpt, SourceOptions, ToTimeOpt

if TYPE_CHECKING:
    from analytics.alert_engine import BatchResult
    from analytics.alerts import Alert
    from analytics.readings_io import Readings
    from site_config import SiteConfig

RECENT_S = 86_400  # without --all: active alerts and those cleared in the last day


class _Fail(Exception):
    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code  # 2: bad option, config or file; 1: no readings to judge


Fail = _Fail  # for `metergate report`, which runs batch_of


def alerts(
    readings: Annotated[Path | None, typer.Option(
        "--from", metavar="READINGS",
        help="Batch: find the alerts in a readings file (.csv, .parquet or the gateway's outbox), with "
             "the columns of `metergate analyze`; --config is then the site config.")] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", help="With --from: the site config. Otherwise: the analytics service's config "
                         "(its store is listed).")] = None,
    store: Annotated[Path | None, typer.Option(help="The alert store (SQLite) to list.")] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Every alert in the store, not only active and "
                                                         "recently cleared ones.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    notifications: Annotated[bool, typer.Option(
        "--notifications", help="The notifications recorded in the store (e-mail, webhook: status, "
                                "attempts, last error) instead of the alerts.")] = False,
    interval: Annotated[int, typer.Option(help="Batch: evaluation interval in seconds.")] = 3600,
    lateness: Annotated[int, typer.Option(help="Batch: the service's lateness in seconds (the last "
                                                "boundary evaluated is this long before the last "
                                                "reading).")] = 300,
    standard: Annotated[list[str] | None, typer.Option(
        help="Batch: quota standard to apply (repeat); default every one that matches.")] = None,
    reduction: Annotated[float | None, typer.Option(
        help="Batch: yearly reduction target to track, e.g. -0.02.")] = None,
    raise_after: Annotated[int, typer.Option(
        help="Ticks present before an alert is raised (counter resets, spikes and sentinels: at once).")] = 2,
    clear_after: Annotated[int, typer.Option(help="Ticks absent before it is cleared.")] = 3,
    source: SourceOpt = None,
    site: SiteOpt = None,
    from_time: FromTimeOpt = None,
    to_time: ToTimeOpt = None,
) -> None:
    """List active and recent alerts, or run every detector and the quotas over a readings file.

    Examples: metergate alerts --config /etc/metergate/analytics.toml;
    metergate alerts --from readings.csv --config site.toml --json
    """
    try:
        if readings is not None or source is not None:
            if config is None:
                raise _Fail("--from/--source needs --config SITE (the site config of the readings)")
            result, tz = _batch(readings, config, interval, lateness, standard, reduction, raise_after,
                                clear_after, show_progress=not json_out and sys.stderr.isatty(),
                                source=SourceOptions(source, site, from_time, to_time))
            _output(result.alerts, tz, json_out, notes=result.notes, status=result.quota_status)
            return
        if notifications:
            _notifications(config, store, show_all, json_out)
            return
        found, tz = _list(config, store, show_all)
        _output(found, tz, json_out)
    except _Fail as exc:
        err = Console(stderr=True, markup=False, highlight=False, soft_wrap=True)
        err.print(f"error: {exc}", style="red")
        raise typer.Exit(exc.code) from None


def _batch(readings_path: Path | None, config: Path, interval: int, lateness: int,
           standards: list[str] | None, reduction: float | None, raise_after: int, clear_after: int, *,
           show_progress: bool = False, source: SourceOptions | None = None
           ) -> tuple[BatchResult, ZoneInfo]:
    from analytics.readings_io import ReadingsError
    from cli.commands.readings_input import read_input, source_name
    from cli.sources import SourceEmpty
    from site_config import ConfigError, load_site_config

    try:
        site = load_site_config(config, require_env_secrets=False)
    except ConfigError as exc:
        raise _Fail("\n".join(str(p) for p in exc.problems) or str(exc)) from None
    source = source or SourceOptions()
    try:
        data = read_input(readings_path, source, site=site.site.id, tz=ZoneInfo(site.site.timezone))
    except SourceEmpty as exc:
        raise _Fail(str(exc), code=1) from None
    except (ReadingsError, ValueError) as exc:
        raise _Fail(str(exc)) from None
    assert data is not None
    return batch_of(data, site, source_name(readings_path, source), str(config), interval, lateness,
                    standards, reduction, raise_after, clear_after, show_progress=show_progress)


def batch_of(data: Readings, site: SiteConfig, readings_name: str, config_name: str, interval: int,
             lateness: int, standards: list[str] | None, reduction: float | None, raise_after: int,
             clear_after: int, *, show_progress: bool = False) -> tuple[BatchResult, ZoneInfo]:
    """Every detector and quota over readings already read (`metergate report` gives a period's)."""
    import numpy as np

    from analytics.alert_engine import EngineSettings, run_batch
    from analytics.alerts import LifecycleSettings
    from analytics.detectors.cadence import measured_cadence
    from analytics.factors import FactorError, load_factors
    from analytics.quota_tracking import QuotaSettings
    from analytics.quotas import QuotaError, load_quotas
    from services.analytics.detect import calendar_notes, site_detectors
    from site_config.analytics_records import site_context

    try:
        factors = load_factors()
        quotas = load_quotas(factors=factors)
        settings = EngineSettings(interval, lateness, LifecycleSettings(raise_after, clear_after),
                                  QuotaSettings(reduction=reduction,
                                                standards=tuple(standards) if standards else None))
        if standards:
            unknown = sorted(set(standards) - set(quotas.standards))
            if unknown:
                raise _Fail(f"--standard {', '.join(unknown)}: no such quota standard; known: "
                            f"{', '.join(sorted(quotas.standards))}")
    except (FactorError, QuotaError) as exc:
        raise _Fail(str(exc)) from None
    except ValueError as exc:
        raise _Fail(str(exc)) from None
    known = {m.id for m in site.meters}
    for quantity, cols in data.items():
        unknown_meters = sorted(set(np.unique(cols.meter).tolist()) - known)
        if unknown_meters:
            raise _Fail(f"{readings_name}: {quantity} readings of meter(s) not in {config_name}: "
                        f"{', '.join(unknown_meters[:10])}")
    if not any(len(cols) for cols in data.values()):  # "no alerts" would read as "all is well"
        raise _Fail(f"{readings_name}: no readings (no row with a value): nothing to judge", code=1)
    progress = _TickProgress() if show_progress else None
    try:
        result = run_batch(data, site_context(site), quotas, factors, settings,
                           detectors=site_detectors(site, cadence_s=measured_cadence(data)),
                           progress=progress)
    except ValueError as exc:
        raise _Fail(f"{readings_name}: {exc}") from None
    finally:
        if progress is not None:
            progress.close()
    if result.ticks:
        tz = ZoneInfo(site.site.timezone)
        first, last = (datetime.fromtimestamp(t // 10**9, tz).year
                       for t in (result.ticks[0], result.ticks[-1]))
        result = replace(result, notes=[*result.notes, *calendar_notes(site, range(first, last + 1))])
    return result, ZoneInfo(site.site.timezone)


class _TickProgress:
    """A progress bar on stderr for the batch's ticks, shown only once the run has taken a moment
    (a short run prints nothing extra); it disappears when done."""

    def __init__(self, after_s: float = 1.0) -> None:
        self.t0, self.after_s = time.monotonic(), after_s
        self.bar: Progress | None = None
        self.task: TaskID | None = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            if time.monotonic() - self.t0 < self.after_s or done >= total:
                return
            self.bar = Progress(*Progress.get_default_columns(), console=Console(stderr=True),
                                transient=True)
            self.task = self.bar.add_task("ticks", total=total)
            self.bar.start()
        if self.task is not None:
            self.bar.update(self.task, completed=done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _list(config: Path | None, store_path: Path | None, show_all: bool) -> tuple[list[Alert], ZoneInfo]:
    from services.analytics.store import AlertStore, AlertStoreError

    store_path, tz = _store_path(config, store_path)
    try:
        with AlertStore(store_path) as s:
            found = s.recent(None if show_all else time.time_ns() - RECENT_S * 10**9)
    except AlertStoreError as exc:
        raise _Fail(str(exc)) from None
    except Exception as exc:  # sqlite3.DatabaseError for a file that is not a store
        raise _Fail(f"{store_path}: not an alert store: {exc}") from None
    return found, tz


def _notifications(config: Path | None, store_path: Path | None, show_all: bool, json_out: bool) -> None:
    from services.analytics.store import AlertStore, AlertStoreError

    store_path, tz = _store_path(config, store_path)
    since = None if show_all else time.time_ns() - RECENT_S * 10**9
    try:
        with AlertStore(store_path) as s:
            rows = [r for r in s.notifications() if since is None or r.created_ns >= since
                    or r.status == "pending"]
    except AlertStoreError as exc:
        raise _Fail(str(exc)) from None
    except Exception as exc:
        raise _Fail(f"{store_path}: not an alert store: {exc}") from None
    if json_out:
        docs = [{**r._asdict(), "created": _when(r.created_ns, tz), "due": _when(r.due_ns, tz),
                 "last_attempt": _when(r.last_attempt_ns, tz), "delivered": _when(r.delivered_ns, tz)}
                for r in rows]
        sys.stdout.write(json.dumps({"notifications": docs}, indent=2, ensure_ascii=False) + "\n")
        return
    out = Console(markup=False, highlight=False)
    if not out.is_terminal:
        out = Console(markup=False, highlight=False, width=200)
    table = Table("created", "site", "event", "alert", "channel", "status", "attempts", "due", "error")
    for r in rows:
        table.add_row(_when(r.created_ns, tz), r.site, r.event, r.alert_id or "-", r.channel, r.status,
                      str(r.attempts), _when(r.due_ns, tz) if r.status == "pending" else "", r.error or "")
    out.print(table if rows else "no notifications")


def _store_path(config: Path | None, store_path: Path | None) -> tuple[Path, ZoneInfo]:
    tz = ZoneInfo("UTC")
    if store_path is None:
        if config is None:
            raise _Fail("give --config ANALYTICS_CONFIG or --store PATH (or --from READINGS --config SITE)")
        from services.analytics.config import AnalyticsConfigError, load_analytics_config

        try:
            cfg = load_analytics_config(config, require_secrets=False)
        except AnalyticsConfigError as exc:
            raise _Fail(str(exc)) from None
        store_path = cfg.store_path
        tz = ZoneInfo(cfg.sites[0].site.timezone)
    if not store_path.is_file():
        raise _Fail(f"{store_path}: no alert store there (the service creates it when it starts)")
    return store_path, tz


def _when(ns: int | None, tz: ZoneInfo) -> str | None:
    return None if ns is None else datetime.fromtimestamp(ns / 1e9, tz).isoformat(timespec="minutes")


def _as_dict(a: Alert, tz: ZoneInfo) -> dict[str, Any]:
    from services.analytics.payloads import alert_doc

    doc = alert_doc(a, tz)
    doc.pop("schema")
    doc["end_time"] = _when(a.cleared_ns, tz)
    doc["cleared"] = None if a.cleared_ns is None else a.cleared_ns / 1e9
    return doc


def _output(found: list[Alert], tz: ZoneInfo, json_out: bool, *, notes: list[str] | None = None,
            status: list[Any] | None = None) -> None:
    if json_out:
        doc: dict[str, Any] = {"alerts": [_as_dict(a, tz) for a in found]}
        if status is not None:
            doc["quota_status"] = [status_dict(s) for s in status]
        if notes is not None:
            doc["notes"] = notes
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        return
    out = Console(markup=False, highlight=False)
    if not out.is_terminal:
        out = Console(markup=False, highlight=False, width=200)
    table = Table("subject", "kind", "start", "end", "severity", "state", "ack", "message")
    for a in found:
        table.add_row(a.subject, a.kind.value, _when(a.start_ns, tz), _when(a.cleared_ns, tz) or "-",
                      a.severity.label, a.state, a.acked_by or "", a.message)
    out.print(table if found else "no alerts")
    for n in notes or ():
        out.print(f"note: {n}")


def status_dict(s: Any) -> dict[str, Any]:
    return {"building": s.building, "scope": s.scope, "day": s.day.isoformat(), "profile": s.profile,
            "share": s.share, "ytd": s.ytd, "ytd_unit": s.ytd_unit, "projected": s.projected,
            "unit": s.unit, "tiers": dict(s.tiers), "tier": s.tier, "confidence": s.confidence,
            "coverage": s.coverage}


__all__ = ["Fail", "alerts", "batch_of", "status_dict"]
