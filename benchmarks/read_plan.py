"""Benchmark: one full read of each bundled profile over an emulated 9600-baud RS-485 line.

    .venv/bin/python -m benchmarks.read_plan [--runs 3] [--baud 9600]

Per profile (default variant): requests and ideal wire time for the planned reads versus one request
per point (the baseline most gateways use), and the achieved time of a real read through the product's
own path (MeterReader -> pymodbus adapter -> pty -> simulator with wire timing) versus the ideal wire
time of the planned requests. The line is 9600 8E1 (11 bits per character, the Modbus standard).
Targets: achieved within 1.15x of ideal; >= 3x fewer requests than one per point for every
electricity meter.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

from core.reading import Quality
from drivers.planner import plan_blocks
from drivers.profiles import BUNDLED_PROFILES, MeterVariant, SerialSettings, load_all
from drivers.pymodbus_adapter import ModbusConnection
from drivers.reader import MeterReader
from drivers.wiretime import bits_per_char, read_airtime
from simulators.bus import Simulator
from simulators.meter import MeterOptions, SimulatedMeter

UNIT = 1


@dataclass
class Row:
    profile: str
    kind: str
    points: int
    per_point_requests: int
    planned_requests: int
    per_point_ideal_s: float
    planned_ideal_s: float
    achieved_s: float
    all_ok: bool


def ideal(variant: MeterVariant, line: SerialSettings, *, per_point: bool) -> tuple[int, float]:
    """(requests, ideal wire seconds) for one full read."""
    spans = [s for p in variant.points for s in p.spans()]
    limits = variant.device
    if per_point:
        counts = [c for _, _, c in spans]
    else:
        blocks = plan_blocks(spans, max_registers=limits.max_registers, max_gap=limits.max_gap,
                             unreadable=limits.unreadable)
        counts = [b.count for b in blocks]
    bits = bits_per_char(line.bytesize, line.parity, line.stopbits)
    turnaround = limits.turnaround_ms / 1000.0
    return len(counts), sum(read_airtime(c, line.baud, bits, turnaround) for c in counts)


def measure(variant: MeterVariant, line: SerialSettings, runs: int) -> tuple[float, bool]:
    """Best-of-`runs` seconds for one full read over the pty at `line`, and whether all read ok."""
    meter = SimulatedMeter(variant, UNIT, options=MeterOptions(line=line))
    sim = Simulator([meter])
    sim.add_rtu(wire_timing=True)
    best = float("inf")
    ok = True
    with sim, ModbusConnection(sim.rtu_endpoint, timeout=3.0) as conn:
        reader = MeterReader(conn, variant, UNIT)
        for _ in range(runs):
            start = time.perf_counter()
            readings = reader.read()
            best = min(best, time.perf_counter() - start)
            ok = ok and all(r.quality is Quality.OK for r in readings)
    return best, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--runs", type=int, default=3, help="reads per profile (best is kept)")
    parser.add_argument("--baud", type=int, default=9600)
    args = parser.parse_args(argv)
    line = SerialSettings(args.baud, "E", 1, 8)
    rows: list[Row] = []
    for _, profile in sorted(load_all([BUNDLED_PROFILES]).items()):
        variant = profile.variant()
        n_pp, t_pp = ideal(variant, line, per_point=True)
        n_plan, t_plan = ideal(variant, line, per_point=False)
        achieved, ok = measure(variant, line, args.runs)
        rows.append(Row(variant.key, variant.kind, len(variant.points), n_pp, n_plan, t_pp, t_plan,
                        achieved, ok))

    print(f"One full read per profile at {line} (ideal = frames + 3.5-char gaps + device "
          "turnaround; achieved = best of runs over a pty with wire timing)\n")
    head = (f"{'profile':28} {'kind':11} {'pts':>4} {'req/pt':>6} {'req plan':>8} {'fewer':>6} "
            f"{'ideal/pt s':>10} {'ideal plan s':>12} {'achieved s':>10} {'ach/ideal':>9}")
    print(head)
    print("-" * len(head))
    failures: list[str] = []
    for r in rows:
        fewer = r.per_point_requests / r.planned_requests
        ratio = r.achieved_s / r.planned_ideal_s
        print(f"{r.profile:28} {r.kind:11} {r.points:>4} {r.per_point_requests:>6} "
              f"{r.planned_requests:>8} {fewer:>5.1f}x {r.per_point_ideal_s:>10.3f} "
              f"{r.planned_ideal_s:>12.3f} {r.achieved_s:>10.3f} {ratio:>8.3f}x"
              + ("" if r.all_ok else "  (some readings not ok)"))
        if ratio > 1.15:
            failures.append(f"{r.profile}: achieved {ratio:.3f}x ideal (target <= 1.15x)")
        if r.kind == "electricity" and fewer < 3:
            failures.append(f"{r.profile}: only {fewer:.1f}x fewer requests (target >= 3x)")
        if not r.all_ok:
            failures.append(f"{r.profile}: some readings were not ok")
    print()
    saved = sum(r.per_point_ideal_s for r in rows) / sum(r.planned_ideal_s for r in rows)
    print(f"wire time, one request per point / planned, all profiles: {saved:.2f}x")
    for f in failures:
        print(f"TARGET MISSED: {f}")
    print("all targets met" if not failures else f"{len(failures)} target(s) missed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
