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

Nothing fails silently: paho's client has a logger (its errors, e.g. an exception in a callback,
are logged), an exception out of `on_message` is logged with its traceback, and a stall watch
(`stall_after`) logs the oldest unacknowledged message once it has been the oldest that long:
acknowledgements go in order, so one message never acknowledged holds back every one behind it,
and with Receive Maximum the broker then stops sending.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from core.mqtt_client import LinkSettings, describe_refusal, tls_context
from core.secrets import SecretUnavailable
from services.shared.subscription import STALL_AFTER, MqttSettings

log = logging.getLogger(__name__)
# paho's own messages: its errors (a callback that raised, a socket error) at their level. Not
# DEBUG: paho formats a line for every packet there.
paho_log = logging.getLogger(f"{__name__}.paho")
paho_log.setLevel(logging.WARNING)


def _not_connection_state(record: logging.LogRecord) -> bool:
    """paho logs "Client is not connected" as an error on every pass of its loop without a socket
    (while reconnecting, at stop); the consumer reports the connection itself, once per reason."""
    return not str(record.msg).startswith("Client is not connected")


paho_log.addFilter(_not_connection_state)


# QoS 1; and Retain Handling 1: the broker sends retained messages only when the subscription is
# new. We subscribe again on every connection, and mosquitto 2.0 sends a topic's retained message
# at each such SUBSCRIBE, shared subscriptions included: a retained message (readings are never
# retained; a retained one is a publisher's mistake, or garbage) was handled again at every
# reconnection and every restart, dead-lettered anew each time.
_SUBSCRIBE = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)


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
    seq: int | None = None  # the payload's seq, once a checker has read it (for the stall watch)


@dataclass(frozen=True, slots=True)
class Stall:
    """The oldest unacknowledged message, oldest for `stuck_s` seconds (at least `stall_after`)."""
    topic: str
    mid: int
    seq: int | None
    age_s: float  # since it was received
    stuck_s: float  # since it became the oldest unacknowledged message
    behind: int  # unacknowledged messages received after it
    waiting_for: str  # what the service says it waits for

    def describe(self) -> str:
        seq = "seq unknown" if self.seq is None else f"seq {self.seq}"
        return (f"the oldest unacknowledged message (topic {self.topic}, mid {self.mid}, {seq}) was "
                f"received {self.age_s:.0f} s ago and has held up acknowledgements for "
                f"{self.stuck_s:.0f} s, with {self.behind} message(s) behind it: {self.waiting_for}")

    def document(self) -> dict[str, object]:
        return {"topic": self.topic, "mid": self.mid, "seq": self.seq, "age_s": round(self.age_s, 1),
                "stuck_s": round(self.stuck_s, 1), "behind": self.behind,
                "waiting_for": self.waiting_for}


class Consumer:
    def __init__(self, settings: MqttSettings, on_message: Callable[[Delivery], None], *,
                 on_published: Callable[[int, bool, str], None] | None = None,
                 on_connection: Callable[[bool, str], None] | None = None,
                 extra_topics: Sequence[str] = (), shared_topics: Sequence[str] = (),
                 stall_after: float = STALL_AFTER,
                 waiting_for: Callable[[Delivery], str] | None = None) -> None:
        """`extra_topics`: plain (not shared) subscriptions made beside the shared one on every
        connection, e.g. the analytics service's alert acknowledgement topics. `shared_topics`: the
        shared subscriptions to make instead of `settings.subscription` (the analytics service's, one
        per site it serves). `stall_after`: seconds (0: never) the oldest unacknowledged message may
        stay the oldest before the stall watch logs it; `waiting_for(delivery)` says in words what
        the service still waits for with it."""
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
        self.stall_after = stall_after
        self.waiting_for = waiting_for
        self.stall: Stall | None = None  # the current stall, if any (for health)
        self._unacked: OrderedDict[tuple[int, int], Delivery] = OrderedDict()  # (generation, mid)
        self._unacked_lock = threading.Lock()
        self._head: tuple[tuple[int, int], float] | None = None  # the oldest's key, since (monotonic)
        self._watch_stop = threading.Event()
        self._watch: threading.Thread | None = None
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
        client.enable_logger(paho_log)  # ... and is logged (paho logs it as an error)
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
        if self.stall_after > 0:
            self._watch = threading.Thread(target=self._watch_loop, name="mqtt-stall-watch", daemon=True)
            self._watch.start()

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
        self._watch_stop.set()
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()

    # -- used by the service ----------------------------------------------------------------------

    def ack(self, delivery: Delivery) -> bool:
        """PUBACK `delivery` if its connection is still the current one (else the broker re-sends it)."""
        with self._unacked_lock:
            self._unacked.pop((delivery.generation, delivery.mid), None)
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
        if session:  # the broker re-sends what was not acknowledged: the old copies cannot be any more
            with self._unacked_lock:
                self._unacked = OrderedDict((k, d) for k, d in self._unacked.items()
                                            if k[0] == self.generation)
        log.info("connected to %s as %r (session %s); subscribing to %s", self.settings.endpoint,
                 self.settings.client_id, "resumed" if session else "new", ", ".join(self.subscriptions))
        client.subscribe([(t, _SUBSCRIBE) for t in self.subscriptions])
        if self.extra_topics:
            client.subscribe([(t, _SUBSCRIBE) for t in self.extra_topics])
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
        try:
            topic = msg.topic
        except UnicodeDecodeError:  # paho decodes the topic as strict UTF-8; the broker should refuse it
            topic = bytes(msg._topic).decode("utf-8", "backslashreplace")
        delivery = Delivery(topic, bytes(msg.payload), msg.mid, msg.qos, self.generation, time.time())
        if msg.qos > 0:
            with self._unacked_lock:
                self._unacked[(delivery.generation, delivery.mid)] = delivery
        try:
            self.on_message(delivery)
        except Exception:  # a bug in the service: never silent (the stall watch names it if it stays)
            log.exception("handling the message from %s (mid %d) failed; it is not acknowledged",
                          topic, msg.mid)

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int, reason: ReasonCode,
                    properties: Any) -> None:
        if self.on_published is not None:
            ok = not reason.is_failure
            self.on_published(mid, ok, "" if ok else reason.getName())

    # -- the stall watch ---------------------------------------------------------------------------

    @property
    def unacked(self) -> int:
        """QoS 1 messages received on any connection and not yet passed to ack()."""
        return len(self._unacked)

    def check_stall(self, now: float | None = None) -> Stall | None:
        """Look at the oldest unacknowledged message: log it once it has been the oldest for
        `stall_after` seconds (once per message), and log again when acknowledgements move on."""
        now = time.monotonic() if now is None else now
        with self._unacked_lock:
            first = next(iter(self._unacked.items()), None)
            behind = len(self._unacked) - 1
        if first is None or self._head is None or self._head[0] != first[0]:
            if self.stall is not None:
                log.warning("acknowledgements move again: the message on %s (mid %d) that held them up "
                            "for %.0f s is no longer the oldest unacknowledged", self.stall.topic,
                            self.stall.mid, self.stall.stuck_s)
                self.stall = None
            self._head = None if first is None else (first[0], now)
            return None
        delivery = first[1]
        stuck = now - self._head[1]
        if stuck < self.stall_after:
            return None
        waiting = self._waiting_for(delivery)
        stall = Stall(delivery.topic, delivery.mid, delivery.seq, time.time() - delivery.received_at,
                      stuck, behind, waiting)
        if self.stall is None:
            log.error("acknowledgements are stuck: %s (received at %s)", stall.describe(),
                      datetime.fromtimestamp(delivery.received_at, UTC).isoformat(timespec="seconds"))
        self.stall = stall
        return stall

    def _waiting_for(self, delivery: Delivery) -> str:
        if not self.connected:
            return "not connected to the broker"
        if self.waiting_for is None:
            return "the service has not finished it"
        try:
            return self.waiting_for(delivery)
        except Exception as exc:  # the watch must not die of a bug in what it reports
            return f"unknown ({type(exc).__name__}: {exc})"

    def _watch_loop(self) -> None:
        interval = min(5.0, max(0.05, self.stall_after / 4))
        while not self._watch_stop.wait(interval):
            try:
                self.check_stall()
            except Exception:
                log.exception("the stall watch failed; it goes on")

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


