"""Where points are written: `InfluxTarget`, the [influx] table of the ingest config.

Two write APIs:
- `api = "v2"`: POST /api/v2/write (InfluxDB 2.x and 3.x, InfluxDB 1.8+ through its v2
  compatibility endpoint, VictoriaMetrics and other servers implementing it); `bucket` and `org`,
  credentials as a token (for 1.8+: the token "user:password" is built from username + password).
- `api = "v1"`: POST /write?db=...&rp=... (InfluxDB 1.x before 1.8, which has no /api/v2/write);
  `database`, optional `retention_policy`, optional username + password (HTTP basic auth).

Secrets (token, password) are never written into the config: `*_file` or `*_env` name where they
are, and they are read at each connection (a rotated file is picked up).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator

from core.secrets import Secret
from core.units import parse_duration_ms

_NAME = re.compile(r"^[^\x00-\x1f]{1,255}$")


def seconds(value: object) -> float:
    """A duration: a number of seconds (0.5, 10) or a string ("500ms", "10s", "1m")."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        if not value > 0:
            raise ValueError(f"{value!r} is not a positive number of seconds")
        return float(value)
    return parse_duration_ms(value) / 1000


Seconds = Annotated[float, BeforeValidator(seconds)]


def _url(value: str) -> str:
    parts = urlsplit(value)
    if "@" in parts.netloc:  # before any message that quotes the URL: it may hold a password
        raise ValueError("url: give the server's URL without user or password (never echoed here); "
                         "write `username` and `password_file` or `password_env` instead")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL; write e.g. \"http://127.0.0.1:8086\"")
    if parts.query or parts.fragment:
        raise ValueError(f"{value!r}: give the server's base URL without a query or fragment")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise ValueError(f"{value!r}: {exc}") from None
    return value.rstrip("/")


class InfluxTarget(BaseModel):
    """A database to write line protocol to, and how to authenticate."""

    # hide_input_in_errors: str(ValidationError) must not print a URL carrying a password
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, hide_input_in_errors=True)

    api: Literal["v2", "v1"] = "v2"
    url: Annotated[str, BeforeValidator(lambda v: _url(v) if isinstance(v, str) else v)]
    org: str = ""  # v2: the organisation (InfluxDB 2/3 need it; VictoriaMetrics and 1.8 ignore it)
    bucket: str | None = None  # v2
    database: str | None = None  # v1
    retention_policy: str | None = None  # v1 (and 1.8's v2 bucket "db/rp"); None: the default RP
    token_file: str | None = None  # v2
    token_env: str | None = None  # v2
    username: str | None = None  # v1, or v2 against InfluxDB 1.8 (token = "username:password")
    password_file: str | None = None
    password_env: str | None = None
    timeout: Seconds = 10.0  # per attempt: connect + send + answer
    gzip: bool = True
    verify_tls: bool = True  # check an https server's certificate
    ca_file: str | None = None  # https: the CA that signed the server's certificate

    @model_validator(mode="after")
    def _consistent(self) -> InfluxTarget:
        for key in ("bucket", "database", "retention_policy", "org", "username"):
            value = getattr(self, key)
            if value is not None and value != "" and not _NAME.fullmatch(value):
                raise ValueError(f"{key} {value!r} is not a name (1-255 characters, no control "
                                 "characters)")
        if self.api == "v2":
            if not self.bucket:
                raise ValueError("api \"v2\" needs `bucket` (the bucket, or \"database/rp\" for "
                                 "InfluxDB 1.8)")
            if self.database is not None:
                raise ValueError("`database` is for api \"v1\"; with api \"v2\" write `bucket`")
            if self.token_file is not None and self.token_env is not None:
                raise ValueError("give token_file or token_env, not both")
            if self.retention_policy is not None:
                raise ValueError("`retention_policy` is for api \"v1\"; with api \"v2\" against "
                                 "InfluxDB 1.8 write bucket = \"database/retention_policy\"")
            if (self.token_file or self.token_env) and self.username:
                raise ValueError("give a token or username + password, not both")
        else:
            if not self.database:
                raise ValueError("api \"v1\" needs `database`")
            if self.bucket is not None:
                raise ValueError("`bucket` is for api \"v2\"; with api \"v1\" write `database`")
            if self.token_file is not None or self.token_env is not None:
                raise ValueError("api \"v1\" authenticates with username + password_file/password_env,"
                                 " not a token")
        if self.password_file is not None and self.password_env is not None:
            raise ValueError("give password_file or password_env, not both")
        if (self.password_file or self.password_env) and not self.username:
            raise ValueError("a password needs a username")
        if self.username and not (self.password_file or self.password_env):
            raise ValueError("username needs password_file or password_env")
        return self

    # -- secrets, read when needed ---------------------------------------------------------------

    def token(self) -> Secret | None:
        if self.token_file is not None:
            return Secret.from_file(self.token_file)
        if self.token_env is not None:
            return Secret.from_env(self.token_env)
        return None

    def password(self) -> Secret | None:
        if self.password_file is not None:
            return Secret.from_file(self.password_file)
        if self.password_env is not None:
            return Secret.from_env(self.password_env)
        return None

    def secrets(self) -> list[tuple[str, Secret]]:
        """(config key, secret) for every secret this target reads."""
        out: list[tuple[str, Secret]] = []
        for key in ("token_file", "token_env", "password_file", "password_env"):
            if getattr(self, key) is not None:
                secret = self.token() if key.startswith("token") else self.password()
                assert secret is not None
                out.append((key, secret))
        return out

    def relative_to(self, base: Path) -> InfluxTarget:
        """The same target with relative file paths resolved against `base` (the config's folder)."""
        update: dict[str, str] = {}
        for key in ("token_file", "password_file", "ca_file"):
            name = getattr(self, key)
            if name is not None:
                path = Path(name).expanduser()
                update[key] = str(path if path.is_absolute() else base / path)
        return self.model_copy(update=update)

    def describe(self) -> str:
        where = f"bucket {self.bucket!r}" if self.api == "v2" else f"database {self.database!r}"
        rp = f", retention policy {self.retention_policy!r}" if self.retention_policy else ""
        return f"{self.url} (write API {self.api}, {where}{rp})"

    @property
    def timeout_s(self) -> float:
        return float(self.timeout)


__all__ = ["InfluxTarget", "Seconds", "seconds"]
