"""Fixtures that start real services, and the `services` marker: a test that starts a broker, a
database, a simulated meter server, a pseudo-terminal line or a metergate process is marked, so
`pytest -m "not services"` is the fast suite (docs/architecture.md, "Tests")."""

from __future__ import annotations

import pytest

pytest_plugins = ["simulators.pytest_plugin", "tests.support.mosquitto", "tests.support.victoria",
                  "tests.support.influxdb1", "tests.support.ingest"]

# fixtures that start a process or a server
SERVICE_FIXTURES = frozenset({"mosquitto", "mqtt_recorder", "victoria", "influxdb1", "services",
                              "simulated_meter", "modbus_simulator"})
# modules whose tests start servers or metergate processes directly (not through a fixture)
SERVICE_MODULES = frozenset(
    line.strip() for line in """
""".splitlines() if line.strip())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        if (SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())) or module in SERVICE_MODULES
                or item.get_closest_marker("rtu") or item.get_closest_marker("slow")):
            item.add_marker(pytest.mark.services)
