"""Benchmark: reading readings back from VictoriaMetrics into the analytics' columns (issue 16).

    python -m benchmarks.source_read [--meters 100] [--days 7] [--repeat 3]

Setup (loopback): a private VictoriaMetrics on a free port, filled through ingest's own line protocol
and writer with `meters` electricity meters read every minute for `days` days (one point per reading,
as ingest writes it: `value` and `quality`; every 50th reading has quality out_of_range and must not be
read). Then, best of `repeat`:

- the source: `cli.sources.read_source(victoria://…, site, window)`, a day per request, into
  `Readings` (numpy columns per quantity), the path of `metergate analyze --source`;
- the baseline: the same good readings from a CSV file (integer ns timestamps) with the existing
  reader, `analytics.readings_io.read_readings`, the path of `metergate analyze readings.csv`.

Both must give the same readings (checked). Prints points/s of each and the ratio. Target (issue 16):
>= 1,000,000 points/s from VictoriaMetrics.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

SITE, GATEWAY = "bench-site", "bench-gw"
START_NS = 1_709_222_400 * 10**9  # 2024-02-29T16:00:00Z, midnight of 1 March 2024 in China
STEP_NS = 60 * 10**9


def _fill(target: object, csv: Path, meters: int, days: int) -> int:
    """Write the readings to the target (an InfluxTarget) and their good ones into csv; the good points."""
    from services.shared.writer import LineWriter, RetryPolicy

    steps = days * 1440 + 1
    writer = LineWriter(target, RetryPolicy(max_attempts=5))  # type: ignore[arg-type]
    good = 0
    with csv.open("w", encoding="utf-8") as out:
        out.write("ts,meter,quantity,value\n")
        for m in range(meters):
            meter = f"m{m:04d}"
            tags = f"energy_active_import,gateway={GATEWAY},meter={meter},site={SITE} "
            lines, rows = [], []
            for s in range(steps):
                ts = START_NS + s * STEP_NS
                value = 1000.0 + m + s * 0.25
                quality = 1 if s % 50 == 7 else 0
                lines.append(f"{tags}value={value!r},quality={quality}i {ts}")
                if quality == 0:
                    rows.append(f"{ts},{meter},energy_active_import,{value!r}\n")
            for i in range(0, len(lines), 20_000):
                writer.write_lines(lines[i:i + 20_000])
            out.writelines(rows)
            good += len(rows)
    writer.close()
    return good


def _best(fn, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    best, result = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def _influxdb1(tmp: Path, args: argparse.Namespace, end: int) -> float:
    """Seconds to read the same readings back from a fresh influxd 1.x (best of --repeat)."""
    from cli.sources import parse_source, read_source
    from services.shared.target import InfluxTarget
    from tests.support.influxdb1 import InfluxDB1

    (tmp / "influx").mkdir()
    db = InfluxDB1(tmp / "influx").start()
    try:
        db.create_database("energy")
        _fill(InfluxTarget(api="v1", url=db.url, database="energy"), tmp / "again.csv", args.meters,
              args.days)
        source = parse_source(f"influx1://127.0.0.1:{db.port}/energy")
        seconds, got = _best(lambda: read_source(source, SITE, START_NS, end), args.repeat)
        assert len(got["energy_active_import"]) == sum(1 for _ in (tmp / "again.csv").open()) - 1  # type: ignore[index]
        return seconds
    finally:
        db.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=100)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--influxdb1", action="store_true",
                        help="also read the same readings from influxd 1.x (InfluxQL), for comparison")
    args = parser.parse_args()

    from analytics.readings_io import read_readings
    from cli.sources import parse_source, read_source
    from services.shared.target import InfluxTarget
    from tests.support.victoria import Victoria

    with tempfile.TemporaryDirectory() as tmp:
        vm = Victoria(Path(tmp) / "vm")
        (Path(tmp) / "vm").mkdir()
        vm.start()
        try:
            csv = Path(tmp) / "readings.csv"
            t = time.perf_counter()
            points = _fill(InfluxTarget(api="v2", url=vm.url, bucket="energy"), csv, args.meters, args.days)
            vm.flush()
            print(f"wrote {args.meters} meters x {args.days} days of minute readings: {points:,} good "
                  f"points ({time.perf_counter() - t:.1f} s)")
            source = parse_source(f"victoria://127.0.0.1:{vm.port}")
            end = START_NS + args.days * 86_400 * 10**9
            vm_s, from_vm = _best(lambda: read_source(source, SITE, START_NS, end), args.repeat)
            csv_s, from_csv = _best(lambda: read_readings(csv), args.repeat)
        finally:
            vm.stop()
        influx_s = _influxdb1(Path(tmp), args, end) if args.influxdb1 else None
    a, b = from_vm["energy_active_import"], from_csv["energy_active_import"]  # type: ignore[index]
    order_a, order_b = np.lexsort((a.ts_ns, a.meter)), np.lexsort((b.ts_ns, b.meter))
    assert len(a) == len(b) == points, (len(a), len(b), points)
    assert (a.meter[order_a] == b.meter[order_b]).all() and (a.ts_ns[order_a] == b.ts_ns[order_b]).all()
    assert (a.value[order_a] == b.value[order_b]).all()
    print(f"VictoriaMetrics (/api/v1/export, a day per request): {points / vm_s:>12,.0f} points/s "
          f"({vm_s:.2f} s)")
    print(f"baseline: CSV file, analytics.readings_io:           {points / csv_s:>12,.0f} points/s "
          f"({csv_s:.2f} s)")
    if influx_s is not None:
        print(f"influxd 1.x (InfluxQL /query, a day per request):    {points / influx_s:>12,.0f} points/s "
              f"({influx_s:.2f} s)")
    print(f"ratio VictoriaMetrics / CSV: {csv_s / vm_s:.2f}   target >= 1,000,000 points/s: "
          f"{'met' if points / vm_s >= 1e6 else 'NOT met'}")


if __name__ == "__main__":
    main()
