"""Scheduled monthly reports inside the analytics service ([report], docs/reports.md "Scheduled reports").

    reports = ScheduledReports(cfg.report, cfg.sites, store, renderer, publish=..., notify=...)
    reports.start()
    reports.keep(doc)       # main thread, each readings message: its counters into the archive
    reports.poll()          # main thread, each loop turn: start what is due, announce what is done
    reports.close()

Threads: the main thread decides what is due (report_schedule), archives readings, records what was
done in the alert store and announces it (retained MQTT, "report ready" notification); one worker
thread reads the archive through its own connection and renders, so a render (the detectors over a
year of readings: seconds to minutes) never holds up the evaluation of readings.

The renderer is given, not imported: services may not import `reports` or the CLI (docs/architecture.md);
`metergate analytics` passes `cli.commands.report_render.render_scheduled`, which is `metergate report`'s
own computation, so a scheduled report equals `metergate report --from` on the same readings.

State per site in the store: `report:{site}` the last month done (rendered, or found without readings),
`report_doc:{site}` its announcement (re-published after every reconnect). A month is done only once
every file is in place, so a crash while rendering renders it again at the next start, and a
restart after it never renders it twice. A render error is logged with its traceback and counted
(`reports_failed`); that site's month is tried again at the next start, or when the next month falls due.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from analytics.readings_io import Readings
from core.contract.json_doc import encode
from core.contract.schema import ContractError
from services.analytics.reading_archive import ReadingArchive
from services.analytics.report_announce import ReportFile, report_doc, report_topic
from services.analytics.report_config import ReportSettings
from services.analytics.report_files import AtomicFiles, report_names
from services.analytics.report_schedule import due_months, latest_due, next_due
from services.analytics.store import AlertStore
from services.shared.lineproto import ts_to_ns
from site_config import SiteConfig

log = logging.getLogger(__name__)
# `metergate report`'s default --interval, whatever the engine's: the report is that command's, and a
# test engine ticking every 2 s must not make a month of 2-second intervals
INTERVAL_S = 3600


class EmptyPeriod(Exception):
    """The month has no readings: nothing to report (the month counts as done, and is not announced)."""


@dataclass(frozen=True)
class RenderJob:
    """One report to render: every format of `outputs` (format -> the path to write)."""

    site: SiteConfig
    period: str  # "2025-03"
    institution: str | None  # None: the whole site (the fleet summary and every institution)
    outputs: Mapping[str, Path]
    lang: str
    alerts: bool  # the alert and quota sections (the detectors over the readings)
    interval_s: int
    reduction: float | None  # the service's [quotas], so the report's quotas are the service's
    standards: tuple[str, ...] | None


# renders every output of the job from the readings; raises EmptyPeriod, or anything else on an error
ReportRenderer = Callable[[RenderJob, Readings], None]


@dataclass(frozen=True)
class _Outcome:
    site: str
    period: str
    files: tuple[ReportFile, ...] = ()
    empty: bool = False
    error: str | None = None
    created_s: float = 0.0


def month_days(period: str) -> tuple[date, date]:
    first = date(int(period[:4]), int(period[5:7]), 1)
    nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, nxt - timedelta(days=1)


class ScheduledReports:
    def __init__(self, settings: ReportSettings, sites: Sequence[SiteConfig], store: AlertStore,
                 renderer: ReportRenderer, *, store_path: Path, prefix: str,
                 publish: Callable[[str, bytes], None], notify: Callable[[str, str, str], object],
                 counts: Counter[str], reduction: float | None,
                 standards: tuple[str, ...] | None, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.sites = {s.site.id: s for s in sites}
        self.tz = {s.site.id: ZoneInfo(s.site.timezone) for s in sites}
        self.store = store  # the service's AlertStore (main thread)
        self.renderer = renderer
        self.store_path = store_path
        self.prefix = prefix
        self.publish = publish
        self.notify = notify
        self.counts = counts
        self.reduction, self.standards = reduction, standards
        self.clock = clock
        self.archive = ReadingArchive(store_path)  # the main thread's connection
        self.done = {s: store.get_state(f"report:{s}") for s in self.sites}
        self.blocked: dict[str, str] = {}  # site -> the latest month due when its render failed
        self.busy: set[str] = set()  # sites with a job queued or running
        self._jobs: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._results: queue.Queue[_Outcome] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._reader: ReadingArchive | None = None  # the worker's connection, opened by the worker

    # -- life cycle -----------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="analytics-reports", daemon=True)
        self._thread.start()
        s = self.settings
        now = datetime.fromtimestamp(self.clock(), UTC)
        for site, tz in self.tz.items():
            log.info("site %s: monthly report (%s, %s) to %s; last done %s, next due %s", site,
                     "/".join(s.formats), s.lang, s.folder, self.done[site] or "none",
                     next_due(now, tz, day=s.day, at=s.at).isoformat(timespec="minutes"))

    def close(self, timeout: float = 5.0) -> None:
        """Stop the worker; a render still running is abandoned (its month is rendered again at the
        next start: nothing was recorded as done, and no partial file is in place)."""
        self._jobs.put(None)
        if self._thread is not None:
            self._thread.join(timeout)
        self.archive.close()

    # -- main thread ----------------------------------------------------------------------------------

    def keep(self, doc: Mapping[str, Any]) -> None:
        """A checked readings message's good counter readings into the archive (raises on a store
        error: the message is then not acknowledged, as for the alert store)."""
        rows = [(r["quantity"], ts_to_ns(r.get("ts", doc["ts"])), float(r["value"]))
                for r in doc["readings"]
                if r["quality"] == "ok" and r["value"] is not None and math.isfinite(r["value"])]
        self.counts["report_readings_kept"] += self.archive.add(doc["site"], doc["meter"], rows)

    def poll(self) -> None:
        """Announce what the worker finished; queue the months now due (never waits)."""
        while True:
            try:
                self._finish(self._results.get_nowait())
            except queue.Empty:
                break
        now = datetime.fromtimestamp(self.clock(), UTC)
        s = self.settings
        for site, tz in self.tz.items():
            if site in self.busy:
                continue
            latest = latest_due(now, tz, s.day, s.at)
            if self.blocked.get(site) == latest:
                continue
            self.blocked.pop(site, None)
            months = due_months(now, tz, day=s.day, at=s.at, done=self.done[site])
            if months:
                self.busy.add(site)
                self._jobs.put((site, months[0]))  # oldest first; the next at a later poll

    def republish(self) -> None:
        """After a (re)connect: the latest announcement of every site again."""
        for site in self.sites:
            saved = self.store.get_state(f"report_doc:{site}")
            if saved:
                doc = json.loads(saved)
                self.publish(report_topic(self.prefix, site, doc["period"]), encode(doc))

    def _finish(self, o: _Outcome) -> None:
        self.busy.discard(o.site)
        tz = self.tz[o.site]
        if o.error is not None:
            self._failed(o.site)
            return  # logged by the worker, with the traceback
        if o.empty:
            self.counts["reports_empty"] += 1
            log.warning("site %s: no readings in %s: no report for it", o.site, o.period)
            self.store.set_state(f"report:{o.site}", o.period)
        else:
            first, last = month_days(o.period)
            try:
                doc = report_doc(o.site, o.period, first, last, self.settings.lang, o.created_s, tz, o.files)
            except ContractError as exc:  # e.g. an institution name too long: not a reason to stop
                log.error("site %s: the report of %s is written but cannot be announced: %s", o.site,
                          o.period, exc.reason)
                self._failed(o.site)
                return
            self.store.set_state(f"report_doc:{o.site}", json.dumps(doc, ensure_ascii=False))
            self.store.set_state(f"report:{o.site}", o.period)
            self.publish(report_topic(self.prefix, o.site, o.period), encode(doc))
            self.counts["reports_written"] += 1
            self.notify(o.site, o.period, o.files[0].path)
            log.info("site %s: report of %s written: %s", o.site, o.period,
                     ", ".join(f.name for f in o.files))
        self.done[o.site] = o.period
        # what the next reports need: from 1 January of the year before
        first = month_days(o.period)[0]
        edge = datetime(first.year - 1, 1, 1, tzinfo=tz)
        self.archive.trim(o.site, int(edge.timestamp()) * 10**9)

    def _failed(self, site: str) -> None:
        """Counted; not tried again until the next start or the next month due (no retry loop)."""
        self.counts["reports_failed"] += 1
        self.blocked[site] = latest_due(datetime.fromtimestamp(self.clock(), UTC), self.tz[site],
                                        self.settings.day, self.settings.at)

    # -- worker thread --------------------------------------------------------------------------------

    def _work(self) -> None:
        try:
            while (job := self._jobs.get()) is not None:
                self._results.put(self._render(*job))
        finally:
            if self._reader is not None:
                self._reader.close()

    def _render(self, site: str, period: str) -> _Outcome:
        s = self.settings
        tz = self.tz[site]
        first, _ = month_days(period)
        since = int(datetime(first.year - 1, 1, 1, tzinfo=tz).timestamp()) * 10**9
        started = time.monotonic()
        try:
            if self._reader is None:
                self._reader = ReadingArchive(self.store_path)  # sqlite: one connection per thread
            readings = self._reader.readings(site, since, 2**62)
            if not _any_within(readings, period, tz):
                raise EmptyPeriod(period)
            files: list[ReportFile] = []
            for institution in s.institutions.get(site) or (None,):
                names = report_names(site, period, institution, s.formats)
                with AtomicFiles(s.folder, names) as temp:
                    self.renderer(RenderJob(self.sites[site], period, institution, temp, s.lang, s.alerts,
                                            INTERVAL_S, self.reduction, self.standards), readings)
                files += [ReportFile(fmt, str((s.folder / name).resolve()), name,
                                     (s.folder / name).stat().st_size, institution)
                          for fmt, name in names.items()]
        except EmptyPeriod:
            return _Outcome(site, period, empty=True)
        except Exception as exc:
            log.exception("site %s: the report of %s failed (tried again at the next start, or when the "
                          "next month falls due)", site, period)
            return _Outcome(site, period, error=f"{type(exc).__name__}: {exc}")
        log.debug("site %s: %s rendered in %.1f s", site, period, time.monotonic() - started)
        return _Outcome(site, period, tuple(files), created_s=self.clock())


def _any_within(readings: Readings, period: str, tz: ZoneInfo) -> bool:
    first, last = month_days(period)
    start = int(datetime(first.year, first.month, 1, tzinfo=tz).timestamp()) * 10**9
    end = int(datetime.combine(last + timedelta(days=1), datetime.min.time(), tz).timestamp()) * 10**9
    return any(bool(((c.ts_ns >= start) & (c.ts_ns < end)).any()) for c in readings.values())


__all__ = ["EmptyPeriod", "RenderJob", "ReportRenderer", "ScheduledReports", "month_days"]
