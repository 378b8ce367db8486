"""The TLS files of an MQTT connection, as the configs give them and the clients use them.

Apart from core.mqtt_config (which checks them with pydantic) so that a running gateway, holding a
config loaded in a child process, does not import the validation library (core.forked_load)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca_file: str | Path | None = None  # None: the system's CA store
    cert_file: str | Path | None = None  # client certificate (PEM), with key_file
    key_file: str | Path | None = None  # None with a cert_file: the key is in the certificate file
    insecure: bool = False  # do not check the broker's host name (the chain is still verified)


__all__ = ["TlsFiles"]
