"""How a service subscribes to the readings: broker, credentials, TLS, share group and session
(from the ingest or the analytics config)."""

from __future__ import annotations

from dataclasses import dataclass

from core.contract.topics import readings_filter, shared_readings_filter
from core.secrets import Secret
from core.tls_files import TlsFiles

STALL_AFTER = 120.0  # [health] stall_after: the oldest unacknowledged message held this long is logged


@dataclass(frozen=True)
class MqttSettings:
    host: str
    port: int
    client_id: str
    share_group: str
    topic_prefix: str
    session_expiry: float
    keepalive: int
    receive_maximum: int
    username: str | None
    password: Secret | None
    tls: TlsFiles | None

    @property
    def subscription(self) -> str:
        if not self.share_group:
            return readings_filter(self.topic_prefix)
        return shared_readings_filter(self.share_group, self.topic_prefix)

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"
