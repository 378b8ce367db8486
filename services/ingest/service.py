"""The ingest service: MQTT readings in, points written, messages acknowledged, garbage dead-lettered.

Two threads share the work:
- paho's network thread (consumer.py) checks each message as it arrives (validate.py) and either
  appends its lines to the open batch or publishes it to the dead-letter topic;
- the writer thread takes the batch when it holds `max_points` points or its oldest message is
  `max_delay` old, writes it (LineWriter: synchronous, retried with backoff for ever while the
  database is down), and only then marks its messages done.

Acknowledgement: every message received joins `pending` in arrival order and is acknowledged
(PUBACK, in that order, as MQTT asks) once it and all before it are done: written, or dead-lettered
and the dead letter acknowledged by the broker. A message is never acknowledged before its points
are written, so a database outage or a crash of this process loses nothing: the broker re-delivers
what was not acknowledged, and re-delivered readings overwrite themselves (same series, same
timestamp). Memory is bounded by the broker: it sends at most `receive_maximum` unacknowledged
messages; after a reconnect the old copies not yet written are dropped (the broker re-sends them).

A message whose envelope is wrong is dead-lettered whole. A well-formed message with some bad
readings (a reading's time out of range, a value beyond a float) has its good readings written and
one dead letter with the refused readings, a reason each; it is done when both are.

A batch the database refuses as data (HTTP 400/413/422, e.g. a field type conflict with points
written by someone else) is split in halves and each half written again, down to single lines:
the refused lines' readings are dead-lettered (one dead letter per message) with the database's
reason, every other line is written. A refused dead-letter publication (e.g. an ACL) is logged and
counted, and the message is still acknowledged: it is garbage, and holding it would stall every
acknowledgement behind it.

No message can stall the others: whatever raises while one message is handled (checking it,
making or publishing its dead letter, splitting a refused batch) ends in a dead letter of kind
`internal` (a bug, logged with its traceback), or, if not even the plainest dead letter can be
published, in a log line; either way the message is finished and acknowledged in its turn. A dead
letter is encoded so that it cannot fail (a lone surrogate in a reading is written as the JSON
escape `\ud800` it arrived as). A batch whose write raises unexpectedly is tried again
(UNEXPECTED_TRIES times), then split like a refused batch, so one bad line cannot hold the writer.
The consumer's stall watch (`[health] stall_after`) logs the oldest unacknowledged message if it
stays the oldest that long, with what it waits for; the health document carries it as `stalled`.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from core.errors import MetergateError
from core.mqtt_client import TlsFileError
from core.sdnotify import notify, watchdog_interval
from services.ingest.config import IngestConfig
from services.ingest.health import IngestMetrics
from services.shared.consumer import Consumer, Delivery
from services.shared.validate import Checked, Refused, RefusedReading, Validator
from services.shared.writer import LineWriter, WriteError

log = logging.getLogger(__name__)

DEAD_LETTER_SCHEMA = "metergate.dead-letter/1"
UNEXPECTED_TRIES = 3  # a batch whose write raises something unexpected this often is split


class StartError(MetergateError):
    """The service cannot start; the message says why and what to change."""


@dataclass(slots=True)
class _Message:
    delivery: Delivery
    lines: list[str]
    ts: float
    index: tuple[int, ...] | None = None  # lines[i] is readings[index[i]]; None: readings[i]


@dataclass(slots=True)
class _Bisection:
    """What halving a refused batch found: lines refused per message (batch position -> [(line
    position, the database's error)]), and how many lines were written."""
    refused: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    written: int = 0


class IngestService:
    def __init__(self, config: IngestConfig, *, metrics: IngestMetrics | None = None) -> None:
        self.config = config
        self.metrics = metrics or IngestMetrics()
        self.validator = Validator(prefix=config.mqtt.topic_prefix,
                                   max_payload_bytes=config.max_payload_bytes,
                                   max_future=config.max_future, min_timestamp=config.min_timestamp)
        self.writer = LineWriter(config.influx, config.retry, on_attempt=self.metrics.attempt)
        try:
            self.consumer = Consumer(config.mqtt, self._on_message, on_published=self._on_published,
                                     on_connection=self._on_connection, stall_after=config.stall_after,
                                     waiting_for=self._waiting_for)
        except TlsFileError as exc:
            raise StartError(f"[mqtt.tls]: {exc}") from None
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._ack_lock = threading.Lock()
        self._pending: deque[Delivery] = deque()
        self._batch: list[_Message] = []
        self._batch_points = 0
        self._batch_since: float | None = None
        self._writing: list[_Message] = []  # the batch the writer thread holds
        # our QoS 1 publications by mid: a dead letter's refused message, or None (health); and the
        # PUBACKs that arrived before publish() returned the mid (dead letters from the writer thread)
        self._published: dict[int, Delivery | None] = {}
        self._early: dict[int, tuple[bool, str]] = {}
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.metrics.count_unacked(lambda: len(self._pending))
        self.metrics.watch_stalls(lambda: self.consumer.stall)

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the threads and connect; StartError if the Prometheus endpoint cannot listen."""
        if self.config.prometheus is not None:
            host, port = self.config.prometheus
            try:
                self.metrics.serve(host, port)
            except OSError as exc:
                raise StartError(f"cannot serve Prometheus metrics on {host}:{port}: "
                                 f"{exc.strerror or exc}; set [health] prometheus_port to a free port, "
                                 f"or 0 to turn the endpoint off") from None
            log.info("Prometheus metrics on http://%s:%d/metrics", host, port)
        log.info("writing to %s; batches of up to %d points or %.3g s; subscription %s",
                 self.config.influx.describe(), self.config.max_points, self.config.max_delay,
                 self.config.mqtt.subscription)
        loops = [("ingest-writer", self._write_loop), ("ingest-health", self._health_loop)]
        if watchdog_interval() is not None:
            loops.append(("ingest-watchdog", self._watchdog_loop))
        for name, target in loops:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        self.consumer.start()
        notify(f"READY=1\nSTATUS=ingesting {self.config.mqtt.subscription} into "
               f"{self.config.influx.describe()}")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking messages, let a write in progress finish (a retry wait is cut short),
        acknowledge what was written, disconnect. Unacknowledged messages stay with the broker."""
        notify("STOPPING=1")
        self._stopping.set()
        with self._lock:
            self._wake.notify_all()
        self.writer.close()
        for thread in self._threads:
            thread.join(timeout)
        self._drain_acks()
        self.consumer.stop()

    def wait(self) -> None:
        """Block until stop() (for the command)."""
        while not self._stopping.wait(1.0):
            pass

    @property
    def unacked(self) -> int:
        """Messages received and not yet acknowledged."""
        return len(self._pending)

    @property
    def held(self) -> int:
        """Received messages still in memory: unacknowledged, or in the batch being written."""
        with self._lock:
            ids = {id(d) for d in self._pending}
            ids.update(id(m.delivery) for m in self._writing)
        return len(ids)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    # -- paho's thread ----------------------------------------------------------------------------

    def _on_message(self, delivery: Delivery) -> None:
        """Check one message and hand it on: its points to the batch, its refusal to the dead-letter
        topic. It joins `pending` first, and whatever raises, it is finished (written or
        dead-lettered), so the acknowledgements behind it never wait for it."""
        self.metrics.received()
        with self._lock:
            self._pending.append(delivery)
        handed_on = False  # its parts are registered: from then on it finishes by itself
        try:
            checked = self._check(delivery)
            if checked is None:
                return
            delivery.seq = checked.seq
            write = bool(checked.lines) or not checked.refused
            with self._lock:
                delivery.parts = int(write) + int(bool(checked.refused))
                if write:
                    self._add(_Message(delivery, checked.lines, checked.ts, checked.index))
                handed_on = True
            if checked.refused:
                self._dead_letter_readings(delivery, checked.refused, len(checked.lines), _trace(checked))
        except Exception as exc:  # a bug: never stop on input, never lose the message quietly
            log.exception("handling a message from %s (mid %d) failed unexpectedly", delivery.topic,
                          delivery.mid)
            if not handed_on:
                self._dead_letter(delivery, "internal", f"ingest could not handle this message: "
                                                        f"{type(exc).__name__}: {exc}")

    def _check(self, delivery: Delivery) -> Checked | None:
        """The checked message, or None once its dead letter is on its way."""
        try:
            return self.validator.check(delivery.topic, delivery.payload, delivery.received_at)
        except Refused as refused:
            self._dead_letter(delivery, refused.kind, refused.reason)
        except Exception as exc:  # a checker bug: the message goes to the dead letters with the error
            log.exception("checking a message from %s failed unexpectedly", delivery.topic)
            self._dead_letter(delivery, "internal", f"ingest could not check this message: "
                                                    f"{type(exc).__name__}: {exc}")
        return None

    def _add(self, message: _Message) -> None:
        """Append to the open batch (under the lock) and wake the writer when it should look."""
        self._batch.append(message)
        self._batch_points += len(message.lines)
        if self._batch_since is None:  # the first message: the writer starts its max_delay clock
            self._batch_since = time.monotonic()
            self._wake.notify()
        elif self._batch_points >= self.config.max_points:
            self._wake.notify()

    def _on_published(self, mid: int, ok: bool, reason: str) -> None:
        with self._lock:
            if mid not in self._published:
                self._early[mid] = (ok, reason)
                return
            delivery = self._published.pop(mid)
        if delivery is not None:
            self._dead_lettered(delivery, ok, reason)
        elif not ok:
            log.warning("the broker refused the health document on %s: %s", self.config.health_topic,
                        reason)

    def _publish(self, topic: str, body: bytes, delivery: Delivery | None, *, retain: bool = False) -> None:
        """Publish with QoS 1 and remember what the PUBACK completes."""
        mid = self.consumer.publish(topic, body, qos=1, retain=retain)
        with self._lock:
            early = self._early.pop(mid, None)
            if early is None:
                self._published[mid] = delivery
                return
        if delivery is not None:
            self._dead_lettered(delivery, *early)

    def _on_connection(self, up: bool, reason: str) -> None:
        self.metrics.set_connected(up)
        if up and self.consumer.session_present:
            self._forget_old_deliveries(self.consumer.generation)

    def _forget_old_deliveries(self, generation: int) -> None:
        """After a reconnect that resumed the session the broker re-sends every message we did not
        acknowledge, and the old copies can no longer be acknowledged (their connection is gone).
        Keeping them would hold one more receive_maximum of messages per reconnect during a
        database outage, so the ones not yet written are dropped: the re-sent copies take their
        place, in the broker's order, and are acknowledged once written. A batch the writer
        holds is still written (harmless: points overwrite themselves). With a new session the
        broker re-sends nothing, so then the old copies are kept and written."""
        with self._lock:
            self._batch = [m for m in self._batch if m.delivery.generation == generation]
            self._batch_points = sum(len(m.lines) for m in self._batch)
            if not self._batch:
                self._batch_since = None
            self._pending = deque(d for d in self._pending if d.generation == generation)

    # -- dead letters -----------------------------------------------------------------------------

    def _dead_letter(self, delivery: Delivery, kind: str, reason: str,
                     extra: Mapping[str, object] | None = None) -> None:
        """Publish the dead letter of one part of `delivery`; that part is finished when the broker
        has it. Never raises: if not even the plainest dead letter can be published, that is
        logged and counted and the part is finished anyway (holding a message stalls every
        acknowledgement behind it)."""
        self.metrics.dead_letter(kind)
        log.debug("dead letter (%s) from %s: %s", kind, delivery.topic, reason)
        try:
            body = dead_letter_document(delivery, kind, reason, self.config.mqtt.client_id,
                                        max_bytes=self.config.max_payload_bytes, extra=extra)
            self._publish(self.config.dead_letter_topic, body, delivery)
        except Exception:
            self.metrics.dead_letter_errors.inc()
            log.exception("cannot publish the dead letter (%s) of the message from %s (mid %d); it is "
                          "acknowledged without one: %s", kind, delivery.topic, delivery.mid, ascii(reason))
            self._finish((delivery,))
            self._drain_acks()

    def _dead_letter_readings(self, delivery: Delivery, refused: Sequence[RefusedReading],
                              kept: int, trace: dict[str, object]) -> None:
        """One dead letter for the refused readings of a well-formed message (`kept` others are
        written): a reason each, the message's ids, and the whole payload."""
        try:
            total = kept + len(refused)
            shown = "; ".join(r.reason for r in refused[:3])
            more = f"; and {len(refused) - 3} more" if len(refused) > 3 else ""
            reason = f"{len(refused)} of {total} reading(s) refused: {shown}{more}"
            trace["refused"] = [{"index": r.index, "kind": r.kind, "reason": r.reason,
                                 "reading": r.reading} for r in refused]
        except Exception as exc:  # a bug: still one dead letter, without the details
            log.exception("describing the refused readings of the message from %s failed", delivery.topic)
            self._dead_letter(delivery, "internal", f"ingest refused {len(refused)} reading(s) of this "
                                                    f"message and could not say why: {type(exc).__name__}")
            return
        self._dead_letter(delivery, refused[0].kind, reason, trace)

    def _dead_lettered(self, delivery: Delivery, ok: bool, reason: str) -> None:
        if not ok:
            self.metrics.dead_letter_errors.inc()
            log.error("the broker refused the dead letter on %s (%s); the refused message from %s is "
                      "acknowledged anyway", self.config.dead_letter_topic, reason, delivery.topic)
        self._finish((delivery,))
        self._drain_acks()

    def _finish(self, deliveries: Iterable[Delivery]) -> None:
        """One part of each delivery is finished (written, or a dead letter acknowledged)."""
        with self._lock:
            for delivery in deliveries:
                delivery.parts -= 1
                if delivery.parts <= 0:
                    delivery.done = True

    # -- the writer thread ------------------------------------------------------------------------

    def _write_loop(self) -> None:
        while True:
            with self._lock:
                while not self._stopping.is_set() and not self._due():
                    self._wake.wait(self._until_due())
                if self._stopping.is_set():
                    return
                batch = self._writing = self._take()
            tries, unexpected = 0, ""
            while not self._stopping.is_set():
                try:
                    if tries < UNEXPECTED_TRIES:
                        self._write(batch)
                    else:  # the same error every time: find the line(s) that raise it
                        self._write_bisected(batch, WriteError(unexpected, permanent=True))
                    break
                except Exception as exc:  # a bug must not lose the batch: write it again (idempotent)
                    tries += 1
                    unexpected = f"ingest could not write it: {type(exc).__name__}: {exc}"
                    log.exception("writing a batch failed unexpectedly (%d time(s)); trying it again "
                                  "in 1 s%s", tries, ", in parts" if tries >= UNEXPECTED_TRIES else "")
                    self._stopping.wait(1.0)
            with self._lock:
                self._writing = []
            self._drain_acks()

    def _due(self) -> bool:
        if not self._batch:
            return False
        if self._batch_points >= self.config.max_points:
            return True
        return self._batch_since is not None and \
            time.monotonic() - self._batch_since >= self.config.max_delay

    def _until_due(self) -> float | None:
        if self._batch_since is None:
            return None
        return max(0.001, self.config.max_delay - (time.monotonic() - self._batch_since))

    def _take(self) -> list[_Message]:
        """Messages from the head of the open batch up to max_points points (at least one)."""
        taken, points = 0, 0
        for message in self._batch:
            if taken and points + len(message.lines) > self.config.max_points:
                break
            taken += 1
            points += len(message.lines)
        batch, self._batch = self._batch[:taken], self._batch[taken:]
        self._batch_points -= points
        self._batch_since = time.monotonic() if self._batch else None
        return batch

    def _write(self, batch: list[_Message]) -> bool:
        """Write `batch` (splitting it to find refused lines); False if the writer was closed."""
        lines = [text for message in batch for text in message.lines]
        try:
            self.writer.write_lines(lines)
        except WriteError as exc:
            if not exc.permanent:
                return False  # closed while the database was unreachable: nothing is acknowledged
            return self._write_bisected(batch, exc)
        self.metrics.written(len(lines), max(m.ts for m in batch))
        self._finish(m.delivery for m in batch)
        return True

    def _write_bisected(self, batch: list[_Message], exc: WriteError) -> bool:
        """The database refused `batch` as data: write it in halves down to single lines, then
        dead-letter the refused lines' readings (one dead letter per message) and finish the rest."""
        found = _Bisection()
        where = [(k, j) for k, message in enumerate(batch) for j in range(len(message.lines))]
        if not self._write_part(batch, where, found, exc):
            return False
        if found.written:
            self.metrics.written(found.written, max(m.ts for m in batch))
        self._finish(m.delivery for k, m in enumerate(batch) if k not in found.refused)
        for k, refused in found.refused.items():
            self._dead_letter_lines(batch[k], refused)  # finished when the broker has it
        return True

    def _write_part(self, batch: list[_Message], where: list[tuple[int, int]], found: _Bisection,
                    exc: WriteError) -> bool:
        """`where` (batch position, line position) was refused with `exc`: halve it and write each
        half, recording single refused lines in `found`. False if the writer was closed."""
        if len(where) == 1:
            k, j = where[0]
            found.refused.setdefault(k, []).append((j, exc.message))
            return True
        half = len(where) // 2
        for part in (where[:half], where[half:]):
            try:
                self._write_lines([batch[k].lines[j] for k, j in part])
            except WriteError as refused:
                if not refused.permanent or not self._write_part(batch, part, found, refused):
                    return False
                continue
            found.written += len(part)
        return True

    def _write_lines(self, lines: list[str]) -> None:
        """writer.write_lines for the bisection: an unexpected error counts as a refusal of these
        lines (kind `internal` below), so the lines that raise it are found and dead-lettered."""
        try:
            self.writer.write_lines(lines)
        except WriteError:
            raise
        except Exception as exc:
            raise WriteError(f"ingest could not write it: {type(exc).__name__}: {exc}",
                             permanent=True) from exc

    def _dead_letter_lines(self, message: _Message, refused: list[tuple[int, str]]) -> None:
        """Dead-letter the readings behind the lines of `message` the database refused."""
        if refused[0][1].startswith("ingest could not write"):  # a bug, not the database's refusal
            self._dead_letter(message.delivery, "internal", f"{len(refused)} of "
                              f"{len(message.lines)} reading(s) were not written: {refused[0][1]}")
            return
        try:
            doc = json.loads(message.delivery.payload)  # checked when it arrived
            readings = doc["readings"]
            bad = []
            for j, error in refused:
                i = message.index[j] if message.index is not None else j
                bad.append(RefusedReading(i, "database", f"readings[{i}]: {error}", readings[i]))
            trace = {"site": doc["site"], "gateway": doc["gateway"], "meter": doc["meter"],
                     "seq": doc["seq"]}
        except Exception as exc:  # a bug: the whole message to the dead letters, with the error
            log.exception("reading the refused message from %s again failed", message.delivery.topic)
            self._dead_letter(message.delivery, "internal", f"{len(refused)} line(s) of this message "
                              f"were refused ({refused[0][1]}), and reading it again failed: "
                              f"{type(exc).__name__}: {exc}")
            return
        log.warning("the database refused %d reading(s) of the message from %s: %s", len(bad),
                    message.delivery.topic, refused[0][1])
        self._dead_letter_readings(message.delivery, bad, len(readings) - len(bad), trace)

    def _drain_acks(self) -> None:
        """Acknowledge, in arrival order, every message from the head of `pending` that is done."""
        with self._ack_lock:
            with self._lock:
                ready: list[Delivery] = []
                while self._pending and self._pending[0].done:
                    ready.append(self._pending.popleft())
            for delivery in ready:
                self.consumer.ack(delivery)

    # -- health -----------------------------------------------------------------------------------

    def _waiting_for(self, delivery: Delivery) -> str:
        """What the oldest unacknowledged message waits for, in words (the stall watch says it)."""
        with self._lock:
            in_batch = any(m.delivery is delivery for m in self._batch)
            in_writer = any(m.delivery is delivery for m in self._writing)
            known = any(d is delivery for d in self._pending)
            letters = sum(d is delivery for d in self._published.values())
            done = delivery.done
        database = self.metrics.last_write_error
        if in_writer:
            return ("its points are being written; the database: " + database) if database else \
                "its points are being written"
        if in_batch:
            return "its points wait in the open batch"
        if letters:
            return "the broker has not acknowledged its dead letter"
        if done:
            return "it is finished, but its PUBACK was not sent (connection lost, or a bug)"
        if not known:
            return "the service no longer holds it (an old copy; the broker re-sends it)"
        return "it is neither being written nor dead-lettered (a bug in ingest)"

    def _health_loop(self) -> None:
        while not self._stopping.wait(self.config.health_interval):
            if self.consumer.connected:
                self._publish(self.config.health_topic,
                              self.metrics.payload(self.config.mqtt.client_id), None, retain=True)


    def _watchdog_loop(self) -> None:
        """systemd's watchdog (WatchdogSec in the unit): ping while the writer thread and paho's
        network thread are alive; a writer waiting for the database is alive, a dead thread is not."""
        interval = watchdog_interval() or 30.0
        while not self._stopping.wait(interval):
            writer_alive = self._threads[0].is_alive()
            network_alive = self.consumer.running
            if writer_alive and network_alive:
                notify(f"WATCHDOG=1\nSTATUS={self.metrics.n_points} points written, "
                       f"{self.unacked} messages unacknowledged"
                       + (f", database: {self.metrics.last_write_error}"
                          if self.metrics.last_write_error else ""))


def _trace(checked: Checked) -> dict[str, object]:
    return {"site": checked.site, "gateway": checked.gateway, "meter": checked.meter, "seq": checked.seq}


def dead_letter_document(delivery: Delivery, kind: str, reason: str, client_id: str, *,
                         max_bytes: int, extra: Mapping[str, object] | None = None) -> bytes:
    """{schema, reason, kind, topic, [site, gateway, meter, seq, refused], payload | payload_base64,
    payload_bytes, truncated, received_at, ingest}: the payload as text if it is UTF-8, else base64,
    cut to `max_bytes` (the configured payload limit: only an oversized payload is cut). `extra`:
    for refused readings, the message's ids and [{index, kind, reason, reading}]."""
    raw = delivery.payload
    cut = raw[:max_bytes]
    doc: dict[str, object] = {"schema": DEAD_LETTER_SCHEMA, "reason": reason, "kind": kind,
                              "topic": delivery.topic}
    doc.update(extra or {})
    try:
        doc["payload"] = cut.decode("utf-8")
    except UnicodeDecodeError as exc:
        if len(cut) < len(raw) and exc.start >= len(cut) - 3:  # a character cut in half at the end
            doc["payload"] = cut[:exc.start].decode("utf-8", "replace")
        else:
            doc["payload_base64"] = base64.b64encode(cut).decode("ascii")
    doc["payload_bytes"] = len(raw)
    doc["truncated"] = len(cut) < len(raw)
    doc["received_at"] = datetime.fromtimestamp(delivery.received_at, UTC).isoformat(
        timespec="milliseconds")
    doc["ingest"] = client_id
    try:
        return json.dumps(doc, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800" in the payload's JSON) in a reading
        pass
    try:  # the same document, with every non-ASCII character escaped as the JSON it arrived as
        return json.dumps(doc, ensure_ascii=True).encode("ascii")
    except (TypeError, ValueError) as exc:
        return plain_dead_letter(delivery, kind, f"{reason} (the full dead letter could not be "
                                 f"encoded: {type(exc).__name__})", client_id, max_bytes=max_bytes)


def plain_dead_letter(delivery: Delivery, kind: str, reason: str, client_id: str, *,
                      max_bytes: int) -> bytes:
    """The dead letter that cannot fail to encode: the envelope fields only, the payload in base64,
    every string ASCII-escaped."""
    cut = delivery.payload[:max_bytes]
    doc = {"schema": DEAD_LETTER_SCHEMA, "reason": reason or "refused", "kind": kind,
           "topic": delivery.topic or "?", "payload_base64": base64.b64encode(cut).decode("ascii"),
           "payload_bytes": len(delivery.payload), "truncated": len(cut) < len(delivery.payload),
           "received_at": datetime.fromtimestamp(delivery.received_at, UTC).isoformat(
               timespec="milliseconds"), "ingest": client_id}
    return json.dumps(doc, ensure_ascii=True).encode("ascii")
