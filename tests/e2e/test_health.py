"""Health: per bus and per device counters on the retained health topic (schema-valid) and as
Prometheus text on a local port; retained meta and availability per meter."""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path

from core.contract.schema import check_message
from gateway.runtime import Gateway, RuntimeOptions
from site_config import load_site_config
from tests.e2e.site import site_toml


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_health_topic_and_prometheus(tmp_path: Path, mosquitto, mqtt_recorder,  # type: ignore[no-untyped-def]
                                     modbus_simulator) -> None:
    sim = modbus_simulator(["1=eastron-sdm120", "2=eastron-sdm120"], tcp=True)
    sim.inject(2, "no_answer")
    broker = mosquitto()
    recorder = mqtt_recorder(broker, "metergate/#", client_id="ops")
    port = _free_port()
    path = site_toml(tmp_path, tcp_port=sim.tcp_endpoint.port, units=range(1, 3),
                     mqtt_port=broker.port)
    path.write_text(path.read_text().replace('prometheus_listen = ""',
                                             f'prometheus_listen = "127.0.0.1:{port}"'))
    gateway = Gateway(load_site_config(path), RuntimeOptions())
    gateway.start()
    try:
        assert recorder.wait_for(lambda m: any(_m02_timed_out(x) for x in m), timeout=20)
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    finally:
        gateway.stop()
    text = metrics.decode()
    assert 'metergate_modbus_requests_total{bus="sim",device="m01"}' in text
    assert 'metergate_modbus_failures_total{bus="sim",device="m02",reason="timeout"}' in text
    assert "metergate_outbox_depth" in text and "metergate_mqtt_connected" in text

    messages = recorder.snapshot()
    for m in messages:
        if m.payload:
            check_message(m.topic, m.payload)  # every message the gateway sent keeps the contract
    health = json.loads(next(m for m in messages if _m02_timed_out(m)).payload)
    assert health["devices"]["m01"]["state"] == "online"
    assert health["devices"]["m02"]["timeouts"] >= 1
    assert "outbox" in health and "sim" in health["buses"]
    retained = {m.topic.rsplit("/", 1)[-1] for m in messages if "/meters/m01/" in m.topic}
    assert {"meta", "availability", "readings"} <= retained
    offline = [json.loads(m.payload) for m in messages if m.topic.endswith("m02/availability")]
    assert offline and offline[-1]["state"] == "offline"


def _m02_timed_out(message) -> bool:  # type: ignore[no-untyped-def]
    if not message.topic.endswith("/health"):
        return False
    device = json.loads(message.payload)["devices"].get("m02", {})
    return bool(device.get("timeouts"))
