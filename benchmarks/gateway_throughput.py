"""Benchmark: meters polled per second by the whole gateway over Modbus TCP, with publishing; CPU and RSS.

    python -m benchmarks.gateway_throughput [--meters 1000] [--points 20] [--interval 1]
        [--duration 30] [--simulators 4] [--ports 0] [--ladder 0.25,0.5,1,1.5,2]
        [--mqtt-protocol 5] [--commit-interval 1s] [--soak SECONDS] [--profile SECONDS] [--keep]

Setup (all on loopback): `--simulators` processes of simulated meters (benchmarks._tcp_simulators;
separate processes, so their CPU is not the gateway's) serving Modbus TCP ports with up to 247 unit
ids each; a private mosquitto on a free port with a subscriber in this process; then, for every step
of the ladder (multiples of `--meters`), a site config with one tcp bus per simulator port and the
meters spread evenly over them, each polled for `--points` points of a Chint DTSU666 in one poll
group every `--interval` seconds (points the planner reads in one request), and the gateway itself,
`metergate run CONFIG`, as a subprocess: scheduler -> durable outbox -> MQTT QoS 1.

Measured over `--duration` seconds after a warm-up, per step: polls per second (the gateway's own
Prometheus counters), readings messages per second at the subscriber (publishing kept up? seq numbers
without holes?), the gateway's CPU (utime + stime of all threads, /proc) per wall second = cores and
per poll, VmRSS and VmHWM, outbox depth (read from the SQLite file), bytes written to storage, and the
cores of the simulators, the broker, this process and everything else on the machine.

Named baseline, measured in the same run on the same simulators: "bare read", one thread doing nothing
but drivers.pymodbus_adapter.ModbusConnection.read_registers of the same block as fast as it can
(client CPU µs per read), in rounds before the steps and after each; every step's CPU per poll is
printed as a ratio to the rounds next to it.

Targets (issue 3): 1000 meters x 20 points every 1 s under 0.5 core; resident memory <= 80 MB;
report where it saturates (achieved polls below 95 % of configured, the gateway at one core, or
publishing falling behind). Exit status 1 if a target is missed. docs/benchmarks.md has the details
and results; timings are never asserted in tests.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.processes import end_process
from drivers.planner import Block, plan_blocks
from drivers.profiles import MeterVariant, resolve_variant
from drivers.pymodbus_adapter import ModbusConnection
from drivers.reader import MeterReader
from drivers.transport import TcpEndpoint
from gateway.outbox import budget
from gateway.outbox.codec import encode

PROFILE = "chint-dtsu666:native"
MAX_UNITS = 247
TARGET_METERS = 1000
TARGET_POINTS = 20
TARGET_INTERVAL = 1.0
TARGET_CORES = 0.5
TARGET_RSS_MB = 80.0
KEEP_UP = 0.95  # achieved / configured polls below this: saturated
CORE_LIMIT = 0.95  # gateway cores at or above this: saturated
CLK_TCK = os.sysconf("SC_CLK_TCK")
SITE = "bench"
SEQ_RE = re.compile(rb'"seq":(\d+)')


# -- the workload ---------------------------------------------------------------------------------

def pick_quantities(variant: MeterVariant, points: int) -> tuple[list[str], list[Block]]:
    """`points` neighbouring points of the variant that the planner reads in the fewest requests."""
    ordered = sorted(variant.points, key=lambda p: (p.function, p.address))
    if points > len(ordered):
        raise SystemExit(f"--points {points}: {variant.key} has only {len(ordered)} points")
    dev = variant.device
    best: tuple[int, list[str], list[Block]] | None = None
    for i in range(len(ordered) - points + 1):
        chosen = ordered[i:i + points]
        blocks = plan_blocks([s for p in chosen for s in p.spans()], max_registers=dev.max_registers,
                             max_gap=dev.max_gap, unreadable=dev.unreadable)
        if best is None or len(blocks) < best[0]:
            best = (len(blocks), [p.quantity for p in chosen], blocks)
    assert best is not None
    return best[1], best[2]


@dataclass(frozen=True)
class Layout:
    """Where the meters live: `ports` Modbus TCP ports, meter i on port i % ports, unit i // ports + 1."""

    ports: int
    units_per_port: int

    @staticmethod
    def plan(max_meters: int, processes: int, ports: int = 0) -> Layout:
        """`ports` (0: as few as hold `max_meters`, at least one per process), rounded up to a
        multiple of `processes` so every process serves the same number."""
        ports = max(ports, processes, math.ceil(max_meters / MAX_UNITS))
        ports = math.ceil(ports / processes) * processes
        return Layout(ports, math.ceil(max_meters / ports))

    def place(self, i: int) -> tuple[int, int]:
        return i % self.ports, i // self.ports + 1


# -- processes ------------------------------------------------------------------------------------

def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system, every thread) of a live process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread group of a live process, by the names the gateway gives its threads
    in the kernel (gateway.threadname): the bus threads together, then each named thread."""
    out: dict[str, float] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                head, _, rest = f.read().rpartition(")")
        except OSError:
            continue  # the thread ended meanwhile
        name = head.split("(", 1)[1]
        fields = rest.split()
        group = "bus threads" if name.startswith("bus-") else name
        out[group] = out.get(group, 0.0) + (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def proc_mem_mb(pid: int) -> tuple[float, float, int]:
    """(VmRSS MB, VmHWM MB, threads) of a live process."""
    rss = hwm = 0.0
    threads = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss, hwm, threads


def proc_write_bytes(pid: int) -> int:
    """Bytes the process caused to be written to storage (/proc/PID/io write_bytes)."""
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    return 0


def machine_busy() -> tuple[float, float]:
    """(busy jiffies, all jiffies) of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + parts[4]
    return float(sum(parts) - idle), float(sum(parts))


def self_cpu() -> float:
    t = os.times()
    return t.user + t.system


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{what} did not listen on 127.0.0.1:{port} within {timeout:g} s")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    end_process(proc, signal.SIGTERM, timeout)


@dataclass
class Simulators:
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)  # index = port number in the Layout

    def cpu(self) -> float:
        return sum(proc_cpu(pid) for pid in self.pids)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
        for proc in self.procs:
            stop_process(proc, 10)


def start_simulators(layout: Layout, processes: int, folder: Path) -> Simulators:
    sims = Simulators()
    per_process = layout.ports // processes
    for n in range(processes):
        log = (folder / f"simulators-{n}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._tcp_simulators", "--profile", PROFILE,
             "--ports", str(per_process), "--units", str(layout.units_per_port), "--seed", str(n + 1)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
        sims.procs.append(proc)
    by_process: list[list[int]] = []
    for proc in sims.procs:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            sims.stop()
            raise SystemExit(f"a simulator process failed; see {folder}/simulators-*.log")
        info = json.loads(line)
        sims.pids.append(info["pid"])
        by_process.append(info["ports"])
    # port index p lives in process p % processes, so consecutive meters spread over processes
    for p in range(layout.ports):
        sims.ports.append(by_process[p % processes][p // processes])
    return sims


def start_broker(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("mosquitto") or next(
        (b for b in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(b, os.X_OK)),
        None)
    if binary is None:
        raise SystemExit("mosquitto is not installed (apt-get install mosquitto): the benchmark "
                         "measures publishing too")
    port = free_port()
    conf = folder / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    f"max_queued_messages 0\nlog_dest file {folder}/mosquitto.log\n")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    wait_listening(port, proc, "mosquitto")
    return proc, port


# -- the baseline ---------------------------------------------------------------------------------

@dataclass
class Baseline:
    """The named baseline "bare read": rounds of ModbusConnection.read_registers in one thread."""

    rounds: list[float] = field(default_factory=list)  # client CPU µs per read, one per round
    reads: int = 0
    wall_s: float = 0.0
    sim_cpu_s: float = 0.0  # simulator CPU while the rounds ran
    reader_rounds: list[float] = field(default_factory=list)  # MeterReader.read CPU µs per poll
    encoded: list[int] = field(default_factory=list)  # bytes of a poll in the outbox's encoding

    @property
    def cpu_us(self) -> float:
        """Median over rounds: one noisy round (a shared machine) does not move it."""
        return statistics.median(self.rounds)

    @property
    def wall_us(self) -> float:
        return self.wall_s / self.reads * 1e6

    @property
    def sim_cpu_us(self) -> float:
        return self.sim_cpu_s / self.reads * 1e6

    @property
    def reader_cpu_us(self) -> float:
        return statistics.median(self.reader_rounds)


def measure_baseline(base: Baseline, sims: Simulators, layout: Layout, block: Block,
                     variant: MeterVariant, quantities: Sequence[str], seconds: float,
                     rounds: int = 5) -> None:
    """Add `rounds` rounds of bare reads (and of MeterReader.read) over `seconds` to `base`."""
    conns = [ModbusConnection(TcpEndpoint("127.0.0.1", port), timeout=2.0) for port in sims.ports]
    for c in conns:
        c.open()
    try:
        # a few meters per port: a simulated meter's first read runs its physics from midnight
        units = min(4, layout.units_per_port)

        def target(i: int) -> tuple[ModbusConnection, int]:
            return conns[i % len(conns)], (i // len(conns)) % units + 1

        for i in range(len(conns) * units * 3):  # warm-up: every meter read at least once
            conn, unit = target(i)
            conn.read_registers(unit, block.function, block.address, block.count)
        readers = [MeterReader(conns[i % len(conns)], variant, (i // len(conns)) % units + 1,
                               quantities=quantities) for i in range(len(conns) * units)]
        share = seconds / rounds
        for _ in range(rounds):
            sim0, cpu0, wall0 = sims.cpu(), time.thread_time(), time.perf_counter()
            n = 0
            while time.perf_counter() - wall0 < share * 2 / 3:
                for _ in range(20):
                    conn, unit = target(n)
                    conn.read_registers(unit, block.function, block.address, block.count)
                    n += 1
            cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
            base.rounds.append(cpu / n * 1e6)
            base.reads += n
            base.wall_s += wall
            base.sim_cpu_s += sims.cpu() - sim0
            m, rcpu0, rwall0 = 0, time.thread_time(), time.perf_counter()
            while time.perf_counter() - rwall0 < share / 3:
                for reader in readers:
                    reader.read()
                    m += 1
            base.reader_rounds.append((time.thread_time() - rcpu0) / m * 1e6)
            for reader in readers:  # the named baseline of the storage writes, outside the timing
                readings = reader.read()
                base.encoded.append(len(encode(readings, readings[0].ts)) + budget.ROW_OVERHEAD)
    finally:
        for c in conns:
            c.close()


# -- the subscriber -------------------------------------------------------------------------------

class Subscriber:
    """Counts readings messages and checks their seq numbers (global, increasing, no holes)."""

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self._lock = threading.Lock()
        self.count = 0
        self.seqs: set[int] = set()
        self.out_of_order = 0
        self._last = 0
        self._subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-subscriber",
                                  protocol=paho.MQTTv5)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe(f"metergate/v1/{SITE}/+/meters/+/readings", 0)
        self.client.connect("127.0.0.1", port, 60)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise SystemExit("the benchmark's subscriber could not subscribe")

    def _on_message(self, client: object, userdata: object, msg: object) -> None:
        m = SEQ_RE.search(msg.payload)  # type: ignore[attr-defined]
        seq = int(m.group(1)) if m else -1
        with self._lock:
            self.count += 1
            if seq <= self._last:
                self.out_of_order += 1
            self._last = max(self._last, seq)
            self.seqs.add(seq)

    def reset(self) -> None:
        with self._lock:
            self.count, self.seqs, self.out_of_order, self._last = 0, set(), 0, 0

    def received(self) -> int:
        with self._lock:
            return self.count

    def holes(self) -> int:
        """seq numbers missing between the first and the last received."""
        with self._lock:
            if not self.seqs:
                return 0
            return max(self.seqs) - min(self.seqs) + 1 - len(self.seqs)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# -- one step -------------------------------------------------------------------------------------

@dataclass
class Step:
    meters: int
    configured: float  # polls per second asked for
    achieved: float = 0.0  # polls per second done (scheduler counters)
    published: float = 0.0  # readings messages per second reaching the subscriber
    acked: float = 0.0  # readings messages per second the broker acknowledged (gateway counter)
    failed: float = 0.0  # polls per second that were not ok
    missed: float = 0.0  # deadlines skipped per second
    requests_per_poll: float = 0.0
    cores: float = 0.0  # gateway CPU seconds per wall second
    rss_start_mb: float = 0.0  # VmRSS at the start of the window
    rss_mb: float = 0.0  # VmRSS at the end of the window
    hwm_mb: float = 0.0  # VmHWM (peak) at the end of the window
    threads: int = 0
    write_mb_s: float = 0.0  # bytes written to storage by the gateway (the outbox), MB per second
    depth_end: int = 0
    depth_growth: int = 0  # outbox depth at the end minus at the start of the window
    sim_cores: float = 0.0
    broker_cores: float = 0.0
    bench_cores: float = 0.0
    machine_cores: float = 0.0  # busy cores of the whole machine
    thread_cores: dict[str, float] = field(default_factory=dict)  # the gateway's, per thread group

    @property
    def other_cores(self) -> float:
        """Busy cores of everything else on the machine (a shared machine is noisy)."""
        return max(0.0, self.machine_cores - self.cores - self.sim_cores - self.broker_cores
                   - self.bench_cores)
    start_s: float = 0.0  # from exec to the first readings message
    bare_us: float = float("nan")  # the bare read measured right before and after this step
    soak_s: float = 0.0  # extra seconds run after the window (--soak), RSS only
    soak_rss_mb: float = 0.0
    soak_hwm_mb: float = 0.0
    holes: int = 0
    out_of_order: int = 0
    error: str | None = None

    @property
    def write_kb_per_poll(self) -> float:
        return self.write_mb_s * 1000 / self.achieved if self.achieved else float("nan")

    @property
    def cpu_per_poll_us(self) -> float:
        return self.cores / self.achieved * 1e6 if self.achieved else float("nan")

    @property
    def saturated(self) -> list[str]:
        why = []
        if self.achieved < KEEP_UP * self.configured:
            why.append(f"polls {self.achieved / self.configured:.0%} of configured")
        if self.cores >= CORE_LIMIT:
            why.append(f"gateway at {self.cores:.2f} core")
        if (self.published < KEEP_UP * self.achieved or self.acked < KEEP_UP * self.achieved
                or self.depth_growth > self.configured):
            why.append("publishing fell behind")
        return why


def site_config(folder: Path, meters: int, layout: Layout, sims: Simulators, broker_port: int,
                metrics_port: int, quantities: Sequence[str], interval: float,
                protocol: str = "5", commit_interval: str | None = None) -> Path:
    ms = round(interval * 1000)
    interval_text = f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"
    qs = ", ".join(f'"{q}"' for q in quantities)
    out = ["[site]", f'id = "{SITE}"', 'name = "gateway throughput benchmark"',
           f'gateway_id = "gw-{meters}"', "",
           "[[buildings]]", 'id = "b1"', 'name = "benchmark building"', 'category = "office"',
           "floor_area_m2 = 1000", "occupants = 10", ""]
    for p, port in enumerate(sims.ports):
        out += ["[[buses]]", f'id = "sim{p:02d}"', 'type = "tcp"', 'host = "127.0.0.1"',
                f"port = {port}", ""]
    for i in range(meters):
        p, unit = layout.place(i)
        out += ["[[meters]]", f'id = "m{i:04d}"', f'profile = "{PROFILE}"', f"unit = {unit}",
                f'bus = "sim{p:02d}"', 'building = "b1"', 'subitem = "power"',
                f'poll = [{{ interval = "{interval_text}", quantities = [{qs}] }}]', ""]
    out += ["[mqtt]", 'host = "127.0.0.1"', f"port = {broker_port}", f'protocol = "{protocol}"', "",
            "[outbox]", f'path = "outbox-{meters}.sqlite"',
            *([f'commit_interval = "{commit_interval}"'] if commit_interval else []), "",
            "[health]", f'prometheus_listen = "127.0.0.1:{metrics_port}"', ""]
    path = folder / f"site-{meters}.toml"
    path.write_text("\n".join(out), encoding="utf-8")
    return path


def scrape(port: int) -> dict[str, float]:
    """Sums of the gateway's poll, miss and request counters."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {"ok": 0.0, "partial": 0.0, "failed": 0.0, "skipped": 0.0, "missed": 0.0, "requests": 0.0,
           "acked": 0.0}
    for line in text.splitlines():
        if line.startswith("metergate_polls_total{"):
            result = line.split('result="', 1)[1].split('"', 1)[0]
            out[result] = out.get(result, 0.0) + float(line.rsplit(" ", 1)[1])
        elif line.startswith("metergate_polls_missed_total{"):
            out["missed"] += float(line.rsplit(" ", 1)[1])
        elif line.startswith("metergate_modbus_requests_total{"):
            out["requests"] += float(line.rsplit(" ", 1)[1])
        elif line.startswith("metergate_mqtt_acked_total "):
            out["acked"] = float(line.rsplit(" ", 1)[1])
    out["polls"] = out["ok"] + out["partial"] + out["failed"]
    return out


def outbox_depth(path: Path) -> int:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
            return int(db.execute("SELECT count(*) FROM messages").fetchone()[0])
    except sqlite3.Error:
        return -1


def metergate_command() -> list[str]:
    exe = Path(sys.executable).with_name("metergate")
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-c", "from cli.main import main; main()"]


def run_step(meters: int, args: argparse.Namespace, folder: Path, layout: Layout, sims: Simulators,
             broker: subprocess.Popen[bytes], broker_port: int, subscriber: Subscriber,
             quantities: Sequence[str]) -> Step:
    step = Step(meters, meters / args.interval)
    metrics_port = free_port()
    config = site_config(folder, meters, layout, sims, broker_port, metrics_port, quantities,
                         args.interval, args.mqtt_protocol, args.commit_interval)
    outbox = folder / f"outbox-{meters}.sqlite"
    subscriber.reset()
    log = (folder / f"gateway-{meters}.log").open("wb")
    started = time.monotonic()
    gw = subprocess.Popen([*metergate_command(), "run", str(config)], stdout=log, stderr=log,
                          stdin=subprocess.DEVNULL, cwd=folder)
    try:
        deadline = started + args.start_timeout
        while subscriber.received() < meters:
            if gw.poll() is not None:
                step.error = f"the gateway exited with status {gw.returncode} (log: {log.name})"
                return step
            if time.monotonic() > deadline:
                step.error = (f"only {subscriber.received()} readings messages within "
                              f"{args.start_timeout:g} s of start (log: {log.name})")
                return step
            time.sleep(0.05)
        step.start_s = time.monotonic() - started
        time.sleep(args.warmup)

        a0 = time.monotonic()
        s0 = scrape(metrics_port)
        t0 = time.monotonic()
        gw0, sim0, br0, me0, mach0 = (proc_cpu(gw.pid), sims.cpu(), proc_cpu(broker.pid),
                                      self_cpu(), machine_busy())
        wr0 = proc_write_bytes(gw.pid)
        th0 = thread_cpu(gw.pid)
        rx0, depth0 = subscriber.received(), outbox_depth(outbox)
        step.rss_start_mb = proc_mem_mb(gw.pid)[0]
        end = t0 + args.duration
        while (now := time.monotonic()) < end:
            time.sleep(min(1.0, end - now))
            if gw.poll() is not None:
                step.error = f"the gateway exited with status {gw.returncode} (log: {log.name})"
                return step
        t1 = time.monotonic()
        gw1, sim1, br1, me1, mach1 = (proc_cpu(gw.pid), sims.cpu(), proc_cpu(broker.pid),
                                      self_cpu(), machine_busy())
        wr1 = proc_write_bytes(gw.pid)
        th1 = thread_cpu(gw.pid)
        rx1 = subscriber.received()
        step.rss_mb, step.hwm_mb, step.threads = proc_mem_mb(gw.pid)
        step.depth_end = outbox_depth(outbox)
        a1 = time.monotonic()
        s1 = scrape(metrics_port)
        # the scrapes are kept out of the CPU window; the counters are taken over their own span,
        # from the middle of one scrape to the middle of the other
        span = (a1 + time.monotonic()) / 2 - (a0 + t0) / 2
        wall = t1 - t0
        polls = s1["polls"] - s0["polls"]
        step.achieved = polls / span
        step.failed = (s1["failed"] + s1["partial"] - s0["failed"] - s0["partial"]) / span
        step.missed = (s1["missed"] - s0["missed"]) / span
        step.requests_per_poll = (s1["requests"] - s0["requests"]) / polls if polls else 0.0
        step.published = (rx1 - rx0) / wall
        step.acked = (s1["acked"] - s0["acked"]) / span
        step.cores = (gw1 - gw0) / wall
        step.thread_cores = {name: (cpu - th0.get(name, 0.0)) / wall for name, cpu in th1.items()}
        step.write_mb_s = (wr1 - wr0) / wall / 1e6
        step.sim_cores = (sim1 - sim0) / wall
        step.broker_cores = (br1 - br0) / wall
        step.bench_cores = (me1 - me0) / wall
        step.machine_cores = (mach1[0] - mach0[0]) / (mach1[1] - mach0[1]) * (os.cpu_count() or 1)
        step.depth_growth = step.depth_end - depth0
        if args.profile_seconds and meters == args.meters:
            profile_gateway(gw.pid, args.profile_seconds, folder)
        if args.soak and meters == args.meters:
            soak_end = time.monotonic() + args.soak
            while time.monotonic() < soak_end and gw.poll() is None:
                time.sleep(min(5.0, max(0.0, soak_end - time.monotonic())))
            if gw.poll() is None:
                step.soak_s = args.soak
                step.soak_rss_mb, step.soak_hwm_mb, _ = proc_mem_mb(gw.pid)
    finally:
        stop_process(gw)
        log.close()
    time.sleep(0.5)
    step.holes, step.out_of_order = subscriber.holes(), subscriber.out_of_order
    return step


def profile_gateway(pid: int, seconds: float, folder: Path) -> None:
    """py-spy (if installed) on the running gateway, sampling the thread that holds the interpreter
    lock: where its Python CPU goes (C code that releases the lock, e.g. SQLite's commit, is not
    seen)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not os.access(spy, os.X_OK):
        print("  (--profile: py-spy is not installed; pip install py-spy)", file=sys.stderr)
        return
    out = folder / "gateway-profile.txt"
    run = subprocess.run([spy, "record", "--pid", str(pid), "--duration", str(math.ceil(seconds)),
                          "--rate", "250", "--gil", "--format", "raw", "--output", str(out),
                          "--nonblocking"], capture_output=True, text=True, check=False)
    if run.returncode or not out.exists():
        print(f"  (--profile: py-spy failed: {run.stderr.strip()[-300:]})", file=sys.stderr)


# the gateway's data path, by the function that does each part (inclusive time)
STAGES = (
    ("bus: pymodbus read (ModbusConnection.read_registers)", "ModbusConnection.read_registers"),
    ("bus: decode (MeterReader.read minus the read)", "MeterReader.read"),
    ("outbox writer: append (encode, SQLite insert and commit)", "Outbox.append_messages"),
    ("bus: live view (LiveView.update)", "LiveView.update"),
    ("publisher: outbox read and decode (Outbox.pending)", "Outbox.pending"),
    ("publisher: JSON payload (ReadingsRenderer.render)", "ReadingsRenderer.render"),
    ("publisher: paho publish (Link.publish)", "Link.publish"),
    ("publisher: paho network loop, PUBACKs (Link.poll)", "Link.poll"),
    ("publisher: delete acknowledged (Outbox.ack)", "Outbox.ack"),
    ("health document and Prometheus", "Gateway.health_document"),
)


def print_profile(path: Path, top: int = 15) -> None:
    funcs: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        count = int(n)
        frames = stack.split(";")
        total += count
        leaf = frames[-1]
        funcs[leaf] = funcs.get(leaf, 0) + count
        for name in {f.split(" (", 1)[0] for f in frames}:
            inclusive[name] = inclusive.get(name, 0) + count
    if not total:
        print("py-spy: no samples")
        return
    print(f"py-spy profile of the gateway at the target step ({total} samples of the thread holding "
          f"the interpreter lock; {path}):")
    for label, name in STAGES:
        count = inclusive.get(name, 0)
        if name == "MeterReader.read":
            count -= inclusive.get("ModbusConnection.read_registers", 0)
        print(f"  {count / total:6.1%}  {label}")
    print("  own time by function:")
    for leaf, count in sorted(funcs.items(), key=lambda kv: -kv[1])[:top]:
        where = leaf
        for marker in ("site-packages/", "/lib/python3.", "/work/main/"):
            where = where.replace(where[where.find("(") + 1:where.find(marker) + len(marker)], "") \
                if marker in where else where
        print(f"    {count / total:6.1%}  {where}")


def print_baseline(base: Baseline, points: int, block: Block) -> None:
    print(f'Baseline "bare read": ModbusConnection.read_registers of the same {block.count}-register '
          f"block in one thread, {len(base.rounds)} rounds (before the steps and after each), "
          f"{base.reads} reads:")
    print(f"  {base.cpu_us:.0f} µs client CPU per read (median of the rounds; they ranged "
          f"{min(base.rounds):.0f}-{max(base.rounds):.0f} µs), {base.wall_us:.0f} µs round trip; "
          "each step's ratio uses the rounds next to it")
    print(f"  driver read + decode (MeterReader.read of the {points} points): "
          f"{base.reader_cpu_us:.0f} µs CPU per poll = {base.reader_cpu_us / base.cpu_us:.2f}x "
          "bare read")
    print(f"  simulator CPU per request: {base.sim_cpu_us:.0f} µs = "
          f"{base.sim_cpu_us / base.cpu_us:.2f}x bare read")


# -- the report -----------------------------------------------------------------------------------

def ladder(args: argparse.Namespace) -> list[int]:
    steps = sorted({max(1, round(args.meters * float(x))) for x in args.ladder.split(",")}
                   | {args.meters})
    return steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--meters", type=int, default=TARGET_METERS,
                        help="the target step (verdicts are made on it)")
    parser.add_argument("--points", type=int, default=TARGET_POINTS, help="points per poll")
    parser.add_argument("--interval", type=float, default=TARGET_INTERVAL, help="poll interval, s")
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds per step")
    parser.add_argument("--warmup", type=float, default=5.0,
                        help="seconds after every meter was published once, before measuring")
    parser.add_argument("--simulators", type=int, default=4, help="simulator processes")
    parser.add_argument("--ports", type=int, default=0,
                        help="Modbus TCP ports = gateway buses (0: as few as hold the largest step, "
                             "at least one per simulator process; at most 247 meters per port)")
    parser.add_argument("--mqtt-protocol", choices=("5", "3.1.1"), default="5",
                        help="the gateway's MQTT protocol (the product default is 5)")
    parser.add_argument("--ladder", default="0.25,0.5,1,1.5,2",
                        help="steps as multiples of --meters; stops after the first saturated step "
                             "at or above --meters")
    parser.add_argument("--baseline-seconds", type=float, default=3.0)
    parser.add_argument("--start-timeout", type=float, default=120.0)
    parser.add_argument("--profile", dest="profile_seconds", type=float, default=0.0,
                        metavar="SECONDS", help="also sample the gateway with py-spy for this long "
                        "at the target step (after its measured window)")
    parser.add_argument("--soak", type=float, default=0.0, metavar="SECONDS",
                        help="keep the target step running this much longer and report its RSS "
                             "then (per-device latency windows fill after 256 polls)")
    parser.add_argument("--commit-interval", default=None, metavar="DURATION",
                        help="the site config's outbox.commit_interval (default: the product's, 1s)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (configs, logs)")
    args = parser.parse_args(argv)
    if args.meters < 1 or args.points < 1 or args.interval < 0.1 or args.duration <= 0:
        parser.error("--meters and --points must be >= 1, --interval >= 0.1 s, --duration > 0")

    variant = resolve_variant(PROFILE)
    quantities, blocks = pick_quantities(variant, args.points)
    steps = ladder(args)
    layout = Layout.plan(max(steps), args.simulators, args.ports)
    folder = Path(tempfile.mkdtemp(prefix="metergate-bench-"))
    ncpu = os.cpu_count() or 1

    print(f"Gateway throughput: {PROFILE}, {args.points} points per poll in {len(blocks)} "
          f"request(s) of {', '.join(str(b.count) for b in blocks)} registers "
          f"({quantities[0]} .. {quantities[-1]}), every {args.interval:g} s; "
          f"{args.duration:g} s measured per step after a {args.warmup:g} s warm-up")
    print(f"Simulators: {args.simulators} processes, {layout.ports} Modbus TCP ports "
          f"(= gateway buses), up to {layout.units_per_port} unit ids per port; mosquitto on "
          f"loopback, MQTT {args.mqtt_protocol}; {ncpu} CPUs; work folder {folder}")
    if len(blocks) > 1:
        print(f"note: {args.points} neighbouring points of {PROFILE} need {len(blocks)} requests")

    sims = start_simulators(layout, args.simulators, folder)
    broker, broker_port = start_broker(folder)
    subscriber: Subscriber | None = None
    rows: list[Step] = []
    base = Baseline()
    try:
        measure_baseline(base, sims, layout, blocks[0], variant, quantities, args.baseline_seconds)
        subscriber = Subscriber(broker_port)
        for meters in steps:
            print(f"  ... {meters} meters", end="", file=sys.stderr, flush=True)
            before = base.rounds[-2:]
            step = run_step(meters, args, folder, layout, sims, broker, broker_port, subscriber,
                            quantities)
            rows.append(step)
            # two more rounds right after every step: the step's ratio uses the rounds next to it,
            # so a machine that got busier or quieter meanwhile does not skew it
            measure_baseline(base, sims, layout, blocks[0], variant, quantities, 1.0, rounds=2)
            step.bare_us = statistics.median(before + base.rounds[-2:])
            print(f": {step.error or f'{step.achieved:.0f} polls/s, {step.cores:.3f} core'}",
                  file=sys.stderr, flush=True)
            if step.error or (step.saturated and meters >= args.meters):
                break
    finally:
        if subscriber is not None:
            subscriber.close()
        stop_process(broker)
        sims.stop()
    code = report(rows, base, args, ncpu, blocks[0])
    profile = folder / "gateway-profile.txt"
    if profile.exists():
        print()
        print_profile(profile)
    if args.keep or profile.exists():
        print(f"work folder kept: {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return code


COLUMNS = """\
  conf/s   polls asked for per second          polls/s  polls done (the gateway's own counters)
  pub/s    readings messages at a subscriber   acked/s  readings messages the broker acknowledged
  gw cores gateway CPU seconds per second, all threads
  µs/poll  gateway CPU per poll                bare µs  the bare read, measured before and after
  x bare   µs/poll / bare µs                   RSS, HWM resident memory at the end, and its peak
  outbox   depth at the end of the window      KB/poll  bytes the gateway wrote to storage per poll
  sims, broker, bench, other: cores used by the simulator processes, mosquitto, this process (the
  subscriber) and everything else on the machine ({ncpu} cores; a busy 'other' makes a step unreliable)"""


def print_table(rows: list[Step], ncpu: int) -> None:
    head = (f"{'meters':>6} {'conf/s':>7} {'polls/s':>8} {'pub/s':>8} {'acked/s':>8} {'gw cores':>8} "
            f"{'µs/poll':>8} {'bare µs':>7} {'x bare':>7} {'RSS MB':>7} {'HWM MB':>7} "
            f"{'outbox':>7} {'KB/poll':>7} {'sims':>5} {'broker':>6} {'bench':>5} {'other':>5}  note")
    print(head)
    print("-" * len(head))
    for step in rows:
        if step.error:
            print(f"{step.meters:>6} {step.configured:>7.0f}  ERROR: {step.error}")
            continue
        notes = step.saturated
        if step.failed:
            notes.append(f"{step.failed:.1f} failed polls/s")
        if step.missed:
            notes.append(f"{step.missed:.1f} missed deadlines/s")
        if step.holes or step.out_of_order:
            notes.append(f"{step.holes} seq holes, {step.out_of_order} out of order")
        if step.machine_cores >= 0.95 * ncpu:
            notes.append("machine saturated")
        print(f"{step.meters:>6} {step.configured:>7.0f} {step.achieved:>8.1f} "
              f"{step.published:>8.1f} {step.acked:>8.1f} {step.cores:>8.3f} {step.cpu_per_poll_us:>8.0f} "
              f"{step.bare_us:>7.0f} {step.cpu_per_poll_us / step.bare_us:>6.2f}x "
              f"{step.rss_mb:>7.1f} {step.hwm_mb:>7.1f} {step.depth_end:>7} "
              f"{step.write_kb_per_poll:>7.1f} {step.sim_cores:>5.2f} {step.broker_cores:>6.2f} "
              f"{step.bench_cores:>5.2f} {step.other_cores:>5.2f}  " + "; ".join(notes))
    print()
    print(COLUMNS.format(ncpu=ncpu))


def report(rows: list[Step], base: Baseline, args: argparse.Namespace, ncpu: int,
           block: Block) -> int:
    print()
    print_baseline(base, args.points, block)
    print()
    print_table(rows, ncpu)
    good = [r for r in rows if not r.error]
    target = next((r for r in good if r.meters == args.meters), None)
    failures: list[str] = []
    if target is None:
        print(f"TARGET MISSED: no measurement at {args.meters} meters")
        return 1
    is_target_workload = (args.points, args.interval) == (TARGET_POINTS, TARGET_INTERVAL) \
        and args.meters == TARGET_METERS
    print()
    print(f"gateway path = {target.cpu_per_poll_us / target.bare_us:.2f}x a bare pymodbus read "
          f"({target.cpu_per_poll_us:.0f} µs of gateway CPU per poll vs {target.bare_us:.0f} µs "
          f"per bare read measured next to it: {target.cpu_per_poll_us - target.bare_us:.0f} µs "
          "per poll beyond the read) "
          f"at {target.meters} meters")
    at_rate = target.cpu_per_poll_us * target.configured / 1e6
    print(f"at {target.meters} meters: {target.achieved:.1f} of {target.configured:.0f} polls/s "
          f"({target.achieved / target.configured:.1%}), {target.cores:.3f} core measured, "
          f"{at_rate:.3f} core at the full configured rate; {target.requests_per_poll:.2f} Modbus "
          f"request(s) per poll; {target.threads} threads; outbox depth "
          f"{target.depth_end} (change over the window {target.depth_growth:+d}); first readings "
          f"published {target.start_s:.1f} s after exec")
    if target.thread_cores:
        split = sorted(target.thread_cores.items(), key=lambda kv: -kv[1])
        total = sum(target.thread_cores.values()) or 1.0
        print(f"CPU by thread at {target.meters} meters: " + ", ".join(
            f"{name} {cores:.3f} core ({cores / total:.0%}, {cores / target.achieved * 1e6:.0f} µs/poll)"
            for name, cores in split if cores >= 0.0005))
    encoded_kb = statistics.median(base.encoded) / 1000
    print(f"storage writes at {target.meters} meters: {target.write_mb_s * 1000:.1f} KB/s, "
          f"{target.write_kb_per_poll:.2f} KB per poll = {target.write_kb_per_poll / encoded_kb:.1f}x "
          f"the {encoded_kb:.3f} KB a poll takes in the outbox's encoding (row included); "
          f"{target.write_mb_s * 86400 / 1000:.2f} GB a day at {target.achieved:.0f} polls/s "
          f"(outbox.commit_interval {args.commit_interval or 'default'}); "
          "target <= 0.6 KB and <= 5x")
    minutes = args.duration / 60
    print(f"resident memory at {target.meters} meters: {target.rss_mb:.1f} MB at the end of the "
          f"window (peak {target.hwm_mb:.1f} MB), {target.rss_mb - target.rss_start_mb:+.1f} MB "
          f"over the {args.duration:g} s window ({(target.rss_mb - target.rss_start_mb) / minutes:+.1f}"
          " MB/min)" + (f"; after {target.soak_s:g} s more: {target.soak_rss_mb:.1f} MB (peak "
                        f"{target.soak_hwm_mb:.1f} MB)" if target.soak_s else
                        "; --soak 300 shows where it settles"))
    sat = next((r for r in good if r.saturated), None)
    best = max(good, key=lambda r: r.achieved)
    kept = [r for r in good if not r.saturated] or good
    ref = max(kept, key=lambda r: r.meters)  # the per-poll cost of the largest step that kept up
    if sat is None:
        print(f"saturation: not reached up to {good[-1].meters} meters")
    else:
        print(f"saturation: at {sat.meters} meters ({'; '.join(sat.saturated)})")
        if sat.cores < CORE_LIMIT and sat.machine_cores < 0.95 * ncpu:
            print(f"  the gateway fell behind at {sat.cores:.2f} core with the machine not saturated "
                  f"({sat.machine_cores:.2f} of {ncpu} cores busy): its threads take turns on one "
                  "Python interpreter lock, so one process tops out below a full core")
    print(f"highest poll rate measured: {best.achieved:.0f} polls/s ({best.meters} meters, "
          f"{best.cores:.2f} core); by CPU per poll ({ref.cpu_per_poll_us:.0f} µs at {ref.meters} "
          f"meters) one full core would be {1e6 / ref.cpu_per_poll_us:.0f} polls/s")
    sim_us = [r.sim_cores / r.achieved * 1e6 for r in good if r.achieved]
    others = max(r.sim_cores + r.broker_cores + r.bench_cores for r in good)
    print(f"load generators: simulators {min(sim_us):.0f}-{max(sim_us):.0f} µs CPU per request "
          f"(about {1e6 / max(sim_us):.0f} requests/s per core); simulators + broker + subscriber "
          f"used up to {others:.2f} of the {ncpu} cores")
    if any(r.machine_cores >= 0.95 * ncpu for r in good):
        print(f"FINDING: the machine was saturated ({ncpu} cores busy) at "
              f"{min(r.meters for r in good if r.machine_cores >= 0.95 * ncpu)} meters: from there "
              "the simulators and the gateway compete for CPU and the rate is not the gateway's alone")
    if target.sim_cores + target.broker_cores > ncpu - 1:
        print(f"FINDING: at {target.meters} meters the simulators and broker need "
              f"{target.sim_cores + target.broker_cores:.2f} cores, more than the {ncpu - 1} left "
              "next to the gateway's one")
    noisy = [r for r in good if r.other_cores > 0.2]
    if noisy:
        print("WARNING: other processes used " + ", ".join(
            f"{r.other_cores:.2f} core at {r.meters} meters" for r in noisy)
              + ": those figures are unreliable; run again on a quiet machine")
    if target.holes or target.out_of_order:
        failures.append(f"{target.holes} seq holes and {target.out_of_order} out-of-order messages "
                        "at the subscriber")
    if is_target_workload:
        if target.achieved < KEEP_UP * target.configured:
            failures.append(f"{target.achieved:.0f} of {target.configured:.0f} polls/s at "
                            f"{target.meters} meters (target >= {KEEP_UP:.0%})")
        if at_rate > TARGET_CORES:
            failures.append(f"{at_rate:.3f} core for {target.meters} meters x {args.points} points "
                            f"every {args.interval:g} s (target <= {TARGET_CORES})")
        peak = max(target.hwm_mb, target.soak_hwm_mb)
        if peak > TARGET_RSS_MB:
            failures.append(f"resident memory peaked at {peak:.1f} MB "
                            f"(target <= {TARGET_RSS_MB:g} MB)")
    else:
        print(f"(not the target workload of {TARGET_METERS} meters x {TARGET_POINTS} points every "
              f"{TARGET_INTERVAL:g} s: targets not judged)")
    for f in failures:
        print(f"TARGET MISSED: {f}")
    if is_target_workload or failures:
        print("all targets met" if not failures else f"{len(failures)} target(s) missed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
