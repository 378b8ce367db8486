"""The paho-mqtt side of ingest: one member of a shared subscription with a persistent session,
QoS 1 and manual acknowledgement.

- MQTT 5, `clean_start=False` and a Session Expiry Interval: the broker keeps the subscription
  and every unacknowledged message while ingest is down or restarting (same client id).
- `$share/{group}/{prefix}/v1/+/+/meters/+/readings`: the members of a group split the messages.
- `manual_ack=True`: paho does not acknowledge on receipt; `ack(delivery)` sends the PUBACK once
  the caller has stored the message. A message never acknowledged is re-sent by the broker at the
  next connection (to this member, or to another one if this session expires).
- Receive Maximum (CONNECT property): the broker sends at most that many unacknowledged messages,
  which bounds the memory ingest needs while the database is down.

paho's own thread (loop_start) reconnects with backoff for ever, also when the broker is not there
at start. Callbacks run on that thread. Deliveries carry the connection's `generation`: a PUBACK
is only sent on the connection that delivered the message (after a reconnect the broker re-sends
what was not acknowledged, and that copy is acknowledged instead).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.config.secrets import SecretUnavailable
from gateway.ingest.config import MqttSettings
from gateway.mqtt.paho_adapter import LinkSettings, describe_refusal, tls_context

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Delivery:
    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int
    received_at: float  # time.time()
    done: bool = False  # written or dead-lettered: may be acknowledged
    parts: int = 1  # what must finish before it is done: its write, and/or each of its dead letters


class Consumer:
    def __init__(self, settings: MqttSettings, on_message: Callable[[Delivery], None], *,
                 on_published: Callable[[int, bool, str], None] | None = None,
                 on_connection: Callable[[bool, str], None] | None = None,
                 extra_topics: Sequence[str] = (), shared_topics: Sequence[str] = ()) -> None:
        """`extra_topics`: plain (not shared) subscriptions made beside the shared one on every
        connection, e.g. the analytics service's alert acknowledgement topics. `shared_topics`: the
        shared subscriptions to make instead of `settings.subscription` (the analytics service's, one
        per site it serves)."""
        self.settings = settings
        self.extra_topics = list(extra_topics)
        self.subscriptions = list(shared_topics) or [settings.subscription]
        self.on_message = on_message
        self.on_published = on_published
        self.on_connection = on_connection
        self.generation = 0
        self.connected = False
        self.session_present = False  # the broker resumed our session at the last connection
        self.connections = 0
        self.last_error: str | None = None
        self._logged: set[str] = set()
        self._subscribed = threading.Event()
        self._link = LinkSettings(host=settings.host, port=settings.port, client_id=settings.client_id,
                                  username=settings.username, tls=settings.tls)
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=settings.client_id,
                             protocol=paho.MQTTv5, manual_ack=True)
        client.reconnect_delay_set(1, 30)
        client.max_inflight_messages_set(100)  # our own publishes: dead letters and health
        client.max_queued_messages_set(0)
        if settings.tls is not None:
            client.tls_set_context(tls_context(settings.tls))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        client.on_connect_fail = self._on_connect_fail
        client.suppress_exceptions = True  # an exception in a callback must not end the network thread
        self.client = client

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> None:
        s = self.settings
        self._credentials()
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = int(s.session_expiry)
        props.ReceiveMaximum = s.receive_maximum
        self.client.connect_async(s.host, s.port, s.keepalive, clean_start=False, properties=props)
        self.client.loop_start()

    @property
    def running(self) -> bool:
        """paho's network thread is alive (it reconnects by itself while it is)."""
        thread = getattr(self.client, "_thread", None)
        return thread is not None and thread.is_alive()

    def wait_subscribed(self, timeout: float) -> bool:
        return self._subscribed.wait(timeout)

    def stop(self) -> None:
        """Disconnect cleanly: the session stays on the broker (its expiry interval), with every
        message not yet acknowledged."""
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()

    # -- used by the service ----------------------------------------------------------------------

    def ack(self, delivery: Delivery) -> bool:
        """PUBACK `delivery` if its connection is still the current one (else the broker re-sends it)."""
        if delivery.generation != self.generation or not self.connected:
            return False
        return self.client.ack(delivery.mid, delivery.qos) == MQTTErrorCode.MQTT_ERR_SUCCESS

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        """Queue a publication; returns its mid (on_published(mid, ok, reason) when the broker
        acknowledges a QoS 1 message). paho keeps it across a reconnect."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        return int(info.mid)

    # -- paho callbacks (paho's thread) ----------------------------------------------------------

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode,
                    properties: Any) -> None:
        if reason.is_failure:
            self._failed(describe_refusal(reason, self._link))
            self._credentials()
            return
        self.generation += 1
        self.connected = True
        self.connections += 1
        self.last_error = None
        self._logged.clear()
        session = bool(getattr(flags, "session_present", False))
        self.session_present = session
        log.info("connected to %s as %r (session %s); subscribing to %s", self.settings.endpoint,
                 self.settings.client_id, "resumed" if session else "new", ", ".join(self.subscriptions))
        client.subscribe([(t, 1) for t in self.subscriptions])
        if self.extra_topics:
            client.subscribe([(t, 1) for t in self.extra_topics])
        if self.on_connection is not None:
            self.on_connection(True, "")

    def _on_subscribe(self, client: paho.Client, userdata: Any, mid: int, reasons: list[ReasonCode],
                      properties: Any) -> None:
        bad = [r for r in reasons if r.is_failure]
        if bad:
            self._failed(f"the broker refused the subscription {', '.join(self.subscriptions)}: "
                         f"{bad[0].getName()} (does it support MQTT 5 shared subscriptions, and may "
                         f"this user subscribe?)")
            return
        self._subscribed.set()

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode,
                       properties: Any) -> None:
        was = self.connected
        self.connected = False
        self._credentials()
        if was:
            text = reason.getName() if hasattr(reason, "getName") else str(reason)
            log.warning("connection to %s lost (%s); reconnecting; unacknowledged messages will be "
                        "re-delivered", self.settings.endpoint, text)
            if self.on_connection is not None:
                self.on_connection(False, text)

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        self._failed(f"cannot connect to {self.settings.endpoint}")
        self._credentials()

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        self.on_message(Delivery(msg.topic, bytes(msg.payload), msg.mid, msg.qos, self.generation,
                                 time.time()))

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int, reason: ReasonCode,
                    properties: Any) -> None:
        if self.on_published is not None:
            ok = not reason.is_failure
            self.on_published(mid, ok, "" if ok else reason.getName())

    def _credentials(self) -> None:
        """Give paho the user name and the password as its source holds it now (read again before
        each reconnection, so a corrected or rotated password file is picked up)."""
        s = self.settings
        if s.password is not None:
            try:
                self.client.username_pw_set(s.username, s.password.reveal())
            except SecretUnavailable as exc:
                self._failed(f"the MQTT password is unavailable: {exc}")
        elif s.username is not None:
            self.client.username_pw_set(s.username)

    def _failed(self, reason: str) -> None:
        self.last_error = reason
        if reason not in self._logged:
            self._logged.add(reason)
            log.error("MQTT %s: %s; retrying with backoff", self.settings.endpoint, reason)
        else:
            log.debug("MQTT %s: %s", self.settings.endpoint, reason)


