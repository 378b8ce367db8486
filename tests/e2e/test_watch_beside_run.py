"""`metergate watch` beside a running `metergate run`, as real processes on a real mosquitto.

On the same config `watch` is refused with one line naming the running gateway (it would poll the
same meters and share the outbox), and `watch --follow` shows the service read-only from its MQTT
topics; on a copy with its own outbox `watch` connects under its own client id. Either way the
running gateway's MQTT connection is never taken over: the broker's log shows its one connection
and no "already connected" takeover. A SIGKILLed gateway leaves no stale lock.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.outbox_lock import OutboxLock
from tests.e2e.site import site_toml

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "cli.main"]


def _watch(config: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "100", "LINES": "40"}
    return subprocess.run([*CLI, "watch", str(config), *args], capture_output=True, text=True,
                          timeout=timeout, check=False, env=env)


def _wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _connects(log: str, client_id: str) -> int:
    return len(re.findall(rf"New client connected from \S+ as {re.escape(client_id)} ", log))


def test_watch_beside_run(tmp_path: Path, mosquitto, modbus_simulator) -> None:  # type: ignore[no-untyped-def]
    sim = modbus_simulator([f"{u}=eastron-sdm120" for u in range(1, 4)], tcp=True)
    sim.inject(3, "no_answer")  # m03 never answers: the follower must say why
    broker = mosquitto()
    config = site_toml(tmp_path, tcp_port=sim.tcp_endpoint.port, units=range(1, 4),
                       mqtt_port=broker.port, interval="1s")
    run_log = tmp_path / "run.log"
    with run_log.open("ab") as out:
        run = subprocess.Popen([*CLI, "run", str(config)], stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for(lambda: _connects(broker.log_text(), "e2e-gw") == 1, 30,
                  "metergate run to connect to the broker")

        # 1. the same config: refused, one line, exit 1, nothing polled or published
        refused = _watch(config)
        assert refused.returncode == 1, refused
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1, refused.stderr
        assert f"metergate run (pid {run.pid}" in lines[0]
        assert "systemctl stop metergate-gateway" in lines[0]
        assert str(tmp_path / "outbox.sqlite") in lines[0]
        assert refused.stdout == ""
        assert f"metergate watch --follow {config}" in lines[0]

        # 1b. --follow: read-only from the service's topics, beside it
        followed = _watch(config, "--follow", "--duration", "4")
        assert followed.returncode == 0, followed.stderr
        rows = {line.split()[0]: line for line in followed.stdout.splitlines()
                if line.startswith(" m0")}
        assert set(rows) == {"m01", "m02", "m03"}, followed.stdout
        assert " on " in rows["m01"] and "P=" in rows["m01"], followed.stdout  # values arrive
        assert "timeout" in rows["m03"] and re.search(r" (OFF|wait) ", rows["m03"]), followed.stdout
        assert "read-only" in followed.stdout

        # 2. a copy with its own outbox: it runs, under its own client id
        copy = tmp_path / "copy"
        copy.mkdir()
        copied = copy / "site.toml"
        copied.write_text(config.read_text().replace(str(tmp_path / "outbox.sqlite"),
                                                     str(copy / "outbox.sqlite")))
        watched = _watch(copied, "--duration", "3")
        assert watched.returncode == 0, watched.stderr
        assert all(f" m0{u} " in watched.stdout for u in range(1, 4)), watched.stdout

        log = broker.log_text()
        assert _connects(log, "e2e-gw-watch") == 1, log
        assert _connects(log, "e2e-gw") == 1, log  # the service connected once, never again
        assert "already connected" not in log, log  # no client-id takeover
        assert run.poll() is None, run_log.read_text()
        assert "lost" not in run_log.read_text().lower(), run_log.read_text()
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=10)

    # 3. a SIGKILLed gateway holds nothing: the outbox can be taken at once
    lock = OutboxLock(tmp_path / "outbox.sqlite", "test")
    lock.acquire()
    assert lock.held
    lock.release()
