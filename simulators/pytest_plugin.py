"""pytest fixtures over the simulator. Register with `pytest_plugins = ["simulators.pytest_plugin"]`.

    def test_reads(simulated_meter, modbus_simulator):
        meter = simulated_meter("chint-dtsu666", unit=1)          # frozen clock: values do not move
        sim = modbus_simulator([meter], tcp=True, rtu=True)       # started; stopped at teardown
        with ModbusConnection(sim.tcp_endpoint) as conn: ...
        MeterReader(sim.source(), meter.variant, 1).read()        # in-process, no I/O

Meters default to a frozen clock at FIXED_TIME (a Tuesday morning, site time), so a read over the
wire and `true_values()` agree exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from drivers.profiles import resolve_variant
from simulators.bus import Simulator
from simulators.clock import Clock, fixed_clock
from simulators.meter import MeterOptions, SimulatedMeter
from simulators.meter_spec import MeterSpec, build_meters

FIXED_TIME = datetime(2024, 3, 12, 10, 0, tzinfo=timezone(timedelta(hours=8))).timestamp()

MeterFactory = Callable[..., SimulatedMeter]
SimulatorFactory = Callable[..., Simulator]


@pytest.fixture
def simulated_meter() -> MeterFactory:
    """make(profile="chint-dtsu666", unit=1, *, seed=0, clock=None (frozen at FIXED_TIME), **options)
    -> SimulatedMeter; options are MeterOptions fields (order, address_shift, line, ...)."""

    def make(profile: str = "chint-dtsu666", unit: int = 1, *, seed: int = 0,
             clock: Clock | None = None, **options: Any) -> SimulatedMeter:
        return SimulatedMeter(resolve_variant(profile), unit, seed=seed,
                              clock=clock or fixed_clock(FIXED_TIME),
                              options=MeterOptions(**options))

    return make


@pytest.fixture
def modbus_simulator() -> Iterator[SimulatorFactory]:
    """start(meters, *, tcp=True, rtu=False, rtu_over_tcp=False, seed=0, clock=None, **rtu_options)
    -> a started Simulator; `meters` are SimulatedMeters or specs like '2=tuf-2000m,order=ABCD'.
    Every simulator started here is stopped at teardown."""
    started: list[Simulator] = []

    def start(meters: Iterable[SimulatedMeter | str] = ("1=chint-dtsu666",), *, tcp: bool = True,
              rtu: bool = False, rtu_over_tcp: bool = False, seed: int = 0,
              clock: Clock | None = None, **rtu_options: Any) -> Simulator:
        items = list(meters)
        specs = [MeterSpec.parse(m) for m in items if isinstance(m, str)]
        built = iter(build_meters(specs, seed=seed, clock=clock or fixed_clock(FIXED_TIME)))
        sim = Simulator(m if isinstance(m, SimulatedMeter) else next(built) for m in items)
        if tcp:
            sim.add_tcp()
        if rtu:
            sim.add_rtu(**rtu_options)
        if rtu_over_tcp:
            sim.add_rtu_over_tcp()
        started.append(sim.start())
        return sim

    yield start
    for sim in started:
        sim.stop()
