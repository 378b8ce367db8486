"""The analytics service's config (TOML): MQTT, InfluxDB, site configs, store, engine, quotas, detectors.

    cfg = load_analytics_config("/etc/metergate/analytics.toml")   # or AnalyticsConfigError, every
                                                                    # problem with file:line: key
Documented in docs/alerts.md ("Service config"); example in config/examples/analytics.toml. Paths
are relative to the config file's folder. Secrets come from files or environment variables.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from analytics.alert_engine import EngineSettings
from analytics.alerts import LifecycleSettings
from analytics.quota_tracking import QuotaSettings
from core.problems import Findings
from gateway.config import ConfigError, Problem, SiteConfig, load_site_config
from gateway.config.load import check_model
from gateway.config.secrets import Secret, SecretUnavailable
from gateway.config.units import parse_duration_ms
from gateway.ingest.config import LimitsSpec, TlsSpec  # the same [mqtt.tls] keys as ingest
from gateway.ingest.target import InfluxTarget
from gateway.mqtt.topics import check_prefix, check_segment

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


class MqttSpec(_Strict):
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    protocol: Literal["5"] = "5"  # shared subscriptions and session expiry are MQTT 5
    client_id: Annotated[str, Field(min_length=1, max_length=128)] = "metergate-analytics"
    topic_prefix: Annotated[str, AfterValidator(_prefix)] = "metergate"
    share_group: Annotated[str, AfterValidator(_segment)] = "analytics"
    session_expiry: Duration = 86_400  # how long the broker keeps our session (and readings) while away
    keepalive: Annotated[int, Field(ge=5, le=65535)] = 60
    username: str | None = None
    password_file: str | None = None
    password_env: str | None = None
    tls: TlsSpec | None = None


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
    influx: dict[str, Any] | None = None  # checked as gateway.ingest.target.InfluxTarget
    store: StoreSpec = StoreSpec()
    engine: EngineSpec = EngineSpec()
    quotas: QuotasSpec = QuotasSpec()
    detectors: dict[str, Any] = {}  # overrides of the detectors' settings, passed on as they are
    health: HealthSpec = HealthSpec()
    limits: LimitsSpec = LimitsSpec()  # the same [limits] as ingest: readings outside are refused


@dataclass(frozen=True)
class AnalyticsConfig:
    path: Path
    sites: tuple[SiteConfig, ...]
    mqtt: MqttSpec
    password: Secret | None
    influx: InfluxTarget | None
    store_path: Path
    engine: EngineSettings
    quota_dir: Path | None
    factors_dir: Path | None
    detectors: dict[str, Any] = field(default_factory=dict)
    health_interval_s: int = 30
    limits: LimitsSpec = field(default_factory=LimitsSpec)


class AnalyticsConfigError(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def load_analytics_config(path: str | Path, *, require_secrets: bool = True) -> AnalyticsConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise AnalyticsConfigError([Problem(str(path), None, "", f"cannot read the file: {exc}")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise AnalyticsConfigError([Problem(str(path), None, "", f"not valid TOML: {exc}")]) from None
    f = Findings(str(path), text, raw)
    spec = check_model(AnalyticsSpec, raw, (), f)
    base = path.resolve().parent
    if spec is None or f.errors:
        raise AnalyticsConfigError(sorted(f.errors, key=lambda p: p.line or 0))
    influx = None
    if spec.influx is not None:
        try:
            influx = InfluxTarget.model_validate(spec.influx)
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(err["loc"]) or ()
                f.error(("influx", *loc), str(err["msg"]).removeprefix("Value error, "))
    password = None
    if spec.mqtt.password_file and spec.mqtt.password_env:
        f.error(("mqtt", "password_env"), "give password_file or password_env, not both")
    elif spec.mqtt.password_file or spec.mqtt.password_env:
        key = "password_file" if spec.mqtt.password_file else "password_env"
        password = (Secret.from_file(_rel(base, spec.mqtt.password_file)) if spec.mqtt.password_file
                    else Secret.from_env(str(spec.mqtt.password_env)))
        if require_secrets:
            try:
                password.check()
            except SecretUnavailable as exc:
                f.error(("mqtt", key), str(exc))
    sites: list[SiteConfig] = []
    for i, name in enumerate(spec.sites):
        try:
            sites.append(load_site_config(_rel(base, name), require_env_secrets=False))
        except ConfigError as exc:
            f.error(("sites", i), f"the site config {name} cannot be used:\n"
                                  + "\n".join(f"    {p}" for p in exc.problems))
    ids = [s.site.id for s in sites]
    for i, s in enumerate(sites):
        if ids.count(s.site.id) > 1:
            f.error(("sites", i), f"site id {s.site.id!r} appears in more than one site config")
    for i, s in enumerate(sites):
        if any(b.id == "alerts" for b in s.buildings) or s.site.gateway_id == "alerts":
            f.error(("sites", i), "the id 'alerts' is reserved for the alert topics; rename the gateway")
    from gateway.alerts.detect import DetectorConfigError, detector_settings

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
        raise AnalyticsConfigError(sorted(f.errors, key=lambda p: p.line or 0))
    return AnalyticsConfig(path.resolve(), tuple(sites), spec.mqtt, password, influx,
                           _rel(base, spec.store.path), engine,
                           _rel(base, q.directory) if q.directory else None,
                           _rel(base, q.factors) if q.factors else None, dict(spec.detectors),
                           spec.health.interval, spec.limits)


def _rel(base: Path, name: str) -> Path:
    p = Path(name).expanduser()
    return p if p.is_absolute() else base / p


__all__ = ["AnalyticsConfig", "AnalyticsConfigError", "load_analytics_config"]
