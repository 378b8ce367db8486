"""mbpoll, an independent Modbus master (libmodbus), reads the simulator over TCP and RTU."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable

import pytest

from simulators.bus import Simulator
from simulators.meter import SimulatedMeter

pytestmark = [pytest.mark.mbpoll,
              pytest.mark.skipif(shutil.which("mbpoll") is None, reason="mbpoll not installed")]


def _mbpoll(*args: str) -> float:
    # -0: PDU (0-based) addresses; -B: big-endian word order (ABCD); -1: poll once
    out = subprocess.run(["mbpoll", "-0", "-B", "-1", "-o", "1", *args], capture_output=True,
                         text=True, timeout=15, check=True).stdout
    match = re.search(r"^\[\d+\]:\s+(\S+)", out, re.MULTILINE)
    assert match, out
    return float(match.group(1))


@pytest.mark.parametrize("transport", ["tcp", pytest.param("rtu", marks=pytest.mark.rtu)])
def test_mbpoll_reads_the_true_value(simulated_meter: Callable[..., SimulatedMeter],
                                     modbus_simulator: Callable[..., Simulator],
                                     transport: str) -> None:
    meter = simulated_meter("chint-dtsu666:huawei", unit=3)  # float ABCD in volts, 9600 8N1
    point = meter.variant.point("voltage_l1")
    sim = modbus_simulator([meter], tcp=transport == "tcp", rtu=transport == "rtu")
    common = ["-a", "3", "-t", "4:float", "-r", str(point.address), "-c", "1"]
    if transport == "tcp":
        value = _mbpoll("-m", "tcp", "-p", str(sim.tcp_endpoint.port), *common, "127.0.0.1")
    else:
        ep = sim.rtu_endpoint
        value = _mbpoll("-m", "rtu", "-b", str(ep.baud), "-P", "none", "-s", str(ep.stopbits),
                        *common, ep.device)
    truth = meter.true_values()["voltage_l1"]
    assert truth is not None
    print(f"mbpoll over {transport}: {value}, simulator: {truth}")
    assert value == pytest.approx(truth, abs=0.005)  # mbpoll prints 6 significant digits


@pytest.mark.rtu
def test_mbpoll_one_based_reference_on_rtu(simulated_meter: Callable[..., SimulatedMeter],
                                           modbus_simulator: Callable[..., Simulator]) -> None:
    """The brief's example: mbpoll's default 1-based reference 1 is wire address 0 (TUF-2000M flow,
    a CDAB float, mbpoll's default word order)."""
    meter = simulated_meter("tuf-2000m")
    sim = modbus_simulator([meter], tcp=False, rtu=True)
    out = subprocess.run(["mbpoll", "-m", "rtu", "-b", "9600", "-P", "none", "-a", "1", "-r", "1",
                          "-c", "1", "-t", "4:float", "-1", sim.rtu_endpoint.device],
                         capture_output=True, text=True, timeout=15, check=True).stdout
    value = float(re.search(r"^\[1\]:\s+(\S+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert value == pytest.approx(meter.true_values()["water_flow"], rel=1e-5, abs=1e-6)
