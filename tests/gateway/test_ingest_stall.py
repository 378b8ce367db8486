"""One message never stalls ingest, and a stall is never silent.

- The regression of issue 11: a reading refused for its timestamp whose `unit` holds a lone surrogate
  made the dead letter's encoding raise inside paho's callback; nothing was logged and, since
  acknowledgements go in order, with receive_maximum 200 only 199 of 1,000 good messages behind it
  were ever written. Now its dead letter is published (the surrogate as the JSON escape it arrived
  as) and all 1,000 are written and acknowledged.
- The consumer's stall watch on a real broker: a message the service never finishes is logged with
  its topic, mid and seq once it has held up the others for stall_after, and "move again" once it
  is acknowledged; an exception out of the service's handler is logged with its traceback.
- A checker bug that lets through a line the writer cannot encode: the batch is tried again, then
  split; that message is dead-lettered (`internal`), every other one written and acknowledged.
- Ingest with the database down: the health document names the stalled message and what it waits
  for (`stalled`, fits schemas/ingest-health.json), and clears it once the database is back.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from core.contract import schema
from services.ingest.config import load_ingest_config
from services.ingest.service import IngestService
from services.shared.consumer import Consumer, Delivery, paho_log
from services.shared.validate import Checked, Validator
from tests.support.ingest import (
    Publisher,
    ingest_toml,
    readings_doc,
    readings_payload,
    start_ingest,
    topic_for,
)
from tests.support.mosquitto import MosquittoFactory, Received, RecorderFactory
from tests.support.victoria import VictoriaFactory

DEAD = "metergate/ingest/dead-letter"


@pytest.mark.slow
def test_a_lone_surrogate_in_a_refused_reading_does_not_stall_the_messages_behind_it(
        tmp_path: Path, mosquitto: MosquittoFactory, mqtt_recorder: RecorderFactory,
        victoria: VictoriaFactory, services: list[IngestService]) -> None:
    broker, vm = mosquitto(), victoria()
    dead = mqtt_recorder(broker, DEAD, client_id="surrogate-dead-letters")
    service = start_ingest(ingest_toml(tmp_path, broker.port, influx_url=vm.url, receive_maximum=200),
                           services)
    now = time.time()
    bad = readings_doc("m1", seq=1, ts=round(now - 60, 3), values={"power_active": 1.0, "voltage_l1": 230.0})
    bad["readings"][0].update(ts=now + 10 * 365 * 86_400, unit="\ud800")  # refused for its time
    payload = json.dumps(bad).encode()  # ensure_ascii: the surrogate travels as the escape \ud800
    assert b"\\ud800" in payload
    pub = Publisher(broker.host, broker.port, "surrogate-publisher")
    pub.send(topic_for("m1"), payload)
    for seq in range(2, 1002):
        pub.send(topic_for("m2"), readings_payload("m2", seq=seq, ts=round(now - 50 + seq / 1000, 3),
                                                   values={"power_active": seq + 0.5}))
    assert pub.flush(30)
    assert vm.wait_count('{__name__="power_active_value",meter="m2"}', 1000, timeout=30) == 1000
    assert dead.wait_for(lambda m: len(m) >= 1, timeout=10)
    letter = json.loads(dead.snapshot()[0].payload)
    assert schema.service_problems(letter, "dead-letter") == []
    assert letter["kind"] == "timestamp" and letter["refused"][0]["index"] == 0
    assert letter["refused"][0]["reading"]["unit"] == "\ud800"  # exactly what was sent
    assert json.loads(letter["payload"]) == bad
    # the good reading of the refused message is written, the refused one is not
    assert vm.samples('{__name__="voltage_l1_value",meter="m1"}') != {}
    assert vm.samples('{__name__="power_active_value",meter="m1"}') == {}
    deadline = time.monotonic() + 10
    while service.unacked and time.monotonic() < deadline:
        time.sleep(0.05)
    assert service.unacked == 0 and service.consumer.unacked == 0


def test_the_stall_watch_names_the_message_that_holds_up_the_acknowledgements(
        tmp_path: Path, mosquitto: MosquittoFactory, caplog: pytest.LogCaptureFixture) -> None:
    broker = mosquitto()
    config = load_ingest_config(ingest_toml(tmp_path, broker.port, influx_url="http://127.0.0.1:9"))
    got: list[Delivery] = []
    arrived = threading.Event()

    def on_message(d: Delivery) -> None:
        got.append(d)
        arrived.set()
        if d.payload == b"explode":
            raise RuntimeError("a bug in the handler")

    consumer = Consumer(config.mqtt, on_message, stall_after=0.3,
                        waiting_for=lambda d: f"test: {len(d.payload)} bytes not handled")
    assert consumer.client._logger is paho_log  # paho's own errors are logged
    consumer.start()
    try:
        assert consumer.wait_subscribed(10)
        pub = Publisher(broker.host, broker.port, "stall-publisher")
        caplog.set_level(logging.INFO, logger="services.shared.consumer")
        pub.send(topic_for("m1"), b"explode")
        pub.send(topic_for("m1"), b"second")
        assert pub.flush(10)
        deadline = time.monotonic() + 10
        while len(got) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [d.payload for d in got] == [b"explode", b"second"]
        got[0].seq = 41
        failed = [r for r in caplog.records if "failed; it is not acknowledged" in r.getMessage()]
        assert failed and failed[0].exc_info is not None and topic_for("m1") in failed[0].getMessage()
        deadline = time.monotonic() + 10
        while consumer.stall is None and time.monotonic() < deadline:
            time.sleep(0.05)
        stall = consumer.stall
        assert stall is not None and stall.mid == got[0].mid and stall.seq == 41
        assert stall.topic == topic_for("m1") and stall.behind == 1 and stall.stuck_s >= 0.3
        assert stall.waiting_for == "test: 7 bytes not handled"
        stuck = [r for r in caplog.records if r.levelno == logging.ERROR and "stuck" in r.getMessage()]
        assert len(stuck) == 1 and f"mid {got[0].mid}, seq 41" in stuck[0].getMessage()
        time.sleep(0.5)  # logged once per message, not at every look
        assert len([r for r in caplog.records if "stuck" in r.getMessage()]) == 1
        consumer.ack(got[0])
        deadline = time.monotonic() + 10
        while consumer.stall is not None and consumer.stall.mid == got[0].mid and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        assert any("move again" in r.getMessage() for r in caplog.records)
        consumer.ack(got[1])
        pub.close()
    finally:
        consumer.stop()
    assert consumer.unacked == 0


@pytest.mark.slow
def test_ingest_health_names_the_stalled_message_while_the_database_is_down(
        tmp_path: Path, mosquitto: MosquittoFactory, mqtt_recorder: RecorderFactory,
        victoria: VictoriaFactory, services: list[IngestService]) -> None:
    broker, vm = mosquitto(), victoria()
    health = mqtt_recorder(broker, "metergate/ingest/+/health", client_id="stall-health")
    service = start_ingest(ingest_toml(tmp_path, broker.port, influx_url=vm.url, health_interval="200ms",
                                       extra='stall_after = "500ms"'), services)
    vm.stop()
    pub = Publisher(broker.host, broker.port, "stall-db-publisher")
    pub.send(topic_for("m1"), readings_payload("m1", seq=77, ts=round(time.time() - 5, 3),
                                               values={"power_active": 1.5}))
    assert pub.flush(10)

    def stalled(messages: list[Received]) -> bool:
        return any(json.loads(m.payload).get("stalled") for m in messages)

    assert health.wait_for(stalled, timeout=15)
    doc = next(json.loads(m.payload) for m in health.snapshot() if json.loads(m.payload).get("stalled"))
    assert schema.service_problems(doc, "ingest-health") == [], doc
    s = doc["stalled"]
    assert (s["topic"], s["seq"], s["behind"]) == (topic_for("m1"), 77, 0) and s["stuck_s"] >= 0.5
    assert "being written" in s["waiting_for"] and "database" in s["waiting_for"], s
    vm.start()
    assert vm.wait_count('{__name__="power_active_value"}', 1, timeout=20) == 1
    deadline = time.monotonic() + 10
    while service.consumer.stall is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert service.consumer.stall is None and service.metrics.document("x")["stalled"] is None


class _LeakyValidator(Validator):
    """A checker with a bug: it lets one message through with a line no writer can encode."""

    def check(self, topic: str, payload: bytes, now: float) -> Checked:
        checked = super().check(topic, payload, now)
        if checked.seq == 13:
            return replace(checked, lines=[checked.lines[0] + "\ud800"])
        return checked


@pytest.mark.slow
def test_a_line_the_writer_cannot_send_is_found_and_dead_lettered_and_the_rest_written(
        tmp_path: Path, mosquitto: MosquittoFactory, mqtt_recorder: RecorderFactory,
        victoria: VictoriaFactory, services: list[IngestService]) -> None:
    broker, vm = mosquitto(), victoria()
    dead = mqtt_recorder(broker, DEAD, client_id="leaky-dead-letters")
    config = load_ingest_config(ingest_toml(tmp_path, broker.port, influx_url=vm.url, max_delay="300ms"))
    service = IngestService(config)
    service.validator = _LeakyValidator()
    services.append(service)
    service.start()
    assert service.consumer.wait_subscribed(10)
    pub = Publisher(broker.host, broker.port, "leaky-publisher")
    now = time.time()
    for seq in range(1, 26):  # one batch: the poisoned message 13 in the middle
        pub.send(topic_for("m1"), readings_payload("m1", seq=seq, ts=round(now - 60 + seq, 3),
                                                   values={"power_active": seq + 0.5}))
    assert pub.flush(10)
    assert dead.wait_for(lambda m: len(m) >= 1, timeout=20)
    letter = json.loads(dead.snapshot()[0].payload)
    assert letter["kind"] == "internal" and "UnicodeEncodeError" in letter["reason"]
    assert schema.service_problems(letter, "dead-letter") == []
    assert json.loads(letter["payload"])["seq"] == 13
    assert vm.wait_count('{__name__="power_active_value"}', 24, timeout=20) == 24
    assert sorted(vm.samples('{__name__="power_active_value"}').values()) == \
        [seq + 0.5 for seq in range(1, 26) if seq != 13]
    deadline = time.monotonic() + 10
    while service.unacked and time.monotonic() < deadline:
        time.sleep(0.05)
    assert service.unacked == 0
