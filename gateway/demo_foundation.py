"""The README's main-job command until the gateway runtime lands: a technician's first hour, on
simulated meters.

Starts two simulators as a technician would (`metergate simulate`): an RS-485 bus on a pseudo-terminal
with an electricity, a water and a heat meter, and a Modbus TCP gateway with a heat pump and a meter
whose word order differs from its profile. Then runs the real commands against them, printing each
one first: scan the bus, probe each meter through its profile, guess the word order of the odd one,
and do one raw register read. `--keep` leaves the simulators running for your own commands.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

METERGATE = [sys.executable, "-m", "cli.main"]

RTU_METERS = ["1=chint-dtsu666", "2=eastron-sdm120", "3=tuf-2000m", "4=kamstrup-multical"]
TCP_METERS = ["1=lambda-eu-l", "2=eastron-sdm630,order=CDAB"]


def start_simulator(args: Sequence[str]) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    cmd = [*METERGATE, "simulate", *args, "--json"]
    _say(cmd)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"the simulator did not start (exit code {proc.wait()})")
    facts = json.loads(line)
    for t in facts["transports"]:
        print(f"  -> {t['transport']} on {t['open']} serving units {t['units']}")
    return proc, facts


def run(args: Sequence[str]) -> None:
    cmd = [*METERGATE, *args]
    _say(cmd)
    subprocess.run(cmd, check=False)


def _say(cmd: Sequence[str]) -> None:
    shown = ["metergate", *cmd[len(METERGATE):]] if list(cmd[:3]) == METERGATE else list(cmd)
    print(f"\n$ {shlex.join(shown)}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", action="store_true", help="leave the simulators running")
    parser.add_argument("--seed", type=int, default=7)
    opts = parser.parse_args(argv)

    print("Starting simulated meters: an RS-485 bus at 9600 baud on a pseudo-terminal, and a "
          "Modbus TCP gateway.")
    meters = [a for m in RTU_METERS for a in ("--meter", m)]
    bus, bus_facts = start_simulator([*meters, "--rtu", "--baud", "9600", "--parity", "N",
                                      "--seed", str(opts.seed)])
    meters = [a for m in TCP_METERS for a in ("--meter", m)]
    gw, gw_facts = start_simulator([*meters, "--tcp", "127.0.0.1:0", "--seed", str(opts.seed)])
    pty = bus_facts["transports"][0]["open"]
    tcp = gw_facts["transports"][0]["open"]
    serial = ["--serial", pty, "--baud", "9600", "--parity", "N"]
    try:
        print("\n1. Find the meters on the RS-485 line and identify them:")
        run(["scan", *serial, "--units", "1-6"])
        print("\n2. Read each meter through its profile; every value is judged:")
        run(["probe", *serial, "--unit", "1", "--profile", "chint-dtsu666"])
        run(["probe", *serial, "--unit", "3", "--profile", "tuf-2000m"])
        run(["probe", "--tcp", tcp, "--unit", "1", "--profile", "lambda-eu-l"])
        print("\n3. A meter whose word order differs from its profile: values look absurd, so guess:")
        run(["probe", "--tcp", tcp, "--unit", "2", "--profile", "eastron-sdm630", "--guess"])
        print("\n4. One raw register read (heat-pump electrical power, int16 at 1012):")
        run(["read", "--tcp", tcp, "--unit", "1", "--address", "1012", "--type", "int16"])
        if opts.keep:
            print(f"\nSimulators keep running: RTU on {pty}, TCP on {tcp}. Ctrl-C stops them.")
            bus.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for proc in (bus, gw):
            proc.terminate()
            proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
