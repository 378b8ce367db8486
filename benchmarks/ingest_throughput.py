"""Benchmark: sustained points per second through broker -> ingest -> VictoriaMetrics, with CPU.

    python -m benchmarks.ingest_throughput [--messages 50000] [--points 20] [--meters 1000]
        [--max-points 10000] [--max-delay 0.2] [--receive-maximum 10000] [--keep]

Setup (all on loopback): a private mosquitto (no persistence) and VictoriaMetrics on free ports. Two
persistent sessions are created first — the ingest's (share group "ingest") and the baseline's
(share group "baseline") — and then `--messages` readings messages of `--points` points each
(round-robin over `--meters` meters, every message a distinct timestamp) are published with QoS 1,
so the broker holds the same backlog for both. Each consumer then drains its backlog alone, so
nothing else competes for the CPU while it is measured:

1. the named baseline "plain subscriber": a paho-mqtt 2.x process subscribed with QoS 1 that does
   nothing with a message but count it (paho acknowledges on receipt) — the floor any MQTT
   consumer in Python pays;
2. `metergate ingest CONFIG` as a real process: validation against the contract, line protocol,
   gzip, synchronous influxdb-client writes to VictoriaMetrics, acknowledgement after the write.

Measured for ingest from the last scrape of its Prometheus endpoint that shows nothing written yet
(the service is up: Python start-up and config loading are not counted) to the first that shows
every point written: points per second, CPU seconds (utime + stime of the
process, /proc) per 100,000 points, and both as ratios to the baseline measured in this run.
VictoriaMetrics' own row counter confirms every point arrived. Target (issue 4): >= 100,000 points/s
with one ingest process. Exit status 1 if a point is missing or the target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

TARGET_POINTS_S = 100_000
CLK_TCK = os.sysconf("SC_CLK_TCK")
_BASELINE_SCRIPT = r"""
import json, sys, time
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
host, port, topic, client_id = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[5]
expected = int(sys.argv[4])
state = {"n": 0, "first": None, "cpu0": None}
def on_connect(c, u, f, r, p):
    c.subscribe(topic, qos=1)
def on_message(c, u, m):
    if state["first"] is None:
        state["first"], state["cpu0"] = time.monotonic(), time.process_time()
    state["n"] += 1
    if state["n"] >= expected:
        state["last"], state["cpu1"] = time.monotonic(), time.process_time()
        c.disconnect()
c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
c.on_connect, c.on_message = on_connect, on_message
props = Properties(PacketTypes.CONNECT)
props.SessionExpiryInterval = 3600
props.ReceiveMaximum = int(sys.argv[6])
c.connect(host, port, 30, clean_start=False, properties=props)
c.loop_forever()
print(json.dumps({"messages": state["n"], "wall_s": state["last"] - state["first"],
                  "cpu_s": state["cpu1"] - state["cpu0"]}))
"""


@dataclass
class Run:
    points: int
    wall_s: float
    cpu_s: float
    batches: int = 0
    write_s: float = 0.0  # time spent in successful write requests
    servers_cpu_s: tuple[float, float] = (0.0, 0.0)  # mosquitto, VictoriaMetrics during the whole run

    @property
    def rate(self) -> float:
        return self.points / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def cpu_per_100k(self) -> float:
        return self.cpu_s / self.points * 100_000 if self.points else 0.0


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def _scrape(port: int, name: str) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return -1.0
    m = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE)
    return float(m.group(1)) if m else 0.0


def _make_session(host: str, port: int, client_id: str, topic: str, receive_maximum: int) -> None:
    """Create a persistent session subscribed to `topic`, then leave (the broker queues for it)."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    done: list[bool] = []
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    c.on_subscribe = lambda *a: done.append(True)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = receive_maximum
    c.connect(host, port, 30, clean_start=False, properties=props)
    c.loop_start()
    c.subscribe(topic, qos=1)
    deadline = time.monotonic() + 10
    while not done and time.monotonic() < deadline:
        time.sleep(0.01)
    c.disconnect()
    c.loop_stop()
    if not done:
        raise SystemExit(f"could not subscribe {client_id} to {topic}")


def _preload(host: str, port: int, args: argparse.Namespace) -> int:
    """Publish the backlog (QoS 1); returns the number of points."""
    from tests.support.ingest import Publisher, readings_payload, topic_for

    pub = Publisher(host, port, client_id="bench-publisher")
    t0 = time.time() - 86_400
    quantities = [f"q_{k:02d}" for k in range(args.points)]
    for seq in range(1, args.messages + 1):
        meter = f"m{seq % args.meters:04d}"
        values = {q: seq + k / 8 for k, q in enumerate(quantities)}
        pub.send(topic_for(meter), readings_payload(meter, seq=seq, ts=round(t0 + seq / 1000, 3),
                                                    values=values))
    if not pub.flush(600):
        raise SystemExit("the broker did not acknowledge the backlog")
    pub.close()
    return args.messages * args.points


def run_baseline(host: str, port: int, args: argparse.Namespace) -> Run:
    out = subprocess.run([sys.executable, "-c", _BASELINE_SCRIPT, host, str(port),
                          "$share/baseline/metergate/v1/+/+/meters/+/readings", str(args.messages),
                          "bench-baseline", str(args.receive_maximum)],
                         capture_output=True, text=True, timeout=900, check=False)
    if out.returncode:
        raise SystemExit(f"baseline subscriber failed: {out.stderr[-2000:]}")
    doc = json.loads(out.stdout)
    return Run(doc["messages"] * args.points, doc["wall_s"], doc["cpu_s"])


def run_ingest(config: Path, log: Path, prom_port: int, total: int) -> Run:
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cli.main", "ingest", str(config),
                                 "--log-level", "warning"], stdout=out, stderr=subprocess.STDOUT)
    first: tuple[float, float, float] | None = None
    last: tuple[float, float, float] | None = None
    batches = write_s = 0.0
    deadline = time.monotonic() + 900
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"ingest exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            points = _scrape(prom_port, "metergate_ingest_points_written_total")
            sample = (time.monotonic(), points, _cpu_s(proc.pid))
            if points == 0:  # the service is up (its endpoint answers) and has written nothing yet
                first = sample
            if points >= total:
                last = sample
                batches = _scrape(prom_port, "metergate_ingest_batches_written_total")
                write_s = _scrape(prom_port, "metergate_ingest_write_seconds_sum")
                break
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(30)
    if first is None or last is None:
        raise SystemExit(f"ingest did not write {total} points:\n{log.read_text()[-3000:]}")
    return Run(int(last[1] - first[1]), last[0] - first[0], last[2] - first[2], int(batches), write_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--points", type=int, default=20, help="points per message")
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--max-points", type=int, default=10_000, help="[batching] max_points")
    parser.add_argument("--max-delay", type=float, default=0.2, help="[batching] max_delay, seconds")
    parser.add_argument("--receive-maximum", type=int, default=10_000)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)

    from tests.support.mosquitto import Mosquitto, free_port
    from tests.support.victoria import Victoria

    folder = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    (folder / "broker").mkdir()
    (folder / "vm").mkdir()
    broker = Mosquitto(folder / "broker", persistence=False).start()
    vm = Victoria(folder / "vm").start()
    try:
        prom_port = free_port()
        from tests.support.ingest import ingest_toml

        config = ingest_toml(folder, broker.port, influx_url=vm.url, client_id="bench-ingest",
                             max_points=args.max_points, max_delay=f"{round(args.max_delay * 1000)}ms",
                             receive_maximum=args.receive_maximum, health_interval="5s",
                             prometheus_port=prom_port)
        _make_session(broker.host, broker.port, "bench-ingest",
                      "$share/ingest/metergate/v1/+/+/meters/+/readings", args.receive_maximum)
        _make_session(broker.host, broker.port, "bench-baseline",
                      "$share/baseline/metergate/v1/+/+/meters/+/readings", args.receive_maximum)
        started = time.monotonic()
        total = _preload(broker.host, broker.port, args)
        payload = len(json.dumps(_sample_doc(args.points)))
        print(f"Ingest throughput: {args.messages} readings messages x {args.points} points = {total} "
              f"points (~{payload} B per message, {args.meters} meters), preloaded into mosquitto "
              f"in {time.monotonic() - started:.1f} s; VictoriaMetrics {vm.url}")
        print(f"ingest: batches of up to {args.max_points} points or {args.max_delay:g} s, "
              f"receive maximum {args.receive_maximum}, gzip, v2 write API")
        print()
        assert broker.proc is not None and vm.proc is not None
        servers = (broker.proc.pid, vm.proc.pid)
        before = [_cpu_s(p) for p in servers]
        base = run_baseline(broker.host, broker.port, args)
        middle = [_cpu_s(p) for p in servers]
        ingest = run_ingest(config, folder / "ingest.log", prom_port, total)
        after = [_cpu_s(p) for p in servers]
        base.servers_cpu_s = (middle[0] - before[0], middle[1] - before[1])
        ingest.servers_cpu_s = (after[0] - middle[0], after[1] - middle[1])
        vm.flush()
        rows = _vm_rows(vm.url)
    finally:
        broker.stop()
        vm.stop()
        if not args.keep:
            import shutil
            shutil.rmtree(folder, ignore_errors=True)
        else:
            print(f"work folder kept: {folder}")

    head = (f"{'consumer':<34} {'points/s':>10} {'msgs/s':>9} {'CPU s/100k pts':>15} {'cores':>6} "
            f"{'broker CPU s':>13} {'VM CPU s':>9}")
    print(head)
    print("-" * len(head))
    for name, run in (('baseline "plain subscriber"', base), ("metergate ingest", ingest)):
        print(f"{name:<34} {run.rate:>10,.0f} {run.rate / args.points:>9,.0f} {run.cpu_per_100k:>15.4f} "
              f"{run.cpu_s / run.wall_s if run.wall_s else 0:>6.2f} {run.servers_cpu_s[0]:>13.2f} "
              f"{run.servers_cpu_s[1]:>9.2f}")
    print()
    print(f"ingest / baseline: {ingest.rate / base.rate:.2f}x the points per second, "
          f"{ingest.cpu_per_100k / base.cpu_per_100k:.2f}x the CPU per point "
          f"(the extra is validation, line protocol, gzip, HTTP and the write)")
    if ingest.batches:
        print(f"ingest wrote {ingest.batches} batches, {total / ingest.batches:,.0f} points each on "
              f"average; {ingest.write_s:.2f} s in write requests in all")
    print(f"VictoriaMetrics rows inserted (its own counter): {rows:,} = {rows / 2:,.0f} points x 2 "
          f"fields (value, quality) of {total:,} points sent")
    ok = True
    if rows < 2 * total:
        print(f"MISSING: {total - rows / 2:,.0f} points did not reach VictoriaMetrics")
        ok = False
    verdict = "met" if ingest.rate >= TARGET_POINTS_S else "MISSED"
    print(f"target >= {TARGET_POINTS_S:,} points/s with one ingest process: {verdict} "
          f"({ingest.rate:,.0f} points/s on {os.cpu_count()} CPUs, shared)")
    return 0 if ok and ingest.rate >= TARGET_POINTS_S else 1


def _sample_doc(points: int) -> dict[str, object]:
    from tests.support.ingest import readings_doc
    return readings_doc("m0001", seq=123456, ts=1763700000.123,
                        values={f"q_{k:02d}": 1234.5 + k / 8 for k in range(points)})


def _vm_rows(url: str) -> int:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as r:
        text = r.read().decode()
    m = re.search(r'^vm_rows_inserted_total\{type="influx"\} (\S+)$', text, re.MULTILINE)
    return int(float(m.group(1))) if m else 0


if __name__ == "__main__":
    sys.exit(main())
