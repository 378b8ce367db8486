"""Broker reconnections during a database outage: memory stays bounded by receive_maximum (plus
the batch being written), and every point still arrives once the database is back."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from services.ingest.service import IngestService
from tests.support.ingest import Publisher, ingest_toml, readings_payload, start_ingest, topic_for
from tests.support.mosquitto import MosquittoFactory
from tests.support.victoria import VictoriaFactory

RECEIVE_MAXIMUM = 40
MAX_POINTS = 10  # one point per message: the batch being written holds at most 10 messages
MESSAGES = 300
RECONNECTS = 4


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _held(service: IngestService) -> int:
    return service.held if hasattr(service, "held") else service.unacked  # (before `held` existed)


def test_reconnects_during_a_database_outage_keep_memory_bounded_and_lose_nothing(
        tmp_path: Path, mosquitto: MosquittoFactory, victoria: VictoriaFactory,
        services: list[IngestService]) -> None:
    broker, vm = mosquitto(), victoria()
    vm.stop()  # the database is down from the start
    service = start_ingest(ingest_toml(
        tmp_path, broker.port, influx_url=vm.url, receive_maximum=RECEIVE_MAXIMUM,
        max_points=MAX_POINTS, max_delay="50ms"), services)
    pub = Publisher(broker.host, broker.port)
    now = time.time()
    for seq in range(1, MESSAGES + 1):
        pub.send(topic_for("m1"), readings_payload("m1", seq=seq, ts=round(now - 100 + seq / 100, 3),
                                                   values={"power_active": float(seq)}))
    assert pub.flush(20)
    pub.close()
    assert _wait(lambda: service.metrics.n_messages >= RECEIVE_MAXIMUM, 20)
    unacked, held = [service.unacked], [_held(service)]
    for n in range(RECONNECTS):
        received = service.metrics.n_messages
        broker.restart()  # persistent: the session and its queue survive
        assert _wait(lambda n=n: service.consumer.connections >= n + 2 and service.consumer.connected,
                     30), broker.log_text()
        # the broker re-sends the window it had not seen acknowledged
        assert _wait(lambda r=received: service.metrics.n_messages >= r + RECEIVE_MAXIMUM, 20)
        time.sleep(0.3)  # let any further deliveries land before counting
        unacked.append(service.unacked)
        held.append(_held(service))
    assert service.metrics.n_points == 0  # still nothing written: the outage held throughout
    assert max(unacked) <= RECEIVE_MAXIMUM, unacked  # old copies are not kept beside the re-sent ones
    assert max(held) <= RECEIVE_MAXIMUM + MAX_POINTS, held
    vm.start()
    assert vm.wait_count('{__name__="power_active_value"}', MESSAGES, timeout=60) == MESSAGES
    samples = vm.samples('{__name__="power_active_value"}')
    assert sorted(samples.values()) == [float(seq) for seq in range(1, MESSAGES + 1)]
    assert _wait(lambda: service.unacked == 0, 20)
