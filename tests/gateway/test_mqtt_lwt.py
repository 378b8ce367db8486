"""The last will: SIGKILL a publisher process and the broker turns its retained status offline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from core.contract.schema import check_message
from core.contract.topics import Topics
from tests.support.mosquitto import MosquittoFactory, RecorderFactory

CHILD = textwrap.dedent("""
    import sys, time
    from gateway.mqtt.publisher import MqttOptions, Publisher
    from gateway.outbox import Outbox

    host, port, path, protocol = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    outbox = Outbox(path, max_bytes=1 << 22)
    pub = Publisher(MqttOptions(host=host, port=port, site="campus", gateway="gw-kill",
                                protocol=protocol, keepalive=60), outbox)
    pub.start()
    while not (pub.stats().connected and pub.stats().retained_published and not pub.stats().in_flight):
        time.sleep(0.02)
    print("online", flush=True)
    time.sleep(600)
""")


def run_and_kill(protocol: str, broker_host: str, broker_port: int, tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, broker_host, str(broker_port),
                             str(tmp_path / f"outbox-{protocol}.sqlite"), protocol],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "online", proc.stderr.read() if proc.stderr else line
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)


def test_sigkill_turns_the_retained_status_offline(mosquitto: MosquittoFactory,
                                                   mqtt_recorder: RecorderFactory, tmp_path: Path) -> None:
    broker = mosquitto()
    topic = Topics("metergate", "campus", "gw-kill").status
    for protocol in ("5", "3.1.1"):
        watcher = mqtt_recorder(broker, topic, client_id=f"watch-{protocol}", persistent=False)
        run_and_kill(protocol, broker.host, broker.port, tmp_path)
        assert watcher.wait_for(lambda ms: bool(ms) and json.loads(ms[-1].payload)["state"] == "offline", 10)
        states = [check_message(m.topic, m.payload).doc["state"] for m in watcher.snapshot()]
        assert states[-2:] == ["online", "offline"], states
        # the offline document is retained: a client arriving now reads it first
        late = mqtt_recorder(broker, topic, client_id=f"late-{protocol}", persistent=False)
        assert late.wait_for(lambda ms: len(ms) == 1, 5)
        msg = late.snapshot()[0]
        doc = check_message(msg.topic, msg.payload).doc
        assert msg.retain and doc["state"] == "offline" and doc["gateway"] == "gw-kill"
        assert doc["ts"] <= time.time()
        late.close()
        watcher.close()
