"""`metergate watch --follow`: the running gateway's table from its MQTT topics, read-only.

For a technician at a site whose service is running: nothing is polled and no outbox is opened,
so it runs beside `metergate run` (no outbox lock, a client id the broker assigns, a clean
session, QoS 0 subscriptions). It subscribes to the gateway's own topics (docs/mqtt.md):
`…/meters/+/readings` (each poll as it is published), `…/meters/+/availability` (retained: state
and reason) and `…/health` (retained, every `health.interval`: the per-device counters, breaker and
last error the `watch` table shows). The table is the same one `watch` draws.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from core.contract.topics import Topics
from core.mqtt_client import password_now, tls_context
from core.reading import Quality
from core.tls_files import TlsFiles
from drivers.reader import Reading
from gateway.live import MeterView
from site_config import SiteConfig


class Follower:
    """The latest state of one gateway's meters, as its topics tell it."""

    def __init__(self, config: SiteConfig) -> None:
        if config.mqtt is None:
            raise ValueError(f"{config.path}: no [mqtt] section: there is nothing to follow")
        self.config = config
        self.mqtt = config.mqtt
        self.topics = Topics(self.mqtt.topic_prefix, config.site.id, config.site.gateway_id)
        self._lock = threading.Lock()
        self.meters: dict[str, MeterView] = {
            m.id: MeterView(m.id, m.variant.key, m.bus, m.address or m.unit, m.building)
            for m in config.meters}
        self.health: dict[str, Any] = {}
        self.health_at: float | None = None
        self.connected = False
        self.last_error: str | None = None
        self.client = self._client()

    # -- MQTT ------------------------------------------------------------------------------------

    def _client(self) -> paho.Client:
        m = self.mqtt
        v5 = m.protocol == "5"
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id="",  # the broker assigns one
                             clean_session=None if v5 else True,
                             protocol=paho.MQTTv5 if v5 else paho.MQTTv311)
        if m.tls is not None:
            client.tls_set_context(tls_context(TlsFiles(ca_file=m.tls.ca_file,
                                                        cert_file=m.tls.cert_file,
                                                        key_file=m.tls.key_file,
                                                        insecure=m.tls.insecure)))
            client.tls_insecure_set(m.tls.insecure)
        if m.username is not None or m.password is not None:
            client.username_pw_set(m.username, password_now(m.password))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def start(self) -> None:
        self.client.connect_async(self.mqtt.host, self.mqtt.port, keepalive=self.mqtt.keepalive)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any = None) -> None:
        if reason.is_failure:
            self.last_error = f"the broker refused the connection: {reason}"
            return
        self.connected, self.last_error = True, None
        base = self.topics.base
        client.subscribe([(f"{base}/meters/+/readings", 0), (f"{base}/meters/+/availability", 0),
                          (self.topics.health, 0)])

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any = None) -> None:
        self.connected = False
        self.last_error = f"disconnected from the broker: {reason}"

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        try:
            doc = json.loads(message.payload)
        except ValueError:
            return  # not ours to judge: a platform validates the contract
        if not isinstance(doc, dict):
            return
        # a document not of this contract's shape is left out (shown as no data), never guessed
        with contextlib.suppress(KeyError, TypeError, ValueError):
            self.take(message.topic, doc)

    # -- documents -------------------------------------------------------------------------------

    def take(self, topic: str, doc: dict[str, Any]) -> None:
        """One document from the gateway's topics."""
        if topic == self.topics.health:
            with self._lock:
                self.health, self.health_at = doc, time.time()
            return
        parts = topic.split("/")
        if len(parts) < 2 or parts[-2] not in self.meters:
            return
        view, kind = self.meters[parts[-2]], parts[-1]
        with self._lock:
            if kind == "availability":
                if doc["state"] != view.availability:
                    view.since = float(doc["ts"])
                view.availability, view.reason = str(doc["state"]), doc.get("reason")
            elif kind == "readings":
                readings = [Reading(r["quantity"], r["value"], r["unit"], Quality(r["quality"]),
                                    float(r.get("ts", doc["ts"]))) for r in doc["readings"]]
                view.polls += 1
                view.last_ts = float(doc["ts"])
                if readings and all(r.quality is Quality.COMM_ERROR for r in readings):
                    view.failed += 1
                else:
                    view.last_ok_ts = view.last_ts
                view.readings.update({r.quantity: r for r in readings})

    def snapshot(self) -> tuple[list[MeterView], dict[str, Any], dict[str, Any]]:
        """(meters, devices, buses) for gateway.watch_view.render."""
        with self._lock:
            views = [MeterView(v.meter, v.profile, v.bus, v.unit, v.building, dict(v.readings),
                               v.last_ts, v.last_ok_ts, v.polls, v.failed, v.availability,
                               v.reason, v.since) for v in self.meters.values()]
            health = self.health
        devices = {k: dict(v) for k, v in (health.get("devices") or {}).items()
                   if isinstance(v, dict)}
        raw_ts = health.get("ts")
        health_ts = float(raw_ts) if isinstance(raw_ts, int | float) else 0.0
        for v in views:
            # availability is published the moment it changes, health only every interval
            if v.since is not None and v.since > health_ts and v.meter in devices:
                devices[v.meter]["state"] = v.availability
        return views, devices, dict(health.get("buses") or {})
