"""Prometheus text of the gateway's metrics: per-device series built from plain counters at scrape."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from core.latency import LatencyWindow
from gateway.metrics import DeviceCounts, GatewayMetrics, MqttCounts


def test_device_and_mqtt_series_come_from_their_sources_at_scrape_time() -> None:
    metrics = GatewayMetrics()
    polls = {"ok": 3, "partial": 1, "failed": 0, "skipped": 2}
    counts = [DeviceCounts("bus1", "m1", 7, polls, True), DeviceCounts("bus1", "m2", 0, {}, None)]
    metrics.devices.add(lambda: counts)
    metrics.mqtt.source = lambda: MqttCounts(True, 11, 10)
    text = generate_latest(metrics.registry).decode()
    assert 'metergate_modbus_requests_total{bus="bus1",device="m1"} 7.0' in text
    assert 'metergate_polls_total{bus="bus1",device="m1",result="skipped"} 2.0' in text
    assert 'metergate_device_up{device="m1"} 1.0' in text
    assert 'metergate_device_up{device="m2"} 0.0' in text
    assert "metergate_mqtt_connected 1.0" in text
    assert "metergate_mqtt_published_total 11.0" in text
    assert "metergate_mqtt_acked_total 10.0" in text
    counts[0] = DeviceCounts("bus1", "m1", 8, polls, False)  # read again at the next scrape
    text = generate_latest(metrics.registry).decode()
    assert 'metergate_modbus_requests_total{bus="bus1",device="m1"} 8.0' in text
    assert 'metergate_device_up{device="m1"} 0.0' in text


def test_latency_window_keeps_the_latest_requests() -> None:
    window = LatencyWindow(size=4)
    assert window.percentiles() == {"p50": None, "p95": None, "p99": None}
    for ms in (900, 1, 2, 3, 4):  # the first falls out of the ring
        window.add(ms / 1000)
    pct = window.percentiles((0.0, 0.99))
    assert pct["p0"] == pytest.approx(0.001, rel=1e-6)  # float32 in the ring
    assert pct["p99"] == pytest.approx(0.004, rel=1e-6)
