"""The analytics service's config (TOML): MQTT, InfluxDB, site configs, store, engine, quotas, detectors,
notifications ([notify], services/analytics/notify/config.py), the dashboard ([web],
services/analytics/web/config.py), scheduled reports ([report], services/analytics/report_config.py).

    cfg = load_analytics_config("/etc/metergate/analytics.toml")   # or AnalyticsConfigError, every
                                                                    # problem with file:line: key
Documented in docs/alerts.md ("Service config"); example in config/examples/analytics.toml. Paths
are relative to the config file's folder. Secrets come from files or environment variables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from analytics.alert_engine import EngineSettings
from analytics.alerts import LifecycleSettings
from analytics.quota_tracking import QuotaSettings
from core.contract.topics import check_prefix, check_segment
from core.mqtt_config import ClientSpec, refuse_inline_secrets, relative_to, resolve_password, resolve_tls
from core.problems import ConfigError, Findings, Problem
from core.toml_file import by_line, check_model, read_toml
from core.units import parse_duration_ms
from services.analytics.notify.config import NotifySettings, resolve_notify
from services.analytics.report_config import ReportSettings, resolve_report
from services.analytics.web.config import WebSettings, resolve_web
from services.shared.limits import LimitsSpec  # the same [limits] as ingest
from services.shared.subscription import MqttSettings
from services.shared.target import InfluxTarget
from site_config import SiteConfig, load_site_config

DEFAULT_STORE = "/var/lib/metergate-analytics/alerts.sqlite"


def _seconds(value: object) -> int:
    ms = parse_duration_ms(value)
    if ms % 1000:
        raise ValueError(f"{value!r}: give whole seconds")
    return ms // 1000


def _prefix(value: str) -> str:
    return check_prefix(value)


def _segment(value: str) -> str:
    return check_segment(value, "share group")


Duration = Annotated[int, BeforeValidator(_seconds)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MqttSpec(ClientSpec):
    model_config = ConfigDict(extra="forbid", frozen=True)  # durations may be written "1d"
    protocol: Literal["5"] = "5"  # shared subscriptions and session expiry are MQTT 5
    client_id: Annotated[str, Field(min_length=1, max_length=128)] = "metergate-analytics"
    topic_prefix: Annotated[str, AfterValidator(_prefix)] = "metergate"
    share_group: Annotated[str, AfterValidator(_segment)] = "analytics"
    session_expiry: Duration = 86_400  # how long the broker keeps our session (and readings) while away
    keepalive: Annotated[int, Field(ge=5, le=65535)] = 60


class StoreSpec(_Strict):
    path: str = DEFAULT_STORE


class EngineSpec(_Strict):
    interval: Duration = 3600
    lateness: Duration = 300
    raise_after: Annotated[int, Field(ge=1, le=1000)] = 2
    clear_after: Annotated[int, Field(ge=1, le=1000)] = 3


class QuotasSpec(_Strict):
    enabled: bool = True
    directory: str | None = None  # default: the shipped config/quotas
    factors: str | None = None  # default: the shipped config/factors
    standards: list[str] | None = None  # default: every standard that matches a building
    reduction: Annotated[float, Field(gt=-1, lt=1)] | None = None  # e.g. -0.02
    tolerance: Annotated[float, Field(ge=0, lt=1)] = 0.02
    min_share: Annotated[float, Field(ge=0, lt=1)] = 0.05
    release: Annotated[float, Field(ge=0, lt=1)] = 0.03  # hysteresis margin (docs/quotas.md)
    release_days: Annotated[int, Field(ge=1, le=366)] = 7


class HealthSpec(_Strict):
    interval: Duration = 30


class AnalyticsSpec(_Strict):
    sites: Annotated[list[str], Field(min_length=1)]
    mqtt: MqttSpec
    influx: dict[str, Any] | None = None  # checked as services.shared.target.InfluxTarget
    store: StoreSpec = StoreSpec()
    engine: EngineSpec = EngineSpec()
    quotas: QuotasSpec = QuotasSpec()
    detectors: dict[str, Any] = {}  # overrides of the detectors' settings, passed on as they are
    health: HealthSpec = HealthSpec()
    limits: LimitsSpec = LimitsSpec()  # the same [limits] as ingest: readings outside are refused
    notify: dict[str, Any] | None = None  # checked as services.analytics.notify.config.NotifySpec
    web: dict[str, Any] | None = None  # checked as services.analytics.web.config.WebSpec
    report: dict[str, Any] | None = None  # checked as services.analytics.report_config.ReportSpec


@dataclass(frozen=True)
class AnalyticsConfig:
    path: Path
    sites: tuple[SiteConfig, ...]
    mqtt: MqttSettings
    influx: InfluxTarget | None
    store_path: Path
    engine: EngineSettings
    quota_dir: Path | None
    factors_dir: Path | None
    detectors: dict[str, Any] = field(default_factory=dict)
    health_interval_s: int = 30
    limits: LimitsSpec = field(default_factory=LimitsSpec)
    notify: NotifySettings | None = None  # None: no notification is sent
    web: WebSettings | None = None  # None: no dashboard (docs/dashboard.md)
    report: ReportSettings | None = None  # None: no scheduled report


class AnalyticsConfigError(ConfigError):
    def __init__(self, path: str, problems: list[Problem], warnings: list[Problem] | None = None) -> None:
        super().__init__(path, problems, warnings)
        Exception.__init__(self, "\n".join(str(p) for p in problems))


def load_analytics_config(path: str | Path, *, require_secrets: bool = True) -> AnalyticsConfig:
    path = Path(path)
    text, raw = read_toml(path, AnalyticsConfigError)
    f = Findings(str(path), text, raw)
    if isinstance(raw.get("mqtt"), dict):
        raw = {**raw, "mqtt": refuse_inline_secrets(raw["mqtt"], "mqtt", f)}
    spec = check_model(AnalyticsSpec, raw, (), f)
    base = path.resolve().parent
    if spec is None or f.errors:
        raise AnalyticsConfigError(str(path), by_line(f.errors))
    influx = None
    if spec.influx is not None:
        try:
            influx = InfluxTarget.model_validate(spec.influx)
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(err["loc"]) or ()
                f.error(("influx", *loc), str(err["msg"]).removeprefix("Value error, "))
    m = spec.mqtt
    tls = resolve_tls(m.tls, base, f) if m.tls is not None else None
    password = resolve_password(m, base, f, require_env=require_secrets)
    mqtt = MqttSettings(m.host, m.default_port(), m.client_id, m.share_group, m.topic_prefix,
                        float(m.session_expiry), m.keepalive, 100, m.username, password, tls)
    sites: list[SiteConfig] = []
    for i, name in enumerate(spec.sites):
        try:
            sites.append(load_site_config(relative_to(base, name), require_env_secrets=False))
        except ConfigError as exc:
            f.error(("sites", i), f"the site config {name} cannot be used:\n"
                                  + "\n".join(f"    {p}" for p in exc.problems))
    ids = [s.site.id for s in sites]
    for i, s in enumerate(sites):
        if ids.count(s.site.id) > 1:
            f.error(("sites", i), f"site id {s.site.id!r} appears in more than one site config")
    for i, s in enumerate(sites):
        for reserved in ("alerts", "reports"):
            if any(b.id == reserved for b in s.buildings) or s.site.gateway_id == reserved:
                f.error(("sites", i), f"the id {reserved!r} is reserved for the {reserved[:-1]} topics; "
                                      "rename the gateway")
    notify = None
    if spec.notify is not None:
        notify = resolve_notify(spec.notify, base, f, sites=set(ids), require_secrets=require_secrets)
    web = None
    if spec.web is not None:
        web = resolve_web(spec.web, base, f, require_secrets=require_secrets)
    report = None
    if spec.report is not None:
        report = resolve_report(spec.report, base, f, institutions={
            s.site.id: {s.site.institution} - {""} for s in sites})
    from services.analytics.detect import DetectorConfigError, detector_settings

    try:
        detector_settings(spec.detectors)
    except DetectorConfigError as exc:
        key = str(exc).split(":", 1)[0].removeprefix("detectors.")
        f.error(("detectors", key) if key != "detectors" else ("detectors",), str(exc).split(": ", 1)[-1])
    q = spec.quotas
    e = spec.engine
    engine = None
    try:
        engine = EngineSettings(e.interval, e.lateness, LifecycleSettings(e.raise_after, e.clear_after),
                                QuotaSettings(tolerance=q.tolerance, min_share=q.min_share,
                                              release=q.release, release_days=q.release_days,
                                              reduction=q.reduction,
                                              standards=tuple(q.standards) if q.standards else None),
                                q.enabled)
    except ValueError as exc:
        f.error(("engine", "interval"), str(exc))
    if f.errors or engine is None:
        raise AnalyticsConfigError(str(path), by_line(f.errors))
    return AnalyticsConfig(path.resolve(), tuple(sites), mqtt, influx,
                           relative_to(base, spec.store.path), engine,
                           relative_to(base, q.directory) if q.directory else None,
                           relative_to(base, q.factors) if q.factors else None, dict(spec.detectors),
                           spec.health.interval, spec.limits, notify, web, report)


__all__ = ["AnalyticsConfig", "AnalyticsConfigError", "load_analytics_config"]
