"""Golden test of every bundled profile: the simulator's registers, read over the wire through the
profile, decode to the simulator's true engineering values — over Modbus TCP and RTU on a pty."""

from __future__ import annotations

import pytest

from core.reading import Quality
from drivers.profiles import BUNDLED_PROFILES, load_all
from drivers.pymodbus_adapter import ModbusConnection
from drivers.reader import MeterReader
from drivers.transport import Endpoint

PROFILES = load_all([BUNDLED_PROFILES])
VARIANTS = [f"{pid}:{v}" for pid, prof in sorted(PROFILES.items()) for v in prof.variants]


@pytest.mark.parametrize("transport", ["tcp", "rtu"])
@pytest.mark.parametrize("key", VARIANTS)
def test_profile_decodes_to_true_values(key: str, transport: str, simulated_meter,
                                        modbus_simulator) -> None:  # type: ignore[no-untyped-def]
    meter = simulated_meter(key, unit=7, seed=3)
    sim = modbus_simulator([meter], tcp=transport == "tcp", rtu=transport == "rtu",
                           wire_timing=False) if transport == "rtu" else modbus_simulator([meter])
    endpoint: Endpoint = sim.tcp_endpoint if transport == "tcp" else sim.rtu_endpoint
    with ModbusConnection(endpoint, timeout=2.0) as conn:
        readings = MeterReader(conn, meter.variant, unit=7).read()
    truth = meter.true_values()
    assert {r.quantity for r in readings} == set(truth)
    for r in readings:
        assert r.quality is Quality.OK, f"{key} {r.quantity}: {r.quality} {r.error}"
        assert r.value == pytest.approx(truth[r.quantity], rel=1e-9, abs=1e-12), r.quantity


@pytest.mark.parametrize("key", VARIANTS)
def test_profile_plan_is_what_the_device_accepts(key: str, simulated_meter,
                                                 modbus_simulator) -> None:  # type: ignore[no-untyped-def]
    """The planned blocks never hit exception 2 on a device that refuses its unreadable ranges."""
    meter = simulated_meter(key, unit=1)
    reader = MeterReader(modbus_simulator([meter]).source(), meter.variant, unit=1)
    before = reader.plan.request_count
    reader.read()
    assert reader.plan.request_count == before and not reader.plan.refused
