"""Drill (helper "drill") against `metergate analytics`: contract-valid readings whose arithmetic
overflows. A water counter that alternates between 100 and 1.7e308 m³ (each a finite float, quality
ok, as a broken meter or a bad register map can send) makes an alert whose value is infinite; the
alert could not be encoded (JSON has no infinity), the service stopped on that message without
acknowledging it, and stopped again on every restart: analytics was down for good."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.alerts.sites import analytics_toml, site_message, site_toml
from tests.support.ingest import Publisher
from tests.support.mosquitto import Mosquitto, MosquittoFactory, RecorderFactory
from tests.support.victoria import VictoriaFactory

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # the service started twice (~10 s)


def _config(folder: Path, broker: Mosquitto, influx_url: str) -> Path:
    site_toml(folder)
    return analytics_toml(folder, port=broker.port, client_id="analytics-drill", influx_url=influx_url)


def _start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "cli.main", "analytics", str(config)],
                                env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=out,
                                stderr=subprocess.STDOUT, cwd=ROOT)


def _wait_count(vm: Any, match: str, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while (n := vm.count(match)) == 0 and time.monotonic() < deadline:
        time.sleep(0.3)
    return int(n)


def _counts(health: Any) -> dict[str, int]:
    msgs = health.snapshot()
    return json.loads(msgs[-1].payload)["counts"] if msgs else {}


def test_an_alert_with_an_infinite_value_does_not_stop_the_service(
        tmp_path: Path, mosquitto: MosquittoFactory, mqtt_recorder: RecorderFactory,
        victoria: VictoriaFactory) -> None:
    broker, vm = mosquitto(), victoria()
    health = mqtt_recorder(broker, "metergate/analytics/+/health", client_id="health-watch")
    alerts = mqtt_recorder(broker, "metergate/v1/+/alerts/+", client_id="alert-watch")
    config, log = _config(tmp_path, broker, vm.url), tmp_path / "analytics.log"
    proc = _start(config, log)
    try:
        assert health.wait_for(lambda m: len(m) > 0, timeout=20), log.read_text()
        pub = Publisher(broker.host, broker.port)
        t0 = (int(time.time()) // 86400 - 2) * 86400
        for i in range(40):
            pub.send(*site_message(i + 1, "gov-water", t0 + i * 3600, "water_volume",
                                   100.0 if i % 2 == 0 else 1.7e308))
        pub.send(*site_message(41, "gov-main", t0 + 40 * 3600, "energy_active_import", 5.0))
        assert pub.flush(20)
        pub.close()
        assert health.wait_for(lambda _: _counts(health).get("messages", 0) == 41, timeout=20), \
            (_counts(health), log.read_text()[-3000:])
        assert proc.poll() is None, log.read_text()[-3000:]
        assert _counts(health).get("alerts_unpublishable", 0) >= 1
        # the interval aggregates are written, the overflowed consumption left out
        assert _wait_count(vm, '{__name__=~"interval_.*"}') > 0, log.read_text()[-3000:]
        for m in alerts.snapshot():  # whatever was published is valid JSON without infinities
            if m.payload:
                json.loads(m.payload, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        seen = len(health.snapshot())
        proc = _start(config, log)  # a restart republishes the active alerts, the infinite one too
        assert health.wait_for(lambda m: len(m) > seen + 2, timeout=20), log.read_text()[-3000:]
        assert proc.poll() is None, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
