"""The scheduler on buses: real simulators (RTU on a pty with wire timing, Modbus TCP) for the
acceptance cases, a fake connection for pacing and lifecycle.

Acceptance (issue 3): a dead meter among 8 on a 9600-baud RTU line does not cost the other 7 more
than 5 % of their poll rate and is retried with backoff; an over-subscribed bus is reported at
start with its utilisation and stretched fairly; a missing serial port is retried forever while
other buses work; separate TCP devices are polled concurrently.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from core.reading import Quality
from drivers.errors import ConnectError
from drivers.transport import Endpoint
from gateway.metrics import GatewayMetrics
from gateway.scheduler import PollResult, Scheduler, stretch_factor
from site_config import SiteConfig, bus_utilisation, load_site_config

HEAD = """
[site]
id = "sched-test"
name = "Scheduler test"

[[buildings]]
id = "b1"
name = "B1"
category = "office"
floor_area_m2 = 1000
occupants = 10
"""
FOUR_POWERS = ["power_active", "power_active_l1", "power_active_l2", "power_active_l3"]
TWO_BLOCKS = ["power_active", "energy_active_import"]  # 0x2012 and 0x101E: two requests


def serial_bus(bus_id: str, device: str, *, baud: int = 9600, stopbits: int = 2,
               **extra: Any) -> str:
    lines = [f'id = "{bus_id}"', 'type = "serial"', f'device = "{device}"', f"baud = {baud}",
             f"stopbits = {stopbits}", *(f"{k} = {v}" for k, v in extra.items())]
    return "[[buses]]\n" + "\n".join(lines) + "\n"


def tcp_bus(bus_id: str, port: int, **extra: Any) -> str:
    lines = [f'id = "{bus_id}"', 'type = "tcp"', 'host = "127.0.0.1"', f"port = {port}",
             *(f"{k} = {v}" for k, v in extra.items())]
    return "[[buses]]\n" + "\n".join(lines) + "\n"


def meter(meter_id: str, unit: int, bus: str, quantities: list[str], interval: str,
          profile: str = "chint-dtsu666") -> str:
    names = ", ".join(f'"{q}"' for q in quantities)
    return (f'[[meters]]\nid = "{meter_id}"\nprofile = "{profile}"\nunit = {unit}\n'
            f'bus = "{bus}"\nbuilding = "b1"\nsubitem = "hvac"\n'
            f'poll = [{{ interval = "{interval}", quantities = [{names}] }}]\n')


def site(tmp_path: Path, *parts: str) -> SiteConfig:
    path = tmp_path / "site.toml"
    path.write_text(HEAD + "\n".join(parts), encoding="utf-8")
    return load_site_config(path)


@dataclass
class Recorder:
    """Collects what the scheduler hands out, from the bus threads."""

    polls: list[tuple[float, PollResult]] = field(default_factory=list)
    availability: list[tuple[str, str, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def sink(self, result: PollResult) -> None:
        with self.lock:
            self.polls.append((time.time(), result))

    def on_availability(self, meter_id: str, state: str, reason: str | None) -> None:
        with self.lock:
            self.availability.append((meter_id, state, reason))

    def of(self, meter_id: str, result: str | None = None) -> list[PollResult]:
        with self.lock:
            return [r for _, r in self.polls
                    if r.meter_id == meter_id and (result is None or r.result == result)]


def scheduler(config: SiteConfig, rec: Recorder, metrics: GatewayMetrics | None = None,
              **kw: Any) -> Scheduler:
    return Scheduler(config, rec.sink, metrics=metrics or GatewayMetrics(),
                     on_availability=rec.on_availability, **kw)


def sleep_until(t: float) -> None:
    time.sleep(max(0.0, t - time.time()))


def rate(rec: Recorder, meter_id: str, first: float, last: float, interval: float) -> float:
    """Share of the deadlines first..last (inclusive) that got an ok poll."""
    due = round((last - first) / interval) + 1
    ok = {round(r.deadline, 3) for r in rec.of(meter_id, "ok") if first <= r.deadline <= last}
    return len(ok) / due


# -- acceptance: a dead meter ----------------------------------------------------------------------

@pytest.mark.rtu
@pytest.mark.slow
def test_dead_meter_costs_the_other_seven_nothing(tmp_path: Path, modbus_simulator: Any) -> None:
    sim = modbus_simulator([f"{u}=chint-dtsu666" for u in range(1, 9)], tcp=False, rtu=True,
                           wire_timing=True)
    ep = sim.rtu_endpoint
    config = site(tmp_path, serial_bus("line", ep.device, baud=ep.baud, stopbits=ep.stopbits,
                                       timeout_ms=200, unit_switch_delay_ms=5),
                  *(meter(f"m{u}", u, "line", FOUR_POWERS, "1s") for u in range(1, 9)))
    utilisation, loads = bus_utilisation(config.buses[0], config.meters)
    assert utilisation is not None and loads[0].busy_s is not None
    worst = utilisation + config.buses[0].timeout_s  # a cycle in which the dead meter is tried
    print(f"\n8 meters on {ep}: {utilisation * 100:.1f} % airtime planned, "
          f"{loads[0].busy_s * 1000:.1f} ms per meter per poll; a cycle with one timeout "
          f"({config.buses[0].timeout_s * 1000:.0f} ms) needs {worst * 100:.0f} % of a second")
    assert worst < 0.9

    rec = Recorder()
    sched = scheduler(config, rec)
    sched.start()
    try:
        start = time.time()
        fault_at = float(int(start)) + 4.5  # between two polls of unit 3
        sleep_until(fault_at)
        sim.inject(3, "no_answer")
        sleep_until(fault_at + 16.0)
    finally:
        sched.stop()
    snap = sched.snapshot()  # after stop: every poll counted has reached the sink
    end = snap["ts"]
    first, last = float(int(start)) + 1.0, float(int(end)) - 1.0  # whole cycles only
    rates = {f"m{u}": rate(rec, f"m{u}", first, last, 1.0) for u in range(1, 9) if u != 3}
    after = {mid: rate(rec, mid, fault_at + 0.5, last, 1.0) for mid in rates}
    attempts = [r for r in rec.of("m3") if r.ts > fault_at]
    failed = [r for r in attempts if r.result == "failed"]
    gaps = [round(b.deadline - a.deadline) for a, b in itertools.pairwise(failed)]
    print(f"deadlines {first:.0f}..{last:.0f} ({last - first + 1:.0f} s): ok rates of the 7 "
          f"live meters {min(rates.values()) * 100:.1f}..{max(rates.values()) * 100:.1f} % "
          f"(after the fault {min(after.values()) * 100:.1f} %); dead meter tried "
          f"{len(failed)} times in {last - fault_at:.0f} s, gaps {gaps} s; busy "
          f"{snap['buses']['line']['busy_ratio'] * 100:.1f} % measured; "
          f"missed {snap['buses']['line']['missed']}")

    assert min(rates.values()) >= 0.95, rates
    assert min(after.values()) >= 0.95, after
    # the dead meter: one timeout per backoff period, retried, never given up
    assert all(r.result == "failed" for r in attempts)
    assert 3 <= len(failed) <= 6
    assert gaps == sorted(gaps) and gaps[-1] >= 4
    for r in failed:  # an actual attempt: comm_error readings, no fabricated values
        assert {x.quality for x in r.readings} == {Quality.COMM_ERROR}
        assert all(x.value is None for x in r.readings)
    dead = snap["devices"]["m3"]
    assert dead["state"] == "backoff"
    assert dead["breaker"]["state"] == "open" and dead["breaker"]["next_retry_ts"] > end - 1
    assert dead["polls"]["skipped"] >= 8 and dead["polls"]["failed"] == len(failed)
    assert dead["timeouts"] == len(failed)  # the reader stops at the first timeout of a poll
    assert "no answer from unit 3" in dead["last_error"]
    assert [a for a in rec.availability if a[1] == "offline"] == [
        ("m3", "offline", dead["last_error"])]
    assert {a[0] for a in rec.availability if a[1] == "online"} == {f"m{u}" for u in range(1, 9)}
    for mid in rates:
        assert snap["devices"][mid]["state"] == "online"
        assert snap["devices"][mid]["latency_s"]["p50"] > 0.05  # wire timing is real
    # each reading carries the time its request went out
    for _, r in rec.polls[-20:]:
        for x in r.readings:
            assert r.deadline <= r.ts <= x.ts <= r.ts + 1.0


# -- acceptance: an over-subscribed bus ------------------------------------------------------------

@pytest.mark.rtu
@pytest.mark.slow
def test_over_subscribed_bus_is_reported_and_stretched_fairly(
        tmp_path: Path, modbus_simulator: Any, caplog: pytest.LogCaptureFixture) -> None:
    sim = modbus_simulator([f"{u}=chint-dtsu666" for u in range(1, 9)], tcp=False, rtu=True,
                           wire_timing=True)
    ep = sim.rtu_endpoint
    config = site(tmp_path, serial_bus("busy", ep.device, baud=ep.baud, stopbits=ep.stopbits,
                                       unit_switch_delay_ms=5),
                  *(meter(f"f{u}", u, "busy", FOUR_POWERS, "500ms") for u in range(1, 7)),
                  *(meter(f"s{u}", u, "busy", FOUR_POWERS, "1s") for u in (7, 8)))
    utilisation, _ = bus_utilisation(config.buses[0], config.meters)
    assert utilisation is not None and utilisation > 1.0
    k = stretch_factor(utilisation)
    print(f"\nover-subscribed bus: {utilisation * 100:.1f} % planned, stretch × {k:g}")
    assert k == 1.5

    rec = Recorder()
    caplog.set_level(logging.INFO, logger="metergate.scheduler")
    metrics = GatewayMetrics()
    sched = scheduler(config, rec, metrics)
    (report,) = sched.load_report()
    assert report.verdict == "over" and report.stretch == k
    assert report.utilisation == pytest.approx(utilisation)
    assert report.effective_utilisation == pytest.approx(utilisation / k)
    assert report.degradation == "every group's interval × 1.5"
    sched.start()
    try:
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert errors == [
            f"bus busy: {utilisation * 100:.1f} % airtime planned (8 requests per cycle, 14 "
            f"requests/s): over-subscribed: polling will be stretched fairly: every group's "
            f"effective interval × 1.5 ({utilisation / k * 100:.1f} % planned after "
            "stretching). To poll at the configured rates: lengthen intervals, poll fewer "
            "quantities often, move meters to another bus or raise the baud rate"]
        start = time.time()
        time.sleep(7.5)
        snap = sched.snapshot()
    finally:
        sched.stop()
    sample = metrics.registry.get_sample_value
    assert sample("metergate_bus_airtime_planned_ratio", {"bus": "busy"}) == pytest.approx(
        utilisation)
    assert 0.5 < (sample("metergate_bus_busy_ratio", {"bus": "busy"}) or 0) < 1.0
    first = (int(start / 1.5) + 1) * 1.5
    last = (int(snap["ts"] / 1.5) - 1) * 1.5
    rates = {}
    for mid, interval in [*((f"f{u}", 0.75) for u in range(1, 7)),
                          *((f"s{u}", 1.5) for u in (7, 8))]:
        deadlines = [r.deadline for r in rec.of(mid)]
        steps = {round(b - a, 3) for a, b in itertools.pairwise(deadlines)}
        assert steps == {interval}, (mid, steps)  # every group at its stretched interval
        rates[mid] = rate(rec, mid, first, last, interval)
    print(f"stretched rates over {last - first:.1f} s: "
          + ", ".join(f"{m} {v * 100:.0f} %" for m, v in rates.items())
          + f"; busy {snap['buses']['busy']['busy_ratio'] * 100:.1f} % measured, "
          f"missed {snap['buses']['busy']['missed']}")
    assert min(rates.values()) >= 0.95, rates
    assert snap["buses"]["busy"]["stretch"] == 1.5
    assert snap["buses"]["busy"]["verdict"] == "over"


# -- a missing serial port beside two concurrent TCP devices ---------------------------------------

@pytest.mark.rtu
@pytest.mark.slow
def test_missing_port_is_retried_while_tcp_buses_poll_concurrently(
        tmp_path: Path, modbus_simulator: Any, caplog: pytest.LogCaptureFixture) -> None:
    hp1 = modbus_simulator(["1=chint-dtsu666"], tcp=True)
    hp2 = modbus_simulator(["1=chint-dtsu666"], tcp=True)
    for sim in (hp1, hp2):
        sim.inject(1, "late:delay=0.3")  # a 0.3 s turnaround on every request
    ghost_port = tmp_path / "ttyUSB-ghost"
    config = site(tmp_path, tcp_bus("hp1", hp1.tcp_endpoint.port),
                  tcp_bus("hp2", hp2.tcp_endpoint.port), serial_bus("ghost", str(ghost_port)),
                  meter("hp1-m", 1, "hp1", TWO_BLOCKS, "1s"),
                  meter("hp2-m", 1, "hp2", TWO_BLOCKS, "1s"),
                  meter("ghost-m", 5, "ghost", ["power_active"], "1s"))
    rec = Recorder()
    caplog.set_level(logging.INFO, logger="metergate.scheduler")
    sched = scheduler(config, rec)
    sched.start()
    try:
        start = time.time()
        time.sleep(4.0)
        down = sched.snapshot()
        # the port appears (the adapter is plugged in): the bus opens at its next retry
        line = modbus_simulator(["5=chint-dtsu666"], tcp=False, rtu=True, wire_timing=False)
        os.symlink(line.rtu_endpoint.device, ghost_port)
        sleep_until(start + 9.0)
        snap = sched.snapshot()
    finally:
        sched.stop()

    ghost_bus = down["buses"]["ghost"]
    assert ghost_bus["state"] == "down"
    assert "does not exist" in ghost_bus["last_error"]
    assert down["devices"]["ghost-m"]["state"] == "offline"
    assert down["devices"]["ghost-m"]["polls"]["skipped"] >= 3
    cannot = [r for r in caplog.records if "bus ghost: cannot reach" in r.getMessage()]
    assert len(cannot) == 1 and cannot[0].levelno == logging.ERROR  # logged once, not per retry
    assert ("ghost-m", "offline", f"bus ghost: {ghost_bus['last_error']}") in rec.availability
    # it kept retrying and came up when the port appeared
    assert snap["buses"]["ghost"]["state"] == "up"
    assert snap["devices"]["ghost-m"]["state"] == "online"
    assert rec.of("ghost-m", "ok")
    assert any("bus ghost: connected to" in r.getMessage() for r in caplog.records)

    first, last = float(int(start)) + 1.0, float(int(snap["ts"])) - 1.0
    rates = {m: rate(rec, m, first, last, 1.0) for m in ("hp1-m", "hp2-m")}
    polls = {m: {round(r.deadline): r for r in rec.of(m, "ok") if first <= r.deadline <= last}
             for m in rates}
    common = sorted(set(polls["hp1-m"]) & set(polls["hp2-m"]))
    skew = max(abs(polls["hp1-m"][d].ts - polls["hp2-m"][d].ts) for d in common)
    took = min(max(x.ts for x in r.readings) - min(x.ts for x in r.readings)
               for p in polls.values() for r in p.values())
    print(f"\ntwo TCP devices, 2 requests × 0.3 s per poll: rates {rates}, second request "
          f"sent ≥ {took:.2f} s after the first, start skew between buses ≤ {skew * 1000:.0f} ms")
    assert min(rates.values()) >= 0.95, rates
    assert took >= 0.29  # each poll holds its bus 0.6 s: serialized they could not keep 1/s
    assert skew < 0.1  # both polls start at the deadline: the buses run concurrently


# -- pacing, sink and lifecycle with a fake connection ---------------------------------------------

class FakeConnection:
    """Answers at once (zeros) and records when each request went out."""

    def __init__(self, log: list[tuple[float, int]], *, block: threading.Event | None = None,
                 honour_close: bool = True) -> None:
        self.log = log
        self.block = block
        self.honour_close = honour_close
        self.closed = threading.Event()
        self.opened = 0

    def open(self) -> None:
        self.opened += 1

    def close(self) -> None:
        if self.honour_close:
            self.closed.set()

    def read_registers(self, unit: int, function: int, address: int, count: int) -> list[int]:
        self.log.append((time.monotonic(), unit))
        if self.block is not None:
            self.closed.wait(5.0)
            if self.closed.is_set():
                raise ConnectError("closed")
        return [0] * count


def factory_of(conns: list[FakeConnection], make: Callable[[], FakeConnection]) -> Any:
    def factory(endpoint: Endpoint, *, timeout: float) -> FakeConnection:
        conn = make()
        conns.append(conn)
        return conn
    return factory


def test_pause_between_requests_and_unit_switch_delay(tmp_path: Path) -> None:
    config = site(tmp_path, serial_bus("rs", "/dev/ttyFAKE0", pause_ms=30,
                                       unit_switch_delay_ms=50),
                  meter("a", 1, "rs", TWO_BLOCKS, "1s"), meter("b", 2, "rs", TWO_BLOCKS, "1s"))
    sent: list[tuple[float, int]] = []
    conns: list[FakeConnection] = []
    rec = Recorder()
    sched = scheduler(config, rec, connection_factory=factory_of(conns, lambda: FakeConnection(sent)))
    sched.start()
    try:
        deadline = time.time() + 5
        while len(rec.polls) < 4 and time.time() < deadline:
            time.sleep(0.05)
    finally:
        sched.stop()
    assert len(conns) == 1 and conns[0].opened == 1  # one connection per bus, opened once
    assert len(sent) >= 8
    for (t0, u0), (t1, u1) in itertools.pairwise(sent):
        gap = t1 - t0
        assert gap >= (0.08 if u0 != u1 else 0.03) - 0.002, (u0, u1, gap)
    assert all(r.result == "ok" for _, r in rec.polls)


def test_a_failing_sink_does_not_stop_polling(tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    config = site(tmp_path, serial_bus("rs", "/dev/ttyFAKE0", pause_ms=0),
                  meter("a", 1, "rs", ["power_active"], "200ms"))
    calls = []

    def sink(result: PollResult) -> None:
        calls.append(result)
        raise OSError("disk full")

    sent: list[tuple[float, int]] = []
    sched = Scheduler(config, sink, metrics=GatewayMetrics(),
                      connection_factory=factory_of([], lambda: FakeConnection(sent)))
    sched.start()
    time.sleep(0.7)
    sched.stop()
    assert len(calls) >= 3
    assert any("the sink failed" in r.getMessage() for r in caplog.records)


def test_stop_interrupts_a_request_in_flight(tmp_path: Path) -> None:
    config = site(tmp_path, serial_bus("rs", "/dev/ttyFAKE0"),
                  meter("a", 1, "rs", ["power_active"], "1s"))
    sent: list[tuple[float, int]] = []
    rec = Recorder()
    sched = scheduler(config, rec, connection_factory=factory_of(
        [], lambda: FakeConnection(sent, block=threading.Event())))
    sched.start()
    while not sent:
        time.sleep(0.01)
    t = time.monotonic()
    sched.stop(timeout=5)
    assert time.monotonic() - t < 0.5
    assert rec.polls == []  # an interrupted poll is not reported as failed
    assert [a[1] for a in rec.availability] == []  # nor the meter as offline
    snap = sched.snapshot()  # nor the bus as down, nor the meter's counters as a failed request
    assert snap["buses"]["rs"]["state"] != "down", snap["buses"]["rs"]
    assert snap["buses"]["rs"]["last_error"] is None, snap["buses"]["rs"]
    device = snap["devices"]["a"]
    assert device["connect_errors"] == 0 and device["last_error"] is None, device


def test_stop_returns_within_its_timeout_when_a_request_cannot_be_cut_short(
        tmp_path: Path) -> None:
    config = site(tmp_path, serial_bus("rs", "/dev/ttyFAKE0"),
                  meter("a", 1, "rs", ["power_active"], "1s"))
    sent: list[tuple[float, int]] = []
    sched = scheduler(config, Recorder(), connection_factory=factory_of(
        [], lambda: FakeConnection(sent, block=threading.Event(), honour_close=False)))
    sched.start()
    while not sent:
        time.sleep(0.01)
    t = time.monotonic()
    sched.stop(timeout=0.3)
    assert 0.25 < time.monotonic() - t < 0.6


def test_snapshot_is_plain_json_before_and_after_polls(tmp_path: Path) -> None:
    config = site(tmp_path, serial_bus("rs", "/dev/ttyFAKE0"),
                  meter("a", 1, "rs", ["power_active"], "1s"),
                  "[[buses]]\nid = \"spare\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\n")
    sent: list[tuple[float, int]] = []
    rec = Recorder()
    sched = scheduler(config, rec, connection_factory=factory_of([], lambda: FakeConnection(sent)))
    before = json.loads(json.dumps(sched.snapshot()))
    assert before["devices"]["a"]["state"] == "unknown"
    assert before["buses"]["spare"]["meters"] == 0
    sched.start()
    time.sleep(0.3)
    snap = json.loads(json.dumps(sched.snapshot()))
    sched.stop()
    dev = snap["devices"]["a"]
    assert dev["state"] == "online" and dev["polls"]["ok"] >= 1 and dev["requests"] >= 1
    assert set(dev["latency_s"]) == {"p50", "p95", "p99"}
    assert snap["buses"]["rs"]["state"] == "up"
    assert {"airtime_planned", "verdict", "stretch", "busy_ratio", "missed"} <= set(
        snap["buses"]["rs"])
