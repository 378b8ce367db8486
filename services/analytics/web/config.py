"""`[web]` of the analytics config: where the dashboard listens, who may log in, the session secret.

Checked with the rest of the analytics config (every problem with file:line: key); imports no web
library, so `metergate analytics --check` works without the `web` extra.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from core.mqtt_config import check_secret, relative_to
from core.problems import Findings
from core.secrets import Secret
from core.toml_file import check_model
from core.units import parse_duration_ms

DEFAULT_LISTEN = "127.0.0.1:8088"


class WebSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    listen: str = DEFAULT_LISTEN
    # a non-loopback address exposes the pages (and the login form) to the network: only on purpose
    allow_remote: bool = False
    users_file: str | None = None  # absent: read-only, nobody can log in or acknowledge
    session_secret_file: str | None = None  # absent (and no _env): a random secret per start
    session_secret_env: str | None = None
    session_max_age: str = "8h"
    tls_cert_file: str | None = None  # both: served over https, session cookie Secure
    tls_key_file: str | None = None
    secure_cookies: bool | None = None  # default: true with TLS; true behind a TLS reverse proxy
    lang: Literal["zh", "en"] = "zh"
    offline_after: str = "1h"  # a meter is offline after this long without a reading


@dataclass(frozen=True)
class WebSettings:
    host: str
    port: int
    users_file: Path | None
    session_secret: Secret | None
    session_max_age_s: int
    tls_cert: Path | None
    tls_key: Path | None
    secure_cookies: bool
    lang: str
    offline_after_s: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls_cert else 'http'}://{host}:{self.port}/"


def _host_port(listen: str) -> tuple[str, int] | None:
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host, int(port)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _seconds(value: str, key: str, f: Findings) -> int:
    try:
        s = parse_duration_ms(value) // 1000
    except ValueError as exc:
        f.error(("web", key), str(exc))
        return 0
    if s <= 0:
        f.error(("web", key), f"{value!r}: give a positive duration, e.g. \"8h\"")
    return s


def resolve_web(data: dict[str, Any], base: Path, f: Findings, *,
                require_secrets: bool) -> WebSettings | None:
    if "session_secret" in data:
        data = {k: v for k, v in data.items() if k != "session_secret"}
        f.error(("web", "session_secret"), "never write the secret into the config: put it in a file "
                "readable only by the service (session_secret_file = \"/etc/metergate/web-session-secret\") "
                "or in an environment variable (session_secret_env = \"METERGATE_WEB_SESSION_SECRET\")")
    spec = check_model(WebSpec, data, ("web",), f)
    if spec is None:
        return None
    hp = _host_port(spec.listen)
    if hp is None:
        f.error(("web", "listen"), f"{spec.listen!r}: give HOST:PORT, e.g. \"127.0.0.1:8088\"")
        return None
    host, port = hp
    if not _loopback(host) and not spec.allow_remote:
        f.error(("web", "listen"), f"{host} is not a loopback address: the dashboard would be open to the "
                "network; keep 127.0.0.1 behind a reverse proxy, or set allow_remote = true (with "
                "tls_cert_file and tls_key_file)")
    users = relative_to(base, spec.users_file) if spec.users_file else None
    if users is not None and not users.is_file():
        f.error(("web", "users_file"), f"{users} does not exist; add a user with "
                                       f"`metergate web-user add --file {users} NAME`")
    secret = None
    if spec.session_secret_file and spec.session_secret_env:
        f.error(("web", "session_secret_env"), "give session_secret_file or session_secret_env, not both")
    elif spec.session_secret_file:
        secret = Secret.from_file(relative_to(base, spec.session_secret_file))
        check_secret(secret, ("web", "session_secret_file"), f, require_env=require_secrets)
    elif spec.session_secret_env:
        secret = Secret.from_env(spec.session_secret_env)
        check_secret(secret, ("web", "session_secret_env"), f, require_env=require_secrets)
    cert = relative_to(base, spec.tls_cert_file) if spec.tls_cert_file else None
    key = relative_to(base, spec.tls_key_file) if spec.tls_key_file else None
    if (cert is None) != (key is None):
        f.error(("web", "tls_key_file" if key is None else "tls_cert_file"),
                "give tls_cert_file and tls_key_file together")
    for name, p in (("tls_cert_file", cert), ("tls_key_file", key)):
        if p is not None and not p.is_file():
            f.error(("web", name), f"{p} does not exist; give the PEM file")
    max_age = _seconds(spec.session_max_age, "session_max_age", f)
    offline = _seconds(spec.offline_after, "offline_after", f)
    secure = spec.secure_cookies if spec.secure_cookies is not None else cert is not None
    return WebSettings(host, port, users, secret, max_age, cert, key, secure, spec.lang, offline)


__all__ = ["DEFAULT_LISTEN", "WebSettings", "WebSpec", "resolve_web"]
