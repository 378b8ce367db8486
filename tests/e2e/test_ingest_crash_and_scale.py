"""Acceptance: SIGKILL an ingest process mid-stream and restart it: nothing lost. Two instances on one
shared subscription split the load and together write every point. Real processes
(`metergate ingest`), a real mosquitto and a real VictoriaMetrics."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

from tests.support.ingest import (
    Publisher,
    expected_samples,
    ingest_toml,
    run_ingest,
    stop_process,
    stream,
)
from tests.support.mosquitto import MosquittoFactory, Recorder, RecorderFactory
from tests.support.victoria import VictoriaFactory

MATCH = '{__name__=~"q_.*_value"}'


def _health_from(recorder: Recorder, *names: str) -> bool:
    """Every named instance has published health: it is connected and subscribed (a readings
    message published before an instance's session exists has no subscriber and is dropped)."""
    return recorder.wait_for(lambda m: {json.loads(x.payload)["client_id"] for x in m} >= set(names), 20)


def test_sigkill_mid_stream_loses_nothing(tmp_path: Path, mosquitto: MosquittoFactory,
                                          mqtt_recorder: RecorderFactory, victoria: VictoriaFactory) -> None:
    broker, vm = mosquitto(), victoria()
    health = mqtt_recorder(broker, "metergate/ingest/+/health", client_id="health-watch")
    # a long max_delay keeps a batch received-but-unwritten (so unacknowledged) at any moment
    config = ingest_toml(tmp_path, broker.port, influx_url=vm.url, max_delay="700ms")
    log = tmp_path / "ingest.log"
    first = run_ingest(config, log)
    assert _health_from(health, "ingest-a"), log.read_text()
    pub = Publisher(broker.host, broker.port)
    sent: list[tuple[str, int, float, dict[str, float]]] = []
    streamer = threading.Thread(target=lambda: sent.extend(stream(pub, 3000, 400.0)))
    streamer.start()
    time.sleep(2.2)
    assert vm.count(MATCH) > 0, log.read_text()  # it was writing ...
    first.send_signal(signal.SIGKILL)  # ... and dies mid-stream, with messages unacknowledged
    first.wait(10)
    last = json.loads(health.snapshot()[-1].payload)
    assert last["messages_in"] > 0 and last["unacked"] > 0, last
    time.sleep(1.5)
    killed_at = vm.count(MATCH)
    second = run_ingest(config, log)
    streamer.join(60)
    assert pub.flush(30)
    expected = expected_samples(sent)
    assert len(expected) == 3000 * 5
    assert vm.wait_count(MATCH, len(expected), timeout=60) == len(expected), log.read_text()
    assert vm.samples(MATCH) == expected  # every point, right value and timestamp, once
    assert killed_at < len(expected)
    assert stop_process(second) == 0, log.read_text()


def test_two_instances_split_the_load(tmp_path: Path, mosquitto: MosquittoFactory,
                                      mqtt_recorder: RecorderFactory, victoria: VictoriaFactory) -> None:
    broker, vm = mosquitto(), victoria()
    health = mqtt_recorder(broker, "metergate/ingest/+/health", client_id="health-watch")
    log = tmp_path / "ingest.log"
    procs = [run_ingest(ingest_toml(tmp_path, broker.port, influx_url=vm.url, client_id=name,
                                    name=f"{name}.toml"), log)
             for name in ("ingest-a", "ingest-b")]
    assert _health_from(health, "ingest-a", "ingest-b"), log.read_text()
    pub = Publisher(broker.host, broker.port)
    sent = stream(pub, 4000, 2000.0)
    assert pub.flush(30)
    expected = expected_samples(sent)
    assert vm.wait_count(MATCH, len(expected), timeout=60) == len(expected), log.read_text()
    assert vm.samples(MATCH) == expected

    def counts(msgs: list) -> dict[str, int]:  # type: ignore[type-arg]
        latest: dict[str, int] = {}
        for m in msgs:
            doc = json.loads(m.payload)
            latest[doc["client_id"]] = doc["messages_in"]
        return latest

    assert health.wait_for(lambda m: sum(counts(m).values()) >= 4000 and len(counts(m)) == 2, 10)
    split = counts(health.snapshot())
    assert set(split) == {"ingest-a", "ingest-b"}
    assert all(n >= 4000 * 0.2 for n in split.values()), split  # both took a real share
    assert sum(split.values()) == 4000, split  # and no message went to both
    for proc in procs:
        assert stop_process(proc) == 0, log.read_text()
