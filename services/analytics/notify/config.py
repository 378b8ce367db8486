"""The `[notify]` section of the analytics config: channels (e-mail, webhook), routes, retry.

    settings = resolve_notify(raw["notify"], base, findings, sites={"campus-a"}, require_secrets=True)

Checked here, once: every channel by its own model (chosen by `type`), every route against the
channels and sites it names, secrets only from files or environment variables (a password or a
robot URL written into the config is an error naming the key). Problems go to `findings`, so they
are reported with the rest of the config as FILE:LINE: KEY. Documented in docs/notifications.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time as dtime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from analytics.events import AlertKind, Severity
from core.backoff import RetryPolicy
from core.mqtt_config import Port, check_secret, relative_to
from core.problems import Findings
from core.secrets import Secret
from core.toml_file import check_model
from core.toml_lines import KeyPath
from core.units import parse_duration_ms

Event = Literal["raised", "escalated", "cleared", "report"]
EVENTS: tuple[Event, ...] = ("raised", "escalated", "cleared", "report")
Template = Literal["json", "wecom", "dingtalk"]
_SEVERITIES = {s.label: s for s in Severity}
_QUIET = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
# query parameters that carry a robot's credential (WeCom `key`, DingTalk `access_token`)
_URL_SECRETS = re.compile(r"[?&](key|access_token|token|secret|sign)=", re.IGNORECASE)


def _seconds(value: object) -> float:
    return parse_duration_ms(value) / 1000


Seconds = Annotated[float, BeforeValidator(_seconds), Field(gt=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetrySpec(_Strict):
    initial: Seconds = 10.0  # before the second attempt; doubled after each failure
    maximum: Seconds = 900.0  # the cap of the wait between attempts
    attempts: Annotated[int, Field(ge=1, le=100)] = 8  # then the notification is recorded as failed


class ChannelBase(_Strict):
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    type: str
    timeout: Seconds = 10.0  # one attempt: connect, send, answer
    lang: Literal["zh", "en"] = "zh"  # the notification's words (the alert's own message as written)


class EmailSpec(ChannelBase):
    type: Literal["email"]
    host: Annotated[str, Field(min_length=1)]
    port: Port = 587
    starttls: bool = True
    ca_file: str | None = None  # default: the system's CA store
    username: str | None = None
    password_file: str | None = None
    password_env: str | None = None
    sender: Annotated[str, Field(alias="from", pattern=r"^[^@\s]+@[^@\s]+$")]
    to: Annotated[list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]], Field(min_length=1)]
    subject_prefix: str = "[metergate]"


class WebhookSpec(ChannelBase):
    type: Literal["webhook"]
    url: str | None = None  # an endpoint whose URL carries no credential
    url_file: str | None = None  # a robot URL with its key: from a file ...
    url_env: str | None = None  # ... or an environment variable
    token_file: str | None = None  # optional bearer token (Authorization header)
    token_env: str | None = None
    template: Template = "json"
    markdown: bool = False  # robot templates: msgtype markdown instead of text
    secret_file: str | None = None  # DingTalk's signing secret (加签, "SEC..."): timestamp and sign
    secret_env: str | None = None


class RouteSpec(_Strict):
    channels: Annotated[list[str], Field(min_length=1)]
    sites: list[str] | None = None  # default: every site served
    events: list[Event] = list(EVENTS)
    kinds: list[AlertKind] | None = None  # default: every kind (reports have none: not filtered)
    min_severity: Literal["info", "warning", "major", "critical"] = "info"
    quiet_hours: str | None = None  # "22:00-07:00" in the site's time zone
    # at least this severe passes the quiet hours; "none": every notification is held
    quiet_pass: Literal["info", "warning", "major", "critical", "none"] = "critical"


class NotifySpec(_Strict):
    enabled: bool = True
    queue: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000
    drain: Seconds = 5.0  # at stop: time left to the worker to finish before it is left
    retry: RetrySpec = RetrySpec()
    channel: list[dict[str, Any]] = []
    route: list[RouteSpec] = []


@dataclass(frozen=True)
class EmailChannel:
    id: str
    host: str
    port: int
    starttls: bool
    ca_file: Path | None
    username: str | None
    password: Secret | None
    sender: str
    to: tuple[str, ...]
    subject_prefix: str
    timeout: float
    lang: str = "zh"


@dataclass(frozen=True)
class WebhookChannel:
    id: str
    url: str | Secret  # a Secret when the URL carries the robot's key
    token: Secret | None
    template: Template
    markdown: bool
    timeout: float
    sign_secret: Secret | None = None  # DingTalk signing: timestamp and sign added to the URL
    lang: str = "zh"


Channel = EmailChannel | WebhookChannel


@dataclass(frozen=True)
class QuietHours:
    start: dtime
    end: dtime  # start > end: over midnight

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        m = _QUIET.match(text)
        if m is None:
            raise ValueError(f"{text!r}: write quiet hours as \"HH:MM-HH:MM\" (e.g. \"22:00-07:00\")")
        start, end = dtime(int(m[1]), int(m[2])), dtime(int(m[3]), int(m[4]))
        if start == end:
            raise ValueError(f"{text!r}: start and end are the same; remove quiet_hours instead")
        return cls(start, end)


@dataclass(frozen=True)
class Route:
    channels: tuple[str, ...]
    sites: frozenset[str] | None
    events: frozenset[str]
    kinds: frozenset[AlertKind] | None
    min_severity: Severity
    quiet: QuietHours | None
    quiet_pass: Severity | None  # at or above it a notification passes the quiet hours


@dataclass(frozen=True)
class NotifySettings:
    channels: dict[str, Channel]
    routes: tuple[Route, ...]
    retry: RetryPolicy
    queue: int = 10_000
    drain_s: float = 5.0


def resolve_notify(raw: object, base: Path, f: Findings, *, sites: set[str],
                   require_secrets: bool) -> NotifySettings | None:
    """The settings of `[notify]` (None when disabled or nothing is configured); problems to `f`."""
    if not isinstance(raw, dict):
        f.error(("notify",), "write [notify] as a table")
        return None
    spec = check_model(NotifySpec, raw, ("notify",), f)
    if spec is None:
        return None
    channels: dict[str, Channel] = {}
    for i, data in enumerate(spec.channel):
        ch = _channel(data, ("notify", "channel", i), base, f, require_secrets)
        if ch is None:
            continue
        if ch.id in channels:
            f.error(("notify", "channel", i, "id"), f"channel id {ch.id!r} is used twice; give each "
                                                    "channel its own id")
        channels[ch.id] = ch
    declared = {d["id"] for d in spec.channel if isinstance(d, dict) and isinstance(d.get("id"), str)}
    routes: list[Route] = []
    for i, rs in enumerate(spec.route):
        # a channel with problems of its own is still declared: its routes are not wrong too
        route = _route(rs, ("notify", "route", i), f, declared, sites)
        if route is not None:
            routes.append(route)
    named = {c for r in routes for c in r.channels}
    for i, data in enumerate(spec.channel):
        cid = data.get("id")
        if isinstance(cid, str) and cid in channels and cid not in named:
            f.warn(("notify", "channel", i), f"no [[notify.route]] names channel {cid!r}: it sends nothing")
    if channels and not spec.route:
        f.error(("notify",), "channels without a route send nothing: add a [[notify.route]] with "
                             "channels = [...] (docs/notifications.md)")
    rt = spec.retry
    try:
        retry = RetryPolicy(rt.initial, rt.maximum, rt.attempts)
    except ValueError as exc:
        f.error(("notify", "retry", "initial"), str(exc))
        return None
    if not channels or not spec.enabled:  # disabled: still checked, so enabling it holds no surprise
        return None
    return NotifySettings(channels, tuple(routes), retry, spec.queue, spec.drain)


def _channel(data: object, path: KeyPath, base: Path, f: Findings, require_secrets: bool) -> Channel | None:
    if not isinstance(data, dict):
        f.error(path, "write each channel as a [[notify.channel]] table")
        return None
    kind = data.get("type")
    model: type[EmailSpec | WebhookSpec]
    if kind == "email":
        model = EmailSpec
    elif kind == "webhook":
        model = WebhookSpec
    else:
        f.error((*path, "type"), f"channel type {kind!r}: use \"email\" or \"webhook\"")
        return None
    data = dict(data)
    for key in ("password", "token", "secret"):
        if data.pop(key, None) is not None:
            f.error((*path, key), f"never write the {key} into the config: put it in a file readable only "
                                  f"by the service ({key}_file = \"/etc/metergate/notify-{key}\") or in an "
                                  f"environment variable ({key}_env = \"METERGATE_NOTIFY_{key.upper()}\")")
    spec = check_model(model, data, path, f)
    if spec is None:
        return None
    if isinstance(spec, EmailSpec):
        password = _secret(spec.password_file, spec.password_env, "password", path, base, f,
                           require_secrets)
        if password is not None and spec.username is None:
            f.error((*path, "username"), "a password needs its user name: set username too")
        if spec.username is not None and not spec.starttls:
            f.error((*path, "starttls"), "the credentials would cross the network in clear: keep "
                                         "starttls = true (the server must offer STARTTLS)")
        ca = relative_to(base, spec.ca_file) if spec.ca_file else None
        if ca is not None and not ca.is_file():
            f.error((*path, "ca_file"), f"{ca} does not exist; give the PEM file of the CA that signed the "
                                        "mail server's certificate")
        return EmailChannel(spec.id, spec.host, spec.port, spec.starttls, ca, spec.username, password,
                            spec.sender, tuple(spec.to), spec.subject_prefix, spec.timeout, spec.lang)
    url: str | Secret | None
    given = [k for k in ("url", "url_file", "url_env") if getattr(spec, k) is not None]
    if len(given) != 1:
        f.error((*path, "url"), "give exactly one of url, url_file and url_env")
        return None
    if spec.url is not None:
        url = spec.url
        if not re.match(r"^https?://[^\s/]+", url):
            f.error((*path, "url"), f"{url!r} is not an http:// or https:// URL")
        if _URL_SECRETS.search(url):
            f.error((*path, "url"), "this URL carries a credential (key=, access_token=...): move it to "
                                    "url_file or url_env; the config must hold no secret")
    else:
        url = _secret(spec.url_file, spec.url_env, "url", path, base, f, require_secrets)
    token = _secret(spec.token_file, spec.token_env, "token", path, base, f, require_secrets)
    sign = _secret(spec.secret_file, spec.secret_env, "secret", path, base, f, require_secrets)
    if sign is not None and spec.template != "dingtalk":
        f.error((*path, "secret_file" if spec.secret_file else "secret_env"),
                "a signing secret is for DingTalk robots: set template = \"dingtalk\" or remove it")
    if url is None:
        return None
    return WebhookChannel(spec.id, url, token, spec.template, spec.markdown, spec.timeout, sign, spec.lang)


def _secret(file: str | None, env: str | None, key: str, path: KeyPath, base: Path, f: Findings,
            require_secrets: bool) -> Secret | None:
    if file is not None and env is not None:
        f.error((*path, f"{key}_env"), f"give {key}_file or {key}_env, not both")
        return None
    if file is not None:
        where, secret = f"{key}_file", Secret.from_file(relative_to(base, file))
    elif env is not None:
        where, secret = f"{key}_env", Secret.from_env(env)
    else:
        return None
    check_secret(secret, (*path, where), f, require_env=require_secrets)
    return secret


def _route(spec: RouteSpec, path: KeyPath, f: Findings, channels: set[str], sites: set[str]) -> Route | None:
    ok = True
    for j, name in enumerate(spec.channels):
        if name not in channels:
            f.error((*path, "channels", j), f"no [[notify.channel]] has id {name!r}"
                                            + (f"; known: {', '.join(sorted(channels))}" if channels else ""))
            ok = False
    for j, name in enumerate(spec.sites or ()):
        if name not in sites:
            f.error((*path, "sites", j), f"site {name!r} is not served by this instance; served: "
                                         f"{', '.join(sorted(sites))}")
            ok = False
    quiet = None
    if spec.quiet_hours is not None:
        try:
            quiet = QuietHours.parse(spec.quiet_hours)
        except ValueError as exc:
            f.error((*path, "quiet_hours"), str(exc))
            ok = False
    if not ok:
        return None
    return Route(tuple(spec.channels), frozenset(spec.sites) if spec.sites is not None else None,
                 frozenset(spec.events), frozenset(spec.kinds) if spec.kinds is not None else None,
                 _SEVERITIES[spec.min_severity], quiet,
                 _SEVERITIES[spec.quiet_pass] if spec.quiet_pass != "none" else None)


__all__ = ["EVENTS", "Channel", "EmailChannel", "Event", "NotifySettings", "QuietHours", "Route",
           "WebhookChannel", "resolve_notify"]
