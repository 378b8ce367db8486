"""mbpoll, an independent Modbus master (libmodbus), reads the simulators over TCP and RTU and gets
the same numbers as the simulator's true values — so neither our codec nor our client can hide a
mistake in the simulators' register images."""

from __future__ import annotations

import re
import subprocess

import pytest

from drivers.codec import DataType, Order
from drivers.profiles import BUNDLED_PROFILES, Point, load_all
from drivers.transport import SerialEndpoint, TcpEndpoint

pytestmark = pytest.mark.mbpoll

PROFILES = load_all([BUNDLED_PROFILES])
KEYS = [f"{pid}:{p.default_variant}" for pid, p in sorted(PROFILES.items())]
_LINE = re.compile(r"^\[(\d+)\]:\s+(\S+)", re.MULTILINE)
_MBPOLL_32 = {DataType.FLOAT32: "float", DataType.INT32: "int"}


def _mbpoll_type(point: Point) -> list[str] | None:
    """mbpoll options that decode this point's registers, or None if mbpoll cannot (64-bit,
    byte-swapped orders, unsigned 32-bit, bit fields, integer-plus-fraction totalisers)."""
    c = point.codec
    table = "4" if point.function == 3 else "3"
    if c.bits is not None or point.fraction_codec is not None:
        return None
    if c.dtype in (DataType.INT16, DataType.UINT16) and c.order in (Order.ABCD, Order.CDAB):
        return ["-t", f"{table}:hex"]
    if c.dtype in _MBPOLL_32 and c.order in (Order.ABCD, Order.CDAB):
        return ["-t", f"{table}:{_MBPOLL_32[c.dtype]}"] + (["-B"] if c.order is Order.ABCD else [])
    return None


def _raw_from_mbpoll(point: Point, text: str) -> float:
    if text.startswith("0x"):
        raw = int(text, 16)
        if point.codec.dtype is DataType.INT16 and raw >= 0x8000:
            raw -= 0x10000
        return raw
    return float(text)


def _mbpoll(endpoint: TcpEndpoint | SerialEndpoint, unit: int, point: Point, opts: list[str]) -> str:
    if isinstance(endpoint, TcpEndpoint):
        conn = ["-m", "tcp", "-p", str(endpoint.port), endpoint.host]
    else:
        parity = {"N": "none", "E": "even", "O": "odd"}[endpoint.parity]
        conn = ["-m", "rtu", "-b", str(endpoint.baud), "-P", parity, "-s", str(endpoint.stopbits),
                endpoint.device]
    cmd = ["mbpoll", "-a", str(unit), "-0", "-1", "-o", "2", "-r", str(point.address), "-c", "1",
           *opts, *conn[:-1], conn[-1]]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False)
    found = _LINE.search(out.stdout)
    assert found, f"mbpoll failed: {' '.join(cmd)}\n{out.stdout[-500:]}\n{out.stderr[-500:]}"
    assert int(found.group(1)) == point.address
    return found.group(2)


@pytest.mark.parametrize("transport", ["tcp", "rtu"])
@pytest.mark.parametrize("key", KEYS)
def test_mbpoll_reads_the_true_values(key: str, transport: str, simulated_meter,
                                      modbus_simulator) -> None:  # type: ignore[no-untyped-def]
    meter = simulated_meter(key, unit=3, seed=11)
    if transport == "tcp":
        endpoint = modbus_simulator([meter]).tcp_endpoint
    else:
        endpoint = modbus_simulator([meter], tcp=False, rtu=True, wire_timing=False).rtu_endpoint
    truth = meter.true_values()
    compared = 0
    for point in meter.variant.points:
        opts = _mbpoll_type(point)
        if opts is None or truth[point.quantity] is None:
            continue
        raw = _raw_from_mbpoll(point, _mbpoll(endpoint, 3, point, opts))
        value = (raw * point.codec.scale + point.codec.offset) * point.codec.factor
        assert value == pytest.approx(truth[point.quantity], rel=1e-5, abs=1e-9), point.quantity
        compared += 1
    assert compared >= 2, f"mbpoll could check only {compared} point(s) of {key}"
