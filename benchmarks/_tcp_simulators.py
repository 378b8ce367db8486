"""Helper of benchmarks.gateway_throughput: one process serving simulated meters on Modbus TCP ports.

    python -m benchmarks._tcp_simulators --profile chint-dtsu666:native --ports 3 --units 84

Serves `--ports` listeners on 127.0.0.1 (free ports), each a Simulator of its own with unit ids
1..`--units` (a TCP gateway in front of one bus: many unit ids per port, at most 247). Prints one
JSON line {"pid", "ports": [...]} once every port listens, then serves until stdin closes or
SIGTERM. The benchmark runs several of these so that the simulators' CPU is not the gateway's.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading

from drivers.profiles import resolve_variant
from simulators.bus import Simulator
from simulators.meter import SimulatedMeter

MAX_UNITS = 247  # unit ids of devices behind one Modbus TCP gateway (1..247)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="chint-dtsu666:native")
    parser.add_argument("--ports", type=int, default=1)
    parser.add_argument("--units", type=int, default=MAX_UNITS)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if not 1 <= args.units <= MAX_UNITS:
        parser.error(f"--units must be 1..{MAX_UNITS}")
    variant = resolve_variant(args.profile)
    sims = []
    for port_index in range(args.ports):
        meters = [SimulatedMeter(variant, unit, seed=args.seed * 1000 + port_index)
                  for unit in range(1, args.units + 1)]
        sim = Simulator(meters)
        sim.add_tcp("127.0.0.1", 0)
        sims.append(sim.start())
    print(json.dumps({"pid": os.getpid(), "ports": [s.tcp_endpoint.port for s in sims]}), flush=True)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())

    def until_stdin_closes() -> None:
        sys.stdin.read()
        done.set()

    threading.Thread(target=until_stdin_closes, daemon=True).start()
    while not done.wait(1.0):
        pass
    for sim in sims:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
