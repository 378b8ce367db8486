"""Fixtures that start real services, and the `services` marker: a test that starts a broker, a
database, a simulated meter server, a pseudo-terminal line or a process, or computes weeks of
readings, is marked, so `pytest -m "not services"` is the fast suite (docs/architecture.md, "Tests")."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["simulators.pytest_plugin", "tests.support.mosquitto", "tests.support.victoria",
                  "tests.support.influxdb1", "tests.support.ingest", "tests.support.receivers"]

# fixtures that start a process or a server
SERVICE_FIXTURES = frozenset({"mosquitto", "mqtt_recorder", "victoria", "influxdb1", "services",
                              "simulated_meter", "modbus_simulator", "smtp", "webhook"})
# modules that start processes (a metergate command, mbpoll, socat) or serve simulated meters
# (on a pty or a TCP port) directly rather than through a fixture: found by what they use
_STARTS = ("subprocess", "Popen", "FrameSimulator", "simulators.bus import Simulator", "PtyServer",
           "ModbusTcpServer", "FramePtyServer", "FrameTcpServer")


def _starts_processes(path: Path) -> bool:
    text = path.read_text(encoding="utf-8")
    return any(word in text for word in _STARTS)


# modules whose tests compute weeks of readings or replay long runs: seconds each, not services,
# but not the fast suite either (the marker's meaning: "not fast")
LONG_MODULES = frozenset({
    "tests/alerts/test_fast_batch.py", "tests/analytics/detectors/test_streaming_equals_batch.py",
    "tests/alerts/test_engine.py", "tests/analytics/detectors/test_baseline.py",
    "tests/benchmarks/test_alert_injection.py", "tests/alerts/test_alerts_cli.py",
    "tests/analytics/detectors/test_data_faults.py", "tests/simulators/test_physics.py",
    "tests/analytics/detectors/test_causality_and_api.py", "tests/analytics/test_indicators.py",
    "tests/analytics/detectors/test_after_hours.py", "tests/gateway/test_outbox.py",
    "tests/alerts/test_cadence.py", "tests/alerts/test_service_inproc.py",
})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    spawns: dict[Path, bool] = {}
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        path = Path(str(item.path))
        if path not in spawns:
            spawns[path] = _starts_processes(path)
        if (SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())) or module in LONG_MODULES
                or spawns[path]
                or item.get_closest_marker("rtu") or item.get_closest_marker("slow")):
            item.add_marker(pytest.mark.services)
