"""The outbox -> broker pump: publishes every stored poll with QoS 1 and deletes it on PUBACK.

One thread of its own drives the MQTT connection (core.mqtt_client.Link) and the outbox:

- The outbox, not the MQTT client, is the buffer. At most `window` QoS 1 messages are in flight
  (fewer if the broker's MQTT 5 Receive Maximum says so); the next ones are read from the outbox as
  acknowledgements free the window. A message is deleted from the outbox only on its PUBACK.
- After a disconnect everything in flight is forgotten and publishing resumes from the oldest
  unacknowledged message, in seq order. A message may so reach the broker twice, with the same seq
  and byte-identical payload; receivers de-duplicate (docs/mqtt.md).
- Retained documents (status, meter meta and availability, health, discovery) are kept here, the
  latest per topic, and re-published after every reconnect, before the readings backlog.
- The last will is the retained "offline" status; a clean stop publishes it too.
- Appending to the outbox never waits for the network: the appender calls `offer()` with the
  messages it just committed, or `notify()` after an append (the pump also looks at the outbox on
  its own every `outbox_poll_s` while it is not taking offers).
- The hand-off (`offer`): in steady state the pump publishes freshly committed messages from
  memory instead of reading them back. It reads from the outbox after every (re)connect until a
  read comes back short (it has caught up); from then on it takes offered messages as long as
  their seqs follow on without a gap. A gap (offers dropped because the pump fell `FRESH_MAX`
  behind), `notify()` (an append without an offer) or a new connection sends it back to the
  outbox, so order and completeness never depend on the hand-off.
- Errors (TLS files, credentials, an unreachable broker, an outbox that cannot be read) are logged
  once per change with the reason and retried for ever; the password never reaches a log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.contract import schema
from core.contract.topics import Topics, check_prefix, check_segment
from core.mqtt_client import (
    Ack,
    Connected,
    Link,
    LinkDown,
    LinkSettings,
    PasswordSource,
    ProtocolVersion,
    Will,
)
from core.tls_files import TlsFiles
from gateway.metrics import MqttCounts
from gateway.mqtt import discovery as ha_discovery
from gateway.mqtt import payloads
from gateway.threadname import name_this_thread

log = logging.getLogger(__name__)

# retained documents go out in this order after a (re)connect, before the readings backlog
_PRIORITY = {"status": 0, "meta": 1, "discovery": 2, "availability": 3, "health": 4}
RetainedKind = Literal["status", "meta", "discovery", "availability", "health"]


@dataclass(frozen=True)
class MqttOptions:
    """Everything the publisher needs; the site config is mapped onto this by the caller."""

    host: str
    site: str
    gateway: str
    port: int = 1883
    protocol: ProtocolVersion = "5"
    client_id: str = ""  # default: "{site}-{gateway}"
    username: str | None = None
    password: PasswordSource = field(default=None, repr=False, compare=False)  # str, callable, Secret
    tls: TlsFiles | None = None  # None: plain TCP
    keepalive: int = 60
    topic_prefix: str = "metergate"
    window: int = 100  # QoS 1 messages in flight at most
    reconnect_min: float = 1.0  # seconds; backoff doubles up to reconnect_max, with jitter
    reconnect_max: float = 30.0
    connect_timeout: float = 10.0
    timezone: str = "UTC"  # the offset of the readings' "time" field (IANA name)
    discovery: bool = False  # Home Assistant MQTT discovery
    discovery_prefix: str = ha_discovery.DEFAULT_PREFIX
    outbox_poll_s: float = 0.25  # look at the outbox this often even without notify()
    tick_s: float = 0.05  # longest wait for network I/O in one turn of the pump

    def __post_init__(self) -> None:
        Topics(check_prefix(self.topic_prefix), check_segment(self.site, "site id"),
               check_segment(self.gateway, "gateway id"))
        check_prefix(self.discovery_prefix)
        if not 1 <= self.window <= 65535:
            raise ValueError(f"window must be 1..65535 messages in flight, not {self.window}")
        if not 5 <= self.keepalive <= 65535:
            raise ValueError(f"keepalive must be 5..65535 s, not {self.keepalive}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone {self.timezone!r} is not an IANA time zone name "
                             "(e.g. 'Asia/Shanghai' or 'UTC')") from None
        self.link_settings()  # checks protocol, port and backoff

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix, self.site, self.gateway)

    def link_settings(self) -> LinkSettings:
        return LinkSettings(
            host=self.host, port=self.port, protocol=self.protocol,
            client_id=self.client_id or f"{self.site}-{self.gateway}", username=self.username,
            password=self.password, tls=self.tls, keepalive=self.keepalive,
            connect_timeout=self.connect_timeout, reconnect_min=self.reconnect_min,
            reconnect_max=self.reconnect_max)


class OutboxLike(Protocol):
    """What the publisher uses of gateway.outbox.Outbox."""

    def pending(self, after_seq: int = 0, limit: int = 100) -> Sequence[payloads.MessageLike]: ...
    def ack(self, seqs: Iterable[int]) -> int: ...
    def ack_with_next_commit(self, seqs: Iterable[int]) -> None: ...
    def depth(self) -> int: ...


@dataclass(frozen=True, slots=True)
class PublisherStats:
    connected: bool
    published: int  # readings messages sent, re-sends after a reconnect included
    acked: int  # readings messages the broker acknowledged (deleted from the outbox)
    in_flight: int  # QoS 1 messages sent and not yet acknowledged (readings and retained)
    max_in_flight: int  # the most ever in flight at once
    window: int  # the window in force: `window`, or less if the broker's Receive Maximum says so
    connections: int  # successful connections since start
    reconnects: int  # connections lost since start
    attempts: int  # connection attempts since start
    retained_published: int  # status, meta, availability, health and discovery messages sent
    refused: int  # PUBACKs with a failure reason code (MQTT 5)
    repaired: int  # readings rewritten to fit the contract (NaN, a value on an invalid reading)
    unpublishable: int  # messages left in the outbox because no valid payload can be built
    last_error: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _Retained:
    kind: RetainedKind
    payload: bytes


_Inflight = int | str  # an outbox seq (readings) or a topic (retained)
FRESH_MAX = 2000  # offered messages held for the pump at most; beyond, it reads the outbox again
# Acknowledged messages go back to the outbox in batches — this many, or after this long (the
# gateway passes its commit interval), deleted with the outbox's next commit — and at once before
# the outbox is read and at a stop. Every commit writes whole pages to the WAL; deleting a message a
# moment later only means it would be sent again after a crash (receivers de-duplicate by seq).
ACK_BATCH = 5_000
ACK_DELAY_S = 0.1


class Publisher:
    """Publishes the outbox to the broker from a thread of its own; see the module docstring."""

    def __init__(self, options: MqttOptions, outbox: OutboxLike, *,
                 clock: Callable[[], float] = time.time, ack_interval_s: float | None = None) -> None:
        self.options = options
        self._ack_interval = ACK_DELAY_S if ack_interval_s is None else ack_interval_s
        self.outbox = outbox
        self.clock = clock
        self.topics = options.topics
        self.tz = ZoneInfo(options.timezone)
        self.started = clock()
        self.link = Link(options.link_settings(), self, will=self._will)
        self._lock = threading.Lock()  # guards _retained and the counters read by stats()
        self._retained: dict[str, _Retained] = {}  # topic -> the latest document
        self._dirty: dict[str, None] = {}  # topics to (re-)publish, in the order they changed
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._stop_timeout = 5.0
        # pump state: touched by the pump thread only
        self._events: deque[Connected | Ack | str] = deque()
        self._inflight: dict[int, _Inflight] = {}
        self._window = options.window
        self._cursor = 0  # the highest seq sent on this connection
        self._to_ack: list[int] = []
        self._ack_since: float | None = None  # when the oldest of _to_ack was acknowledged
        self._look = True  # look at the outbox at the next chance
        self._last_look = 0.0
        self._logged: dict[str, str] = {}  # topic of a problem -> message last logged
        self._bad_seqs: set[int] = set()
        self._renderer = payloads.ReadingsRenderer(self.topics.site, self.topics.gateway, tz=self.tz)
        # the hand-off: appended by the committing thread, taken by the pump
        self._fresh: deque[payloads.MessageLike] = deque(maxlen=FRESH_MAX)
        self._fresh_open = False  # offers are kept only while connected
        self._synced = False  # pump: caught up with the outbox, taking offers
        # counters
        self._published = self._acked = self._max_in_flight = self._reconnects = 0
        self._retained_published = self._refused = self._repaired = self._unpublishable = 0
        self._set_retained(self.topics.status, "status", self._status_doc("online"))

    # -- public API (any thread) ------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the publisher is already started")
        self._thread = threading.Thread(target=self._run, name="mqtt-publisher", daemon=True)
        self._thread.start()
        log.info("MQTT publisher for %s started: broker %s, window %d", self.topics.base,
                 self.link.settings.describe(), self.options.window)

    def stop(self, timeout: float = 5.0) -> None:
        """Send what is in flight, publish the offline status, disconnect; at most ~`timeout` s."""
        thread = self._thread
        if thread is None:
            return
        self._stop_timeout = timeout
        self._stopping.set()
        self._wake.set()
        thread.join(timeout + 1.0)
        if thread.is_alive():
            log.warning("MQTT publisher did not stop within %g s", timeout)
        self._thread = None

    def notify(self) -> None:
        """Tell the pump the outbox has something new that was not offered (call after append;
        never blocks): it reads the outbox next."""
        self._look = True
        self._wake.set()

    def offer(self, messages: Iterable[payloads.MessageLike]) -> None:
        """Hand over messages just committed to the outbox, in seq order (never blocks)."""
        if self._fresh_open:
            self._fresh.extend(messages)
        self._wake.set()

    def counts(self) -> MqttCounts:
        """Connected, readings published and acknowledged (for Prometheus)."""
        return MqttCounts(self.link.up, self._published, self._acked)

    def set_meta(self, meter: str, doc: Mapping[str, Any]) -> None:
        """Publish (retained) what the meter is: a document from payloads.meta_doc/meta_from_variant."""
        topic = self.topics.meta(meter)
        if doc.get("meter") != meter:
            raise payloads.PayloadError(f"meta document for meter {doc.get('meter')!r} given for {meter!r}")
        schema.validate(doc, "meta")
        self._set_retained(topic, "meta", dict(doc))
        if self.options.discovery:
            for dtopic, ddoc in ha_discovery.config_messages(self.topics, doc,
                                                          prefix=self.options.discovery_prefix):
                self._set_retained(dtopic, "discovery", ddoc)

    def set_availability(self, meter: str, state: str, reason: str | None = None) -> None:
        """Publish (retained) whether the meter can be read; the latest state wins."""
        doc = payloads.availability_doc(meter, state, self.clock(), reason)
        self._set_retained(self.topics.availability(meter), "availability", doc)

    def publish_health(self, doc: Mapping[str, Any]) -> None:
        """Publish (retained) a health document from its parts: outbox, buses, devices, mqtt.

        A missing "outbox" or "mqtt" part is filled in from the outbox and the publisher's stats.
        """
        now = self.clock()
        outbox = doc.get("outbox")
        if outbox is None:
            stats = getattr(self.outbox, "stats", None)
            raw: Any = stats() if callable(stats) else {"depth": self.outbox.depth()}
            outbox = asdict(raw) if is_dataclass(raw) and not isinstance(raw, type) else dict(raw)
        health = payloads.health_doc(
            self.topics.site, self.topics.gateway, ts=now, uptime_s=max(0.0, now - self.started),
            outbox=outbox, buses=doc.get("buses", {}), devices=doc.get("devices", {}),
            mqtt=doc.get("mqtt") or self.stats().as_dict())
        self._set_retained(self.topics.health, "health", health)

    def stats(self) -> PublisherStats:
        with self._lock:
            return PublisherStats(
                connected=self.link.up, published=self._published, acked=self._acked,
                in_flight=len(self._inflight), max_in_flight=self._max_in_flight, window=self._window,
                connections=self.link.connections, reconnects=self._reconnects,
                attempts=self.link.attempts, retained_published=self._retained_published,
                refused=self._refused, repaired=self._repaired, unpublishable=self._unpublishable,
                last_error=self.link.last_error)

    # -- LinkListener (called by the Link inside the pump thread) ---------------------------------

    def link_up(self, info: Connected) -> None:
        self._events.append(info)

    def link_down(self, reason: str) -> None:
        self._events.append(reason)

    def link_ack(self, ack: Ack) -> None:
        self._events.append(ack)

    # -- the pump ---------------------------------------------------------------------------------

    def _run(self) -> None:
        name_this_thread("mqtt-publisher")
        while not self._stopping.is_set():
            try:
                self._turn()
            except Exception as exc:  # the pump never dies: say so once, wait, go on
                self._problem("pump", f"MQTT publisher: unexpected error, retrying in 1 s: {exc!r}",
                              exc_info=True)
                self._stopping.wait(1.0)
        try:
            self._finish(self._stop_timeout)
        except Exception:
            log.exception("MQTT publisher: error while stopping")

    def _turn(self) -> None:
        if self.link.state == "down":
            wait = min(self.link.wait_hint(), 1.0)
            if wait > 0 and self._wake.wait(wait):
                self._wake.clear()
            self.link.poll(0.0)
        else:
            busy = self._has_work()
            self.link.poll(0.0 if busy else self.options.tick_s)
            self._wake.clear()
        self._handle_events()
        if self.link.up:
            self._fill()
            self._handle_events()

    def _has_work(self) -> bool:
        """True when the window has room and something waits: a retained document or the outbox."""
        if len(self._inflight) >= self._window:
            return False
        if self._look or (self._synced and self._fresh):
            return True
        with self._lock:
            return bool(self._dirty)

    def _handle_events(self, *, flush: bool = False) -> None:
        while self._events:
            event = self._events.popleft()
            if isinstance(event, Ack):
                self._on_ack(event)
            elif isinstance(event, Connected):
                self._on_connected(event)
            else:
                self._on_lost(event)
        if not self._to_ack:
            return
        now = time.monotonic()
        if self._ack_since is None:
            self._ack_since = now
        if flush or len(self._to_ack) >= ACK_BATCH or now - self._ack_since >= self._ack_interval:
            self._delete_acked(now=flush)

    def _delete_acked(self, *, now: bool = True) -> None:
        """Hand the acknowledged seqs to the outbox: deleted with its next commit (steady state), or
        at once with every one still waiting there (`now`: before reading the outbox, at a stop)."""
        if self._to_ack or now:
            seqs, self._to_ack = self._to_ack, []
            try:
                if now:
                    self.outbox.ack(seqs)
                else:
                    self.outbox.ack_with_next_commit(seqs)
            except Exception as exc:  # kept and retried: the messages stay sent, not yet deleted
                self._to_ack = seqs + self._to_ack
                self._problem("outbox-ack", f"MQTT publisher: cannot delete acknowledged messages from "
                                            f"the outbox ({exc}); retrying")
            else:
                self._ack_since = None
                self._solved("outbox-ack", "MQTT publisher: the outbox takes acknowledgements again")

    def _reset_fresh(self, open_: bool) -> None:
        """On every new connection (and loss): forget offers and go back to the outbox. Whatever was
        offered before this is committed, so the next outbox read finds it if it is still there."""
        self._fresh_open = open_
        self._fresh.clear()
        self._synced = False

    def _on_connected(self, info: Connected) -> None:
        with self._lock:
            self._inflight.clear()
        self._cursor = 0
        self._look = True
        self._reset_fresh(True)
        self._window = min(self.options.window, info.receive_maximum or self.options.window)
        if self._window < self.options.window:
            log.info("MQTT broker takes at most %d messages in flight (Receive Maximum); window %d",
                     self._window, self._window)
        with self._lock:
            self._dirty = dict.fromkeys(self._retained)
        self._set_retained(self.topics.status, "status", self._status_doc("online"))

    def _on_lost(self, reason: str) -> None:
        with self._lock:
            self._reconnects += 1
            self._inflight.clear()
        self._cursor = 0
        self._look = True
        self._reset_fresh(False)

    def _on_ack(self, ack: Ack) -> None:
        with self._lock:
            what = self._inflight.pop(ack.token, None)
        if what is None:
            return
        if ack.ok:
            if isinstance(what, int):
                self._to_ack.append(what)
                with self._lock:
                    self._acked += 1
            return
        with self._lock:
            self._refused += 1
            if isinstance(what, str) and what in self._retained:
                self._dirty[what] = None
        label = f"seq {what}" if isinstance(what, int) else f"the retained message on {what}"
        self._problem("refused", f"MQTT broker {self.link.settings.endpoint} refused {label}: "
                                 f"{ack.reason}; reconnecting to send it again")
        self.link.drop(f"the broker refused {label}: {ack.reason}")

    def _fill(self) -> None:
        """Send retained documents, then outbox messages, while the window has room."""
        try:
            self._fill_retained()
            self._fill_readings()
        except LinkDown:
            pass  # the link reported the loss; _on_lost resets the state

    def _free(self) -> int:
        return self._window - len(self._inflight)

    def _fill_retained(self) -> None:
        free = self._free()
        if free <= 0 or not self._dirty:
            return
        with self._lock:
            order = sorted((_PRIORITY[self._retained[t].kind], n, t) for n, t in enumerate(self._dirty))
        for _, _, topic in order[:free]:
            with self._lock:
                self._dirty.pop(topic, None)
                item = self._retained[topic]
            try:
                token = self.link.publish(topic, item.payload, qos=1, retain=True)
            except LinkDown:
                with self._lock:
                    self._dirty[topic] = None
                raise
            self._sent(token, topic)
            with self._lock:
                self._retained_published += 1

    def _fill_readings(self) -> None:
        if self._synced and not self._look and self._take_fresh():
            return
        now = time.monotonic()
        if not (self._look or now - self._last_look >= self.options.outbox_poll_s):
            return
        while (free := self._free()) > 0:
            self._look = False
            self._last_look = now
            self._delete_acked()  # what is acknowledged is not read (and sent) again
            try:
                batch = self.outbox.pending(after_seq=self._cursor, limit=free)
            except Exception as exc:
                self._problem("outbox-read", f"MQTT publisher: cannot read the outbox ({exc}); retrying")
                return
            self._solved("outbox-read", "MQTT publisher: the outbox can be read again")
            for message in batch:
                self._send(message)
            if len(batch) < free:
                # caught up: what is committed from now on is offered (and what was offered
                # before this read is in it, or was acknowledged already)
                self._synced = self._fresh_open
                return
            self._look = True  # a full batch: there may be more once the window frees up

    def _take_fresh(self) -> bool:
        """Publish offered messages while the window has room; False if the outbox must be read
        (a gap in the seqs: something was not offered)."""
        fresh = self._fresh
        while fresh and self._free() > 0:
            message = fresh.popleft()
            seq = message.seq
            if seq <= self._cursor:
                continue  # committed before the last outbox read, which had it
            if self._cursor and seq != self._cursor + 1:
                self._synced = False
                self._look = True
                return False  # this one and the missing ones are read from the outbox
            self._send(message)
        return True

    def _send(self, message: payloads.MessageLike) -> None:
        self._cursor = message.seq
        payload = self._render(message)
        if payload is None:
            return
        token = self.link.publish(self.topics.readings(message.meter), payload, qos=1)
        self._sent(token, message.seq)
        with self._lock:
            self._published += 1

    def _sent(self, token: int, what: _Inflight) -> None:
        with self._lock:
            self._inflight[token] = what
            self._max_in_flight = max(self._max_in_flight, len(self._inflight))

    def _render(self, message: payloads.MessageLike) -> bytes | None:
        """The payload of an outbox message; None if it cannot be published (left in the outbox)."""
        try:
            return self._renderer.render(message)
        except payloads.PayloadError as exc:
            problem = str(exc)
        if not message.readings:  # nothing to publish: an empty poll is acknowledged as it is
            self._to_ack.append(message.seq)
            return None
        fixed = [payloads.repair_reading(r) for r in message.readings]
        notes = [note for _, note in fixed if note]
        if notes:
            repaired = _Message(message.seq, message.meter, message.ts, tuple(r for r, _ in fixed))
            try:
                payload = self._renderer.render(repaired)
            except payloads.PayloadError as exc:
                problem = str(exc)
            else:
                with self._lock:
                    self._repaired += 1
                self._problem(f"repair:{message.meter}",
                              f"MQTT publisher: meter {message.meter} seq {message.seq}: {notes[0]}; "
                              "published as invalid with no value (logged once per meter)",
                              level=logging.WARNING, key_text=f"repair {message.meter}")
                return payload
        if message.seq not in self._bad_seqs:
            self._bad_seqs.add(message.seq)
            with self._lock:
                self._unpublishable += 1
            log.error("MQTT publisher: outbox message seq %d (meter %r) cannot be published: %s; it stays "
                      "in the outbox and is skipped", message.seq, message.meter, problem)
        return None

    def _finish(self, timeout: float) -> None:
        """Clean stop: wait for what is in flight, publish the offline status, disconnect."""
        deadline = time.monotonic() + max(0.0, timeout)
        if self.link.up:
            while self._inflight and self.link.up and time.monotonic() < deadline:
                self.link.poll(min(self.options.tick_s, max(0.0, deadline - time.monotonic())))
                self._handle_events()
            self._set_retained(self.topics.status, "status", self._status_doc("offline"))
            try:
                with self._lock:
                    item = self._retained[self.topics.status]
                    self._dirty.pop(self.topics.status, None)
                token = self.link.publish(self.topics.status, item.payload, qos=1, retain=True)
                self._sent(token, self.topics.status)
                while token in self._inflight and self.link.up and time.monotonic() < deadline:
                    self.link.poll(min(self.options.tick_s, max(0.0, deadline - time.monotonic())))
                    self._handle_events()
            except LinkDown:
                pass
        self.link.close(max(0.1, deadline - time.monotonic()))
        self._handle_events(flush=True)
        log.info("MQTT publisher stopped: %d readings messages acknowledged, %d still in the outbox",
                 self._acked, _depth(self.outbox))

    # -- helpers ----------------------------------------------------------------------------------

    def _status_doc(self, state: str) -> dict[str, Any]:
        return payloads.status_doc(self.topics.site, self.topics.gateway, state=state, ts=self.clock(),
                                   started=self.started)

    def _will(self) -> Will:
        return Will(self.topics.status, payloads.encode(self._status_doc("offline")), qos=1, retain=True)

    def _set_retained(self, topic: str, kind: RetainedKind, doc: Mapping[str, Any]) -> None:
        payload = payloads.encode(doc)
        with self._lock:
            self._retained[topic] = _Retained(kind, payload)
            self._dirty[topic] = None
        self._wake.set()

    def _problem(self, key: str, message: str, *, level: int = logging.ERROR, exc_info: bool = False,
                 key_text: str | None = None) -> None:
        """Log `message` unless the same was the last thing logged for `key`."""
        text = key_text or message
        if self._logged.get(key) != text:
            self._logged[key] = text
            log.log(level, "%s", message, exc_info=exc_info)

    def _solved(self, key: str, message: str) -> None:
        if self._logged.pop(key, None) is not None:
            log.info("%s", message)


@dataclass(frozen=True, slots=True)
class _Message:
    seq: int
    meter: str
    ts: float
    readings: Sequence[payloads.ReadingLike]


def _depth(outbox: OutboxLike) -> int | str:
    try:
        return outbox.depth()
    except Exception:  # only for the closing log line
        return "?"
