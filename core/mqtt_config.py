"""The MQTT client keys every config shares — `[mqtt]` and `[mqtt.tls]` of the site, ingest and
analytics configs — and the one way their files and password are resolved, so every service refuses
the same mistakes with the same words (a missing CA file is an error everywhere, relative paths start
at the config file's folder). No paho here: a config can be checked without loading the client."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from core.problems import Findings
from core.secrets import Secret, SecretUnavailable, readable_by_others
from core.tls_files import TlsFiles
from core.toml_lines import KeyPath

Port = Annotated[int, Field(ge=1, le=65535)]


class TlsSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    ca_file: str | None = None  # None: the system's CA store
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False  # skip the host-name check (test brokers only)


class ClientSpec(BaseModel):
    """The keys of an MQTT client that mean the same in every config; each config's [mqtt] model
    adds its own (client id default, topic prefix, share group ...)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    host: str
    port: Port | None = None  # 1883, or 8883 with tls
    username: str | None = None
    password_file: str | None = None
    password_env: str | None = None
    tls: TlsSpec | None = None

    def default_port(self) -> int:
        return self.port or (8883 if self.tls is not None else 1883)


def relative_to(base: Path, name: str) -> Path:
    """`name` as written in a config: ~ expanded, relative to the config file's folder `base`."""
    path = Path(name).expanduser()
    return path if path.is_absolute() else base / path


def resolve_tls(spec: TlsSpec, base: Path, f: Findings, table: str = "mqtt") -> TlsFiles:
    """The TLS files of `[table.tls]`, each checked now: a file that is missing, a folder or unreadable
    is an error naming the key (the service would fail at its first connection otherwise)."""
    files: dict[str, Path | None] = {}
    for key in ("ca_file", "cert_file", "key_file"):
        name = getattr(spec, key)
        path = files[key] = None if name is None else relative_to(base, name)
        if path is None:
            continue
        if not path.is_file():
            what = "is a directory" if path.is_dir() else "does not exist"
            f.error((table, "tls", key), f"{path} {what}; give the path of the PEM file "
                                         "(relative paths start at the config file's folder)")
        elif not os.access(path, os.R_OK):
            f.error((table, "tls", key), f"{path} is not readable by this user; give the service's "
                                         "user read access")
    if spec.key_file is not None and spec.cert_file is None:
        f.error((table, "tls", "key_file"), "a client key needs its certificate: set cert_file too")
    if spec.insecure:
        f.warn((table, "tls", "insecure"), "the broker's host name is not checked against its "
                                           "certificate; use only with a test broker")
    return TlsFiles(files["ca_file"], files["cert_file"], files["key_file"], spec.insecure)


def resolve_password(spec: ClientSpec, base: Path, f: Findings, *, require_env: bool,
                     table: str = "mqtt") -> Secret | None:
    """The password of `[table]` from password_file or password_env (never from the config itself)."""
    if spec.password_file is not None and spec.password_env is not None:
        f.error((table, "password_env"), "give password_file or password_env, not both")
        return None
    if spec.password_file is not None:
        key, secret = "password_file", Secret.from_file(relative_to(base, spec.password_file))
    elif spec.password_env is not None:
        key, secret = "password_env", Secret.from_env(spec.password_env)
    else:
        return None
    check_secret(secret, (table, key), f, require_env=require_env)
    return secret


def check_secret(secret: Secret, key: KeyPath, f: Findings, *, require_env: bool) -> None:
    """An unavailable secret is an error — or, for an environment variable while only checking the
    config (`require_env=False`), a warning; a file others can read is a warning."""
    try:
        secret.check()
    except SecretUnavailable as exc:
        if secret.source == "env" and not require_env:
            f.warn(key, f"{exc}; the service needs it when it runs")
        else:
            f.error(key, str(exc))
    if secret.source == "file" and readable_by_others(secret.name):
        f.warn(key, f"{secret.name} is readable by every user; chmod o-r {secret.name}")


def refuse_inline_secrets(data: dict[str, object], table: str, f: Findings,
                          keys: tuple[str, ...] = ("password",)) -> dict[str, object]:
    """`data` without a password (or token) written into the config itself, each one an error that
    says where the secret belongs instead; the rest of the table is still checked."""
    if not any(k in data for k in keys):
        return data
    data = dict(data)
    for key in keys:
        if data.pop(key, None) is not None:
            f.error((table, key), f"never write the {key} into the config: put it in a file readable "
                                  f"only by the service ({key}_file = \"/etc/metergate/{table}-{key}\") "
                                  f"or in an environment variable ({key}_env = "
                                  f"\"METERGATE_{table.upper()}_{key.upper()}\")")
    return data
