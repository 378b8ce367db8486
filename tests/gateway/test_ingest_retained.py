"""Drills (helper "drill") around the broker's memory: retained messages and broker restarts.

- A retained message on a readings topic is handled once. mosquitto 2.0 sends the retained messages
  matching a subscription each time it is made, shared subscriptions included, and ingest makes its
  subscription again on every connection: without MQTT 5 Retain Handling 1 ("only if the
  subscription is new") one retained garbage message was dead-lettered again at every reconnection.
- mosquitto 2.0 (measured: 2.0.11) does not restore a shared subscription from its persistence file:
  after a broker restart, readings published before ingest is back have no subscriber and are
  dropped (the gateway has its PUBACK and forgets them). A plain subscription (`share_group = ""`)
  is restored: for a single instance nothing is lost.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from services.ingest.service import IngestService
from tests.support.ingest import (
    Publisher,
    expected_samples,
    ingest_toml,
    start_ingest,
    stream,
    topic_for,
)
from tests.support.mosquitto import Mosquitto, MosquittoFactory, Recorder, RecorderFactory
from tests.support.victoria import VictoriaFactory

DEAD = "metergate/ingest/dead-letter"


def _wait(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _letters(dead: Recorder, payload: bytes) -> int:
    return sum(1 for m in dead.snapshot() if json.loads(m.payload).get("payload") == payload.decode())


def _restart(service: IngestService, config: Path, services: list[IngestService]) -> IngestService:
    service.stop()  # the session stays on the broker
    services.remove(service)
    return start_ingest(config, services)


def _marker_seen(broker: Mosquitto, dead: Recorder, name: str) -> bool:
    """Publish a garbage marker and wait for its dead letter: published after ingest subscribed, so
    anything the broker sent at subscription time has been handled once it is there."""
    pub = Publisher(broker.host, broker.port, client_id=f"marker-{name}")
    pub.send(topic_for("mk"), f"{{marker {name}".encode())
    assert pub.flush(10)
    pub.close()
    return _wait(lambda: _letters(dead, f"{{marker {name}".encode()) == 1)


def test_a_retained_garbage_message_is_dead_lettered_once(
        tmp_path: Path, mosquitto: MosquittoFactory, mqtt_recorder: RecorderFactory,
        victoria: VictoriaFactory, services: list[IngestService]) -> None:
    broker, vm = mosquitto(), victoria()
    dead = mqtt_recorder(broker, DEAD, client_id="dead-letter-watch")
    config = ingest_toml(tmp_path, broker.port, influx_url=vm.url, client_id="ingest-retained")
    service = start_ingest(config, services)
    pub = Publisher(broker.host, broker.port)
    pub.client.publish(topic_for("rt"), b"{retained garbage", qos=1, retain=True)
    pub.close()
    assert _wait(lambda: _letters(dead, b"{retained garbage") == 1)
    for n in range(2):  # ingest restarts: its session and shared subscription are resumed
        service = _restart(service, config, services)
        assert _marker_seen(broker, dead, str(n))
    assert _letters(dead, b"{retained garbage") == 1


def test_a_plain_subscription_survives_a_broker_restart_while_ingest_is_away(
        tmp_path: Path, mosquitto: MosquittoFactory, mqtt_recorder: RecorderFactory,
        victoria: VictoriaFactory, services: list[IngestService]) -> None:
    broker, vm = mosquitto(), victoria()
    dead = mqtt_recorder(broker, DEAD, client_id="dead-letter-watch")
    config = ingest_toml(tmp_path, broker.port, influx_url=vm.url, client_id="ingest-plain",
                         extra_mqtt='share_group = ""')
    service = start_ingest(config, services)
    assert "$share" not in service.consumer.subscriptions[0]
    pub = Publisher(broker.host, broker.port)
    pub.client.publish(topic_for("rt"), b"{retained garbage", qos=1, retain=True)
    pub.close()
    assert _wait(lambda: _letters(dead, b"{retained garbage") == 1)
    service.stop()
    services.remove(service)
    broker.stop()  # the broker restarts while ingest is away; the gateways go on publishing
    broker.start()
    pub = Publisher(broker.host, broker.port, client_id="gateway")
    sent = stream(pub, 100, 2000, t0=time.time() - 300)
    assert pub.flush(10)
    pub.close()
    start_ingest(config, services)
    expected = expected_samples(sent)
    assert vm.wait_count('{__name__=~".+_value"}', len(expected), 15) == len(expected)
    assert vm.samples('{__name__=~".+_value"}') == expected
    assert _marker_seen(broker, dead, "after")
    assert _letters(dead, b"{retained garbage") == 1
