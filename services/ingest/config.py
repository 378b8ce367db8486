"""The ingest config (TOML): `load_ingest_config(path)` -> IngestConfig, or ConfigError listing every
problem with file, line and key (the site config's machinery: core/problems.py and
check_model). Every key is documented in docs/ingest.md; config/examples/ingest.toml is an example.

    [mqtt]        broker, TLS, credentials, client id (unique per instance), share group, session
    [influx]      the database: services.shared.target.InfluxTarget
    [batching]    max_points, max_delay
    [retry]       initial, maximum (backoff while the database is down; retried for ever)
    [limits]      max_payload_bytes, max_future, min_timestamp
    [dead_letter] topic
    [health]      topic, interval, prometheus_host, prometheus_port (0 = off), stall_after (0 = off)
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from core.backoff import RetryPolicy
from core.contract.topics import (
    TopicError,
    check_prefix,
    check_segment,
    readings_filter,
)
from core.mqtt_config import ClientSpec, check_secret, refuse_inline_secrets, resolve_password, resolve_tls
from core.problems import ConfigError, Findings, Problem
from core.toml_file import by_line, check_model, read_toml
from services.shared.limits import LimitsSpec
from services.shared.subscription import STALL_AFTER, MqttSettings
from services.shared.target import InfluxTarget, Seconds, seconds

_CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_TOPIC_FORBIDDEN = set("+#\x00")


def _prefix(value: str) -> str:
    try:
        return check_prefix(value)
    except TopicError as exc:
        raise ValueError(str(exc)) from None


def _group(value: str) -> str:
    if value == "":  # no group: a plain subscription (one instance; mosquitto restores it on restart)
        return value
    try:
        return check_segment(value, "share group")
    except TopicError as exc:
        raise ValueError(str(exc)) from None


def _client_id(value: str) -> str:
    if not _CLIENT_ID.fullmatch(value):  # fullmatch: `$` lets a final "\n" through
        raise ValueError(f"{value!r} is not a client id: use 1-128 letters, digits, '_', '-', '.', ':'")
    return value


def _topic(value: str) -> str:
    if not value or _TOPIC_FORBIDDEN & set(value) or value.startswith("$") or "//" in value \
            or value.startswith("/") or value.endswith("/"):
        raise ValueError(f"{value!r} is not a topic to publish to: no '+', '#', empty levels or a "
                         "leading '$'")
    return value


def _seconds_or_off(value: object) -> float:
    """A duration, or 0 (off)."""
    if type(value) in (int, float) and value == 0:
        return 0.0
    try:
        return seconds(value)
    except ValueError as exc:
        raise ValueError(f"{exc}; or 0 to turn it off") from None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class MqttSpec(ClientSpec):
    client_id: Annotated[str, AfterValidator(_client_id)] | None = None  # default ingest-{hostname}
    share_group: Annotated[str, AfterValidator(_group)] = "ingest"
    topic_prefix: Annotated[str, AfterValidator(_prefix)] = "metergate"
    session_expiry: Seconds = 86400.0
    keepalive: Annotated[int, Field(ge=5, le=65535)] = 30
    receive_maximum: Annotated[int, Field(ge=1, le=65535)] = 10_000


class BatchingSpec(_Strict):
    max_points: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000
    max_delay: Seconds = 0.2


class RetrySpec(_Strict):
    initial: Seconds = 0.5
    maximum: Seconds = 30.0


class DeadLetterSpec(_Strict):
    topic: Annotated[str, AfterValidator(_topic)] | None = None  # {prefix}/ingest/dead-letter


class HealthSpec(_Strict):
    topic: Annotated[str, AfterValidator(_topic)] | None = None  # {prefix}/ingest/{client_id}/health
    interval: Seconds = 10.0
    prometheus_host: str = "127.0.0.1"
    prometheus_port: Annotated[int, Field(ge=0, le=65535)] = 9109  # 0: off
    stall_after: Annotated[float, BeforeValidator(_seconds_or_off)] = STALL_AFTER  # 0: off


SECTIONS: dict[str, type[BaseModel]] = {
    "mqtt": MqttSpec, "influx": InfluxTarget, "batching": BatchingSpec, "retry": RetrySpec,
    "limits": LimitsSpec, "dead_letter": DeadLetterSpec, "health": HealthSpec,
}
REQUIRED = ("mqtt", "influx")


@dataclass(frozen=True)
class IngestConfig:
    path: str
    mqtt: MqttSettings
    influx: InfluxTarget
    max_points: int
    max_delay: float
    retry: RetryPolicy
    max_payload_bytes: int
    max_future: float
    min_timestamp: float
    dead_letter_topic: str
    health_topic: str
    health_interval: float
    prometheus: tuple[str, int] | None
    stall_after: float = STALL_AFTER
    warnings: tuple[Problem, ...] = ()


class IngestConfigError(ConfigError):
    def __init__(self, path: str, problems: list[Problem], warnings: list[Problem] | None = None) -> None:
        super().__init__(path, problems, warnings)
        lines = "\n".join(f"  - {p}" for p in problems)
        Exception.__init__(self, f"{path}: {len(problems)} problem(s) in ingest config\n{lines}")


def load_ingest_config(path: str | Path, *, require_env_secrets: bool = True) -> IngestConfig:
    """Load and check an ingest config; IngestConfigError lists every problem (file:line: key: what)."""
    path = Path(path)
    text, raw = read_toml(path, IngestConfigError)
    f = Findings(str(path), text, raw)
    config = _compile(f, path.parent, require_env_secrets)
    if f.errors or config is None:
        raise IngestConfigError(str(path), by_line(f.errors) or [Problem(str(path), None, "",
                                                                          "cannot be used")],
                                warnings=by_line(f.warnings))
    return replace(config, path=str(path), warnings=tuple(by_line(f.warnings)))




def _table(f: Findings, name: str, model: type[Any]) -> Any:
    data = f.raw.get(name)
    if data is None:
        if name in REQUIRED:
            f.error((name,), f"required table is missing; add [{name}]")
            return None
        return model()
    if not isinstance(data, dict):
        f.error((name,), f"must be a table: write [{name}] followed by its keys")
        return None
    if name in ("mqtt", "influx"):
        data = refuse_inline_secrets(data, name, f, ("password", "token"))
    return check_model(model, data, (name,), f)


def _compile(f: Findings, base: Path, require_env: bool) -> IngestConfig | None:
    for key in f.raw:
        if key not in SECTIONS:
            f.error((key,), f"unknown table; allowed: {', '.join(SECTIONS)}")
    mqtt: MqttSpec | None = _table(f, "mqtt", MqttSpec)
    influx: InfluxTarget | None = _table(f, "influx", InfluxTarget)
    batching: BatchingSpec | None = _table(f, "batching", BatchingSpec)
    retry: RetrySpec | None = _table(f, "retry", RetrySpec)
    limits: LimitsSpec | None = _table(f, "limits", LimitsSpec)
    dead: DeadLetterSpec | None = _table(f, "dead_letter", DeadLetterSpec)
    health: HealthSpec | None = _table(f, "health", HealthSpec)
    settings = _mqtt(mqtt, base, require_env, f) if mqtt is not None else None
    if influx is not None:
        influx = influx.relative_to(base)
        for key, secret in influx.secrets():
            check_secret(secret, ("influx", key), f, require_env=require_env)
        if influx.ca_file is not None and not Path(influx.ca_file).is_file():
            f.error(("influx", "ca_file"), f"{influx.ca_file} does not exist or is not a file")
    if retry is not None and retry.initial > retry.maximum:
        f.error(("retry", "initial"), f"initial ({retry.initial:g} s) is longer than maximum "
                                      f"({retry.maximum:g} s)")
        retry = None
    if None in (settings, influx, batching, retry, limits, dead, health):
        return None
    assert settings is not None and influx is not None and batching is not None and retry is not None
    assert limits is not None and dead is not None and health is not None
    dead_topic = dead.topic or f"{settings.topic_prefix}/ingest/dead-letter"
    health_topic = health.topic or f"{settings.topic_prefix}/ingest/{settings.client_id}/health"
    for where, topic in ((("dead_letter", "topic"), dead_topic), (("health", "topic"), health_topic)):
        if _matches_readings(topic, settings.topic_prefix):
            f.error(where, f"{topic!r} matches the readings subscription; ingest would consume its own "
                         "messages: choose a topic outside {prefix}/v1/+/+/meters/+/readings")
    prometheus = (health.prometheus_host, health.prometheus_port) if health.prometheus_port else None
    return IngestConfig(
        path="", mqtt=settings, influx=influx, max_points=batching.max_points,
        max_delay=batching.max_delay, retry=RetryPolicy(retry.initial, retry.maximum),
        max_payload_bytes=limits.max_payload_bytes, max_future=limits.max_future,
        min_timestamp=limits.min_timestamp, dead_letter_topic=dead_topic, health_topic=health_topic,
        health_interval=health.interval, prometheus=prometheus, stall_after=health.stall_after)


def _matches_readings(topic: str, prefix: str) -> bool:
    pattern = readings_filter(prefix).split("/")
    levels = topic.split("/")
    return len(levels) == len(pattern) and all(p in ("+", lv) for p, lv in zip(pattern, levels,
                                                                                    strict=True))


def _mqtt(spec: MqttSpec, base: Path, require_env: bool, f: Findings) -> MqttSettings | None:
    tls = resolve_tls(spec.tls, base, f) if spec.tls is not None else None
    password = resolve_password(spec, base, f, require_env=require_env)
    if password is not None and spec.username is None:
        f.error(("mqtt", "username"), "a password needs a username")
    client_id = spec.client_id or f"ingest-{socket.gethostname()}"[:128]
    if spec.client_id is None:
        f.warn(("mqtt", "client_id"), f"not set: using {client_id!r}; give every ingest instance its own "
                                      "client_id (its persistent session is keyed by it)")
    return MqttSettings(host=spec.host, port=spec.default_port(), client_id=client_id,
                        share_group=spec.share_group, topic_prefix=spec.topic_prefix,
                        session_expiry=spec.session_expiry, keepalive=spec.keepalive,
                        receive_maximum=spec.receive_maximum, username=spec.username,
                        password=password, tls=tls)
