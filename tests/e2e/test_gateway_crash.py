"""Acceptance: SIGKILL the gateway mid-run and restart it: nothing committed to the outbox is lost.

The gateway runs as a real process (`metergate run`). A subscriber with a persistent session sees
every sequence number the gateway ever committed, across the kill, with no gap; and the retained
status turns offline through the last will when the process dies."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from gateway.outbox import Outbox
from tests.e2e.site import site_toml

READINGS = "metergate/v1/+/+/meters/+/readings"
STATUS = "metergate/v1/e2e/e2e-gw/status"


def _run(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "cli.main", "run", str(config)],
                                stdout=out, stderr=subprocess.STDOUT)


def test_sigkill_loses_nothing_committed(tmp_path: Path, mosquitto, mqtt_recorder,  # type: ignore[no-untyped-def]
                                         modbus_simulator) -> None:
    sim = modbus_simulator([f"{u}=eastron-sdm120" for u in range(1, 11)], tcp=True)
    broker = mosquitto()
    recorder = mqtt_recorder(broker, READINGS, client_id="platform")
    status = mqtt_recorder(broker, STATUS, client_id="status-watch", persistent=False)
    config = site_toml(tmp_path, tcp_port=sim.tcp_endpoint.port, units=range(1, 11),
                       mqtt_port=broker.port, interval="1s")
    log = tmp_path / "gateway.log"

    first = _run(config, log)
    assert recorder.wait_for(lambda m: len(m) >= 30, timeout=30), log.read_text()
    broker.pause()  # acks stop: the kill catches messages committed but not yet acknowledged
    time.sleep(1.5)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    broker.resume()
    assert status.wait_for(lambda m: any(json.loads(x.payload)["state"] == "offline"
                                         for x in m), timeout=90), "no last will after SIGKILL"
    with Outbox(tmp_path / "outbox.sqlite") as box:
        left_after_kill = box.depth()
        backlog = box.pending(limit=left_after_kill)
    assert left_after_kill > 0, "the kill should have left committed, unacknowledged readings"
    last_committed = max(m.seq for m in backlog)

    second = _run(config, log)
    # wait for the restarted gateway to have replayed the whole backlog and polled three more rounds
    # of the 10 meters, however long its start-up takes on a loaded machine (not a fixed sleep)
    assert recorder.wait_for(lambda m: _max_seq(m) >= last_committed + 30, timeout=60), log.read_text()
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=30) == 0, log.read_text()

    with Outbox(tmp_path / "outbox.sqlite") as box:
        assert box.depth() == 0, "the restarted gateway should have delivered the backlog"
    assert recorder.wait_for(lambda m: _gaps(m) == set(), timeout=20)
    seqs = {json.loads(m.payload)["seq"] for m in recorder.snapshot()}
    assert len(seqs) >= 30 + 10 * 3


def _max_seq(messages) -> int:  # type: ignore[no-untyped-def]
    return max((json.loads(m.payload)["seq"] for m in messages), default=0)


def _gaps(messages) -> set[int]:  # type: ignore[no-untyped-def]
    seqs = {json.loads(m.payload)["seq"] for m in messages}
    return set(range(min(seqs), max(seqs) + 1)) - seqs if seqs else {0}
