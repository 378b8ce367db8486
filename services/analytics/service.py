"""`metergate analytics CONFIG`: readings from MQTT in; alerts, interval aggregates and indicators out.

Threads:
- paho's network thread (services.shared.consumer.Consumer, reused as it is: MQTT 5, one shared
  subscription per site served, `$share/{group}/{prefix}/v1/{site}/+/meters/+/readings`, persistent
  session, manual acknowledgement) puts every message into an in-memory queue; it also subscribes
  (not shared) to the ack command topic of each of its sites;
- the main thread (`run`) takes messages in arrival order: checks each against the readings schema
  (core.contract.schema.check_message), feeds the good readings of known meters to the site's
  AlertEngine, evaluates every boundary the watermark has passed, records the changes in the alert
  store, publishes them (retained; an empty retained message clears), and only then acknowledges
  the message;
- a writer thread sends interval aggregates and daily indicators to InfluxDB (LineWriter, retried
  for ever; a full queue drops the oldest batch, counted);
- with [notify], notifier threads (one per channel) send the alerts raised, escalated and cleared
  (after they are stored and published) and "report ready" by e-mail and webhook
  (services/analytics/notify/): the main thread only queues them, so SMTP and HTTP never hold up
  the evaluation;
- with [report], a report thread renders each month's report when it falls due
  (services/analytics/report_runner.py); the main thread archives the counter readings for it,
  queues what is due and announces what was written.

Semantics: at least once into memory. A message is acknowledged once its readings are in the
engine's buffers and every boundary they made due has been evaluated and stored; a crash loses the
readings of the current interval (already acknowledged) but never an alert change or a closed day
(the store is written before the acknowledgement). A broken message is counted, logged (once per
reason) and acknowledged: it never stops the service, also when checking it or feeding it to
the engine raises (counted as refused_internal, logged with the traceback). Any other error (the
alert store above all) is not acknowledged: run() stops, `metergate analytics` exits 1 and systemd
restarts it; the broker re-sends the message, and each tick's changes, day totals and next tick
are one store transaction.
Analytics scales out by site: the engine keeps per-site state, so partition the sites across
instances. Two active instances must never serve the same site: as members of one share group they
would each receive about half of every meter's readings and keep diverging alert books on the same
retained topics. Readings of other sites are never received; a meter not in its site config is
counted and skipped.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from analytics.alert_engine import AlertEngine, DailyTotals, SiteContext, TickResult
from analytics.alerts import AlertBook, Change
from analytics.events import Severity
from analytics.factors import FactorTable, load_factors
from analytics.indicators import Scale, Usage, compute_indicators
from analytics.quotas import QUOTAS_DIR, QuotaTable, load_quotas
from core.contract.json_doc import PayloadError, encode
from core.contract.schema import ContractError, check_message
from core.contract.topics import shared_readings_filter
from core.sdnotify import notify, watchdog_interval
from services.analytics.config import AnalyticsConfig
from services.analytics.detect import site_detectors
from services.analytics.notify.message import from_change, report_ready
from services.analytics.notify.worker import Notifier
from services.analytics.payloads import ack_payload, ack_topic, alert_payload, alert_topic, parse_ack
from services.analytics.report_runner import ReportRenderer, ScheduledReports
from services.analytics.store import AlertStore
from services.analytics.summary import METERS_KEY, SUMMARY_KEY, dumps, meters_doc, site_summary
from services.shared.consumer import Consumer, Delivery
from services.shared.lineproto import ts_to_ns
from services.shared.validate import Refused, Validator
from services.shared.writer import LineWriter, WriteError, line
from site_config.analytics_records import site_context

log = logging.getLogger(__name__)

HEALTH_SCHEMA = "metergate.analytics-health/1"
WRITE_QUEUE_BATCHES = 10_000


@dataclass(frozen=True)
class LocalAck:
    """An ack command from the dashboard, in the inbox with the MQTT messages; `result` gets the
    change (None: refused, as the command topic's would be)."""

    topic: str
    payload: bytes
    result: Future[Change | None]


@dataclass
class _Site:
    ctx: SiteContext
    engine: AlertEngine
    tz: ZoneInfo


class AnalyticsService:
    def __init__(self, cfg: AnalyticsConfig, *, report_renderer: ReportRenderer | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        """`report_renderer` renders [report]'s reports (`metergate analytics` passes
        cli.commands.report_render.render_scheduled); `clock` is the reports' wall clock (tests)."""
        self.cfg = cfg
        self.prefix = cfg.mqtt.topic_prefix
        self.store = AlertStore(cfg.store_path)
        lim = cfg.limits
        self.validator = Validator(prefix=self.prefix, max_payload_bytes=lim.max_payload_bytes,
                                   max_future=lim.max_future, min_timestamp=lim.min_timestamp)
        self.factors: FactorTable = load_factors(cfg.factors_dir) if cfg.factors_dir else load_factors()
        self.quotas: QuotaTable = load_quotas(cfg.quota_dir or QUOTAS_DIR, factors=self.factors)
        self.sites: dict[str, _Site] = {}
        for site in cfg.sites:
            ctx = site_context(site)
            daily = DailyTotals(ctx.timezone)
            daily.load(self.store.load_daily(ctx.site))
            closed = self.store.get_state(f"closed:{ctx.site}")
            daily.closed = date.fromisoformat(closed) if closed else None
            nxt = self._next_tick(ctx.site)
            book = AlertBook(ctx.site, cfg.engine.lifecycle, active=self.store.active(ctx.site))
            engine = AlertEngine(ctx, self.quotas, self.factors, cfg.engine,
                                 detectors=site_detectors(site, cfg.detectors), book=book,
                                 daily=daily, next_tick_ns=nxt)
            engine.refresh_quotas()  # the days closed before a restart
            engine.restore(self.store.take_buffer(ctx.site))
            self.sites[ctx.site] = _Site(ctx, engine, ZoneInfo(ctx.timezone))
        m = self.mqtt = cfg.mqtt
        self.inbox: queue.Queue[Delivery | LocalAck] = queue.Queue()
        self.subscriptions = [site_subscription(m.share_group, self.prefix, s) for s in self.sites]
        self.consumer = Consumer(self.mqtt, on_message=self.inbox.put, on_connection=self._on_connection,
                                 extra_topics=[ack_topic(self.prefix, s) for s in self.sites],
                                 shared_topics=self.subscriptions)
        self.health_topic = f"{self.prefix}/analytics/{m.client_id}/health"
        self.counts: Counter[str] = Counter()
        self._logged: set[str] = set()
        self._republish = threading.Event()
        self._stop = threading.Event()
        self.failed: str | None = None  # why run() stopped on its own (exit non-zero)
        self._writes: queue.Queue[list[str]] = queue.Queue(WRITE_QUEUE_BATCHES)
        self.writer = LineWriter(cfg.influx) if cfg.influx is not None else None
        self._writer_thread: threading.Thread | None = None
        self.notifier = Notifier(cfg.notify, cfg.store_path) if cfg.notify is not None else None
        # per site, meter and quantity: the last good reading (ts_ns, value), for the dashboard
        self.last_readings: dict[str, dict[str, dict[str, tuple[int, float]]]] = {s: {} for s in self.sites}
        self.web: Any = None  # services.analytics.web.server.WebServer, started by run() with [web]
        self.reports = self._scheduled_reports(report_renderer, clock) if cfg.report is not None else None
        self.started = time.time()

    def _next_tick(self, site: str) -> int | None:
        """The stored next tick, unless it lies beyond now + max_future + one interval (saved from a
        reading with a clock far ahead before readings were time-checked): then the next reading
        starts the ticks again, instead of every real reading being late for good."""
        saved = self.store.get_state(f"next_tick:{site}")
        if not saved:
            return None
        ceiling = int((time.time() + self.cfg.limits.max_future + self.cfg.engine.interval_s) * 1e9)
        if int(saved) > ceiling:
            log.warning("site %s: the saved next tick %s is in the future; starting again from the next "
                        "reading", site, datetime.fromtimestamp(int(saved) / 1e9).isoformat())
            return None
        return int(saved)

    def _scheduled_reports(self, renderer: ReportRenderer | None, clock: Callable[[], float]
                           ) -> ScheduledReports:
        cfg = self.cfg
        assert cfg.report is not None
        if renderer is None:
            raise ValueError("[report] needs a report renderer (metergate analytics passes one)")
        q = cfg.engine.quotas
        return ScheduledReports(cfg.report, cfg.sites, self.store, renderer, store_path=cfg.store_path,
                                prefix=self.prefix, publish=self._publish_retained,
                                notify=self.report_ready, counts=self.counts, reduction=q.reduction,
                                standards=q.standards, clock=clock)

    # -- life cycle ---------------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Until stop(): take messages, evaluate, publish, acknowledge."""
        if self.cfg.web is not None:  # imported only here: the web extra is needed with [web] only
            from services.analytics.web.server import WebServer, WebServerError

            try:
                self.web = WebServer(self.cfg.web, self.cfg.store_path, self._site_views(), self.local_ack)
                self.web.start()
            except WebServerError as exc:
                self.failed = str(exc)
                log.critical("%s", exc)
                self.store.close()
                return
        if self.writer is not None:
            self._writer_thread = threading.Thread(target=self._write_loop, name="analytics-writer",
                                                   daemon=True)
            self._writer_thread.start()
        if self.notifier is not None:
            self.notifier.start()
        if self.reports is not None:
            self.reports.start()
        log.info("analytics for site(s) %s; %s on %s:%d; store %s; %s", ", ".join(self.sites),
                 ", ".join(self.subscriptions), self.mqtt.host, self.mqtt.port, self.cfg.store_path,
                 f"aggregates to {self.cfg.influx.describe()}" if self.cfg.influx else "no InfluxDB")
        self.consumer.start()
        notify("READY=1")
        watchdog = watchdog_interval()
        next_health = 0.0
        next_watchdog = 0.0
        try:
            while not self._stop.is_set():
                try:
                    delivery: Delivery | LocalAck | None = self.inbox.get(timeout=0.2)
                except queue.Empty:
                    delivery = None
                if self._republish.is_set():
                    self._republish.clear()
                    self._publish_all()
                if isinstance(delivery, LocalAck):
                    try:
                        self._local_ack(delivery)
                    except Exception as exc:
                        delivery.result.set_exception(exc)
                        self.failed = f"ack from the dashboard: {type(exc).__name__}: {exc}"
                        log.critical("stopping: %s", self.failed, exc_info=True)
                        break
                elif delivery is not None:
                    try:
                        self._handle(delivery)
                    except Exception as exc:
                        self._fail(delivery, exc)
                        break
                if self.reports is not None and not self._poll_reports():
                    break
                now = time.monotonic()
                if now >= next_health:
                    next_health = now + self.cfg.health_interval_s
                    self._publish_health()
                if watchdog is not None and now >= next_watchdog:
                    next_watchdog = now + watchdog
                    notify("WATCHDOG=1")
        finally:
            notify("STOPPING=1")
            if self.web is not None:
                self.web.stop()
            self.consumer.stop()
            if self.failed is None:  # after a failure the buffers may hold an unacknowledged message
                for site in self.sites.values():
                    self.store.save_buffer(site.ctx.site, site.engine.buffered())
            if self.writer is not None:
                with contextlib.suppress(queue.Full):
                    self._writes.put_nowait([])  # wake the writer: it drains the queue and stops
                if self._writer_thread is not None:
                    self._writer_thread.join(10)  # then a write still retrying is cut short
                self.writer.close()
            if self.notifier is not None:
                self.notifier.close()  # due ones for up to [notify] drain; the rest stays pending
            if self.reports is not None:
                self.reports.close()
            self.store.close()

    def _fail(self, d: Delivery, exc: Exception) -> None:
        """Not acknowledged: stop, so systemd restarts the service from its store and the broker
        re-delivers the message (a store error lost no alert change, closed day or next tick)."""
        self.failed = f"message on {d.topic}: {type(exc).__name__}: {exc}"
        log.critical("stopping without acknowledging the %s", self.failed, exc_info=True)

    def _poll_reports(self) -> bool:
        """False (stop, exit 1) on a store error while recording a report, as for a message."""
        assert self.reports is not None
        try:
            self.reports.poll()
        except Exception as exc:
            self.failed = f"scheduled reports: {type(exc).__name__}: {exc}"
            log.critical("stopping: %s", self.failed, exc_info=True)
            return False
        return True

    def _on_connection(self, up: bool, reason: str) -> None:
        if up:
            self._republish.set()  # retained alerts again after every (re)connect

    # -- messages -------------------------------------------------------------------------------------

    def _handle(self, d: Delivery) -> None:
        """Input errors are counted and acknowledged inside; anything else (a store error above all)
        propagates without an acknowledgement: run() stops and the broker keeps the message."""
        self.counts["messages"] += 1
        if d.topic.endswith("/alerts/ack"):
            self._ack_command(d)
        else:
            self._readings(d)
        self.consumer.ack(d)

    def _problem(self, kind: str, reason: str) -> None:
        self.counts[f"refused_{kind}"] += 1
        if reason not in self._logged and len(self._logged) < 1000:
            self._logged.add(reason)
            log.warning("%s (counted as refused_%s; logged once)", reason, kind)

    def _readings(self, d: Delivery) -> None:
        try:
            checked = check_message(d.topic, d.payload, prefix=self.prefix,
                                    max_bytes=self.validator.max_payload_bytes)
        except ContractError as exc:
            self._problem("broken", f"broken message on {d.topic}: {exc.reason}")
            return
        except Exception as exc:  # a checker bug: input must never stop the service (nor loop it)
            log.exception("checking a message on %s failed unexpectedly", d.topic)
            self._problem("internal", f"message on {d.topic}: checking it raised {type(exc).__name__}")
            return
        if checked.topic.kind != "readings":
            return
        doc = checked.doc
        try:  # ingest's limits: a clock far ahead or unset must not move the watermark
            self.validator.check_whole(doc, time.time())
        except Refused as exc:
            self._problem(exc.kind, f"message on {d.topic} refused: {exc.reason}")
            return
        site = self.sites.get(doc["site"])
        if site is None:  # not subscribed to: only a message whose payload names another site
            self._problem("other_site", f"message on {d.topic} names site {doc['site']!r}, which this "
                                        "instance does not serve")
            return
        meter = doc["meter"]
        if meter not in site.engine.known_meters:
            self._problem("unknown_meter", f"site {doc['site']}: meter {meter!r} is not in its site "
                                           "config")
            return
        try:
            self._feed(site, meter, doc)
        except Exception as exc:  # a bug on this input: counted and acknowledged, not a crash loop
            log.exception("feeding the readings on %s to the engine failed unexpectedly", d.topic)
            self._problem("internal", f"message on {d.topic}: feeding it raised {type(exc).__name__}")
            return
        if self.reports is not None:
            self.reports.keep(doc)  # a store error propagates: not acknowledged
        for boundary in site.engine.due():
            before = {a.id: a.severity for a in site.engine.book.active}  # to tell an escalation
            self._after_tick(site, site.engine.tick(boundary), before)

    def _feed(self, site: _Site, meter: str, doc: dict[str, Any]) -> None:
        for item in doc["readings"]:
            value = item["value"]
            ts_ns = ts_to_ns(item.get("ts", doc["ts"]))
            if item["quality"] != "ok" or value is None or not math.isfinite(value):
                # to the detectors as NaN (the sentinel fault), as batch sees an invalid reading;
                # never as 0, and the engine keeps it out of the interval buffers
                self.counts["readings_not_ok"] += 1
                site.engine.add(meter, item["quantity"], ts_ns, math.nan)
                continue
            site.engine.add(meter, item["quantity"], ts_ns, float(value))
            self.counts["readings"] += 1
            seen = self.last_readings[site.ctx.site].setdefault(meter, {})
            if item["quantity"] not in seen or seen[item["quantity"]][0] <= ts_ns:
                seen[item["quantity"]] = (ts_ns, float(value))

    def _after_tick(self, site: _Site, r: TickResult, before: dict[str, Severity] | None = None) -> None:
        ctx = site.ctx
        self.counts["ticks"] += 1
        day = datetime.fromtimestamp(r.boundary_ns / 1e9 - 1, site.tz).date().isoformat()
        state = {f"next_tick:{ctx.site}": str(r.boundary_ns + site.engine.step_ns)}
        if r.day_closed is not None:
            state[f"closed:{ctx.site}"] = r.day_closed.isoformat()
        state.update(self._dashboard_state(site, r))
        self.store.commit_tick(ctx.site, r.changes,
                               [row for row in site.engine.daily.rows() if row[2] == day], state)
        for c in r.changes:
            self._publish_change(c, site)
        self._notify(site, r.changes, before or {})
        if self.writer is not None:
            self._queue_lines(self._lines(site, r))

    def _ack_command(self, d: Delivery) -> None:
        self._ack(d.topic, d.payload)

    def _ack(self, topic: str, payload: bytes) -> Change | None:
        """An ack command (from the MQTT command topic, or the dashboard's, which sends the same
        document): the alert acknowledged, stored, then published; None if refused (counted)."""
        site_id = topic.split("/")[-3]
        site = self.sites.get(site_id)
        try:
            alert_id, by, note = parse_ack(payload)
        except ContractError as exc:
            self._problem("broken_ack", f"broken ack command on {topic}: {exc.reason}")
            return None
        if site is None:
            return None
        change = site.engine.book.ack(alert_id, by, time.time_ns(), note)
        if change is None:
            self._problem("ack_unknown", f"ack for {alert_id!r} on {topic}: no such active alert, "
                                         "or already acknowledged")
            return None
        self.store.apply([change])
        self._publish_change(change, site)
        self.counts["acks"] += 1
        return change

    def local_ack(self, site: str, alert_id: str, by: str, note: str | None) -> Future[Change | None]:
        """Queue an ack from the dashboard (any thread): the main thread applies it in turn with the
        MQTT messages, as the command topic's (the engine and the store are the main thread's)."""
        if site not in self.sites:
            raise ValueError(f"site {site!r} is not served here")
        cmd = LocalAck(ack_topic(self.prefix, site), ack_payload(alert_id, by, note), Future())
        self.inbox.put(cmd)
        return cmd.result

    def _local_ack(self, cmd: LocalAck) -> None:
        self.counts["acks_web"] += 1
        cmd.result.set_result(self._ack(cmd.topic, cmd.payload))

    # -- the dashboard's state ----------------------------------------------------------------------

    def _dashboard_state(self, site: _Site, r: TickResult) -> dict[str, str]:
        """The store's `meters:` and (when a day closed) `summary:` entries (services/analytics/
        summary.py); a failure to compute them is logged once and never stops the evaluation."""
        out: dict[str, str] = {}
        s = site.ctx.site
        try:
            out[METERS_KEY.format(site=s)] = dumps(meters_doc(self.last_readings[s]))
            if r.day_closed is not None:
                out[SUMMARY_KEY.format(site=s)] = dumps(site_summary(site.ctx, site.engine, self.factors,
                                                                     r.day_closed))
        except Exception as exc:
            log.debug("dashboard state of %s", s, exc_info=True)
            self._problem_once(f"site {s}: the dashboard's summary cannot be computed: "
                               f"{type(exc).__name__}: {exc}")
        return out

    def _site_views(self) -> list[Any]:
        from services.analytics.web.data import SiteView

        return [SiteView.of(site) for site in self.cfg.sites]

    # -- notifications ------------------------------------------------------------------------------

    def _notify(self, site: _Site, changes: list[Change], before: dict[str, Severity]) -> None:
        """Queue the notifications of a tick's changes (after they are stored): never waits."""
        if self.notifier is None:
            return
        for c in changes:
            n = from_change(c, before.get(c.alert.id), site.tz)
            if n is not None:
                self.notifier.submit(n)

    def report_ready(self, site: str, period: str, path: str) -> bool:
        """A "report ready" notification through the [notify] channels (for a scheduler running in
        this process; from another one, services.analytics.notify.hook.notify_report_ready). False
        if notifications are not configured, no route takes it, or the queues are full."""
        if site not in self.sites:
            raise ValueError(f"site {site!r} is not served here; served: {', '.join(self.sites)}")
        if self.notifier is None:
            return False
        return self.notifier.submit(report_ready(site, period, path, time.time_ns(),
                                                 self.sites[site].ctx.timezone))

    # -- publishing -----------------------------------------------------------------------------------

    def _publish_change(self, c: Change, site: _Site) -> None:
        topic = alert_topic(self.prefix, c.alert.site, c.alert.id)
        payload = b"" if c.kind == "cleared" else self._alert_payload(c.alert, site)
        if payload is not None:
            self.consumer.publish(topic, payload, qos=1, retain=True)
        self.counts[f"alerts_{c.kind}"] += 1

    def _alert_payload(self, a: Any, site: _Site) -> bytes | None:
        """The alert's document, or None if it cannot be one: a value or threshold that overflowed
        (a counter read as 1.7e308 gives a rise of inf), which JSON cannot carry. Such an alert is
        kept in the store and counted (`alerts_unpublishable`), logged once; stopping on it would
        stop the service on every restart, since the message that raised it comes back."""
        try:
            return alert_payload(a, site.tz)
        except PayloadError as exc:
            self.counts["alerts_unpublishable"] += 1
            self._problem_once(f"alert {a.id} ({a.kind} of {a.subject}) is not published: {exc} "
                               f"(value {a.value!r}, threshold {a.threshold!r})")
            return None

    def _problem_once(self, reason: str) -> None:
        if reason not in self._logged and len(self._logged) < 1000:
            self._logged.add(reason)
            log.error("%s (logged once)", reason)

    def _publish_retained(self, topic: str, payload: bytes) -> None:
        self.consumer.publish(topic, payload, qos=1, retain=True)

    def _publish_all(self) -> None:
        """After a (re)connect: every active alert, and an empty retained message for every alert
        cleared in the last day of readings (a clear published just before a stop may not have reached
        the broker); the latest report announcement of every site."""
        if self.reports is not None:
            self.reports.republish()
        for site in self.sites.values():
            since = (site.engine.watermark_ns or time.time_ns()) - 86_400 * 10**9  # in reading time
            for a in self.store.recent(since_ns=since, site=site.ctx.site):
                if a.state == "cleared":
                    self.consumer.publish(alert_topic(self.prefix, a.site, a.id), b"", qos=1, retain=True)
            for a in site.engine.book.active:
                payload = self._alert_payload(a, site)
                if payload is not None:
                    self.consumer.publish(alert_topic(self.prefix, a.site, a.id), payload, qos=1,
                                          retain=True)

    def health_doc(self) -> dict[str, Any]:
        return {"schema": HEALTH_SCHEMA, "client_id": self.mqtt.client_id, "host": socket.gethostname(),
                "ts": time.time(), "uptime_s": time.time() - self.started,
                "sites": {s: {"active_alerts": len(site.engine.book.active),
                              "watermark": None if site.engine.watermark_ns is None
                              else site.engine.watermark_ns / 1e9,
                              "next_tick": None if site.engine.next_tick_ns is None
                              else site.engine.next_tick_ns / 1e9}
                          for s, site in self.sites.items()},
                "counts": {**self.counts, **({f"notify_{k}": v for k, v in self.notifier.snapshot().items()}
                                             if self.notifier is not None else {})},
                "write_queue": self._writes.qsize(),
                "influx_error": self.writer.last_error if self.writer is not None else None}

    def _publish_health(self) -> None:
        if self.consumer.connected and self.consumer.wait_subscribed(0):
            self.consumer.publish(self.health_topic, encode(self.health_doc()), qos=1, retain=True)

    # -- InfluxDB -------------------------------------------------------------------------------------

    def _lines(self, site: _Site, r: TickResult) -> list[str]:
        """`interval` points per meter and counter quantity; `indicators` per building when a day closes."""
        ctx = site.ctx
        where = {m.id: m.building for m in ctx.meters}
        start = r.boundary_ns - site.engine.step_ns
        out: list[str] = []
        for quantity, res in r.intervals.items():
            for i, meter in enumerate(res.meters):
                c, cov = float(res.consumption[i, 0]), float(res.coverage[i, 0])
                fields: dict[str, float | int] = {"coverage": cov, "flags": int(res.flags[i, 0])}
                if math.isfinite(c):  # NaN: unknown; ±inf: overflowed, which line protocol cannot carry
                    fields["consumption"] = c
                out += _finite_line("interval", {"site": ctx.site, "building": where[str(meter)],
                                                 "meter": str(meter), "quantity": quantity}, fields, start)
        if r.day_closed is not None:
            out += self._indicator_lines(site, r.day_closed)
        return out

    def _indicator_lines(self, site: _Site, day: date) -> list[str]:
        usage = site.engine.daily.usage(site.ctx.buildings, site.ctx.meters)
        if usage is None:
            return []
        k = (day - usage.first_day).days
        if not 0 <= k < usage.n_days:
            return []
        coal = self.factors.factor_set("calorific")
        grid = self.factors.grid_factor(day.year)
        b = site.ctx.buildings
        # a carrier a building has no meter for is unknown (NaN: its indicators are left out), not 0
        kinds = [{m.kind for m in site.ctx.meters if m.building == name} for name in usage.buildings]
        no_elec = np.array([not (k & {"electricity", "heat_pump"}) for k in kinds])
        no_water = np.array(["water" not in k for k in kinds])
        # a carrier whose meters sent nothing that day: the day's energy is unknown, not that carrier 0
        lost = np.zeros(len(usage.buildings), bool)
        for carrier in ("electricity", "heat", "natural_gas"):
            if carrier in usage.unknown:
                lost |= usage.unknown[carrier][:, k]
        water_lost = usage.unknown["water"][:, k] if "water" in usage.unknown else lost & False
        u = Usage(np.where(no_elec | lost, np.nan, usage.electricity[:, k]),
                  np.where(lost, np.nan, usage.heat[:, k]), np.where(lost, np.nan, usage.natural_gas[:, k]),
                  np.where(no_water | water_lost, np.nan, usage.water[:, k]), usage.heating_electricity[:, k])
        ind = compute_indicators(u, Scale(np.array([x.floor_area_m2 for x in b]),
                                          np.array([x.heated_area_m2 or 0.0 for x in b]),
                                          np.array([float(x.occupants) for x in b])), coal, grid)
        ts = int(datetime(day.year, day.month, day.day, tzinfo=site.tz).timestamp()) * 10**9
        out: list[str] = []
        coverage = _day_coverage(site, day)
        for i, building in enumerate(usage.buildings):
            tags = {"site": site.ctx.site, "building": building, "period": "day", "factor_set": coal.name}
            if not usage.known[i, k]:  # meters offline all day: no indicator is 0, only the coverage
                out += _finite_line("indicators", tags, {"coverage": 0.0}, ts)
                continue
            fields = {k2: v for k2, v in ind.row(i).items() if v is not None}
            fields["coverage"] = coverage.get(building, 0.0)
            for name, value in (("electricity_kwh", u.electricity_kwh[i]), ("water_m3", u.water_m3[i])):
                if not np.isnan(value):
                    fields[name] = float(value)
            out += _finite_line("indicators", tags, fields, ts)
        for s in site.engine.quota_status:
            fields = {"ytd": s.ytd, "projected": s.projected, "share": s.share,
                      **{f"tier_{t}": v for t, v in s.tiers.items()},
                      **({"coverage": s.coverage} if s.coverage is not None else {})}
            out += _finite_line("quota", {"site": site.ctx.site, "building": s.building,
                                          "scope": s.scope}, fields, ts)
        return out

    def _queue_lines(self, lines: list[str]) -> None:
        if not lines:
            return
        try:
            self._writes.put_nowait(lines)
        except queue.Full:
            try:
                self._writes.get_nowait()
                self.counts["write_batches_dropped"] += 1
            except queue.Empty:
                pass
            self._writes.put_nowait(lines)

    def _write_loop(self) -> None:
        assert self.writer is not None
        while True:
            lines = self._writes.get()
            if not lines:
                if self._stop.is_set():
                    return
                continue
            try:
                self.writer.write_lines(lines)
                self.counts["points_written"] += len(lines)
            except WriteError as exc:
                self.counts["write_errors"] += 1
                log.error("InfluxDB refused %d aggregate point(s): %s", len(lines), exc.message)
                if not exc.permanent and self._stop.is_set():
                    return


def site_subscription(group: str, prefix: str, site: str) -> str:
    """The shared subscription to one site's readings: an instance receives only its sites' readings
    (analytics partitions by site), and a standby member of the same group takes them over."""
    return shared_readings_filter(group, prefix, site=site)


def _day_coverage(site: _Site, day: date) -> dict[str, float]:
    """Per building: the share of its counter series (meter, quantity) with data on `day`."""
    where = {m.id: m.building for m in site.ctx.meters}
    seen: dict[str, list[float]] = {}
    for (_, meter, d), (_, covered) in site.engine.daily.cells.items():
        if d == day and meter in where:
            seen.setdefault(where[meter], []).append(covered)
    return {b: sum(c) / len(c) for b, c in seen.items()}


__all__ = ["AnalyticsService"]


def _finite_line(measurement: str, tags: dict[str, str], fields: dict[str, Any],
                 ts_ns: int) -> list[str]:
    """The point as line protocol without its non-finite fields ([] if none is left): a figure that
    overflowed (a counter read as 1.7e308 gives an infinite year to date) is not a measurement, and
    line protocol cannot carry it; raising here would stop the service on the message that caused
    it, on every restart."""
    kept = {k: v for k, v in fields.items() if not isinstance(v, float) or math.isfinite(v)}
    return [line(measurement, tags, kept, ts_ns)] if kept else []
