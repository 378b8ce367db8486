"""The Scheduler: one BusWorker thread per physical bus, assembled from a SiteConfig.

    scheduler = Scheduler(config, sink, metrics=metrics, on_availability=callback)
    scheduler.start()          # logs every bus's airtime budget, starts the bus threads
    scheduler.load_report()    # [BusLoad]: planned utilisation, verdict, stretch factor
    scheduler.snapshot()       # per bus and per device state for the health topic and `watch`
    scheduler.stop(timeout=5)  # closes the connections to cut requests short, joins the threads

Buses run concurrently; the requests of one bus are serialized on its thread. See docs/scheduler.md.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

from drivers.connections import ProtocolFactory
from gateway.metrics import DeviceCounts, GatewayMetrics
from gateway.scheduler.bus_worker import BusWorker, OnAvailability, Sink
from gateway.scheduler.deadlines import site_aligner
from gateway.scheduler.fairness import BusLoad, describe, plan_load
from gateway.scheduler.line import ConnectionFactory
from site_config.model import SiteConfig

log = logging.getLogger("metergate.scheduler")


class Scheduler:
    def __init__(
        self,
        config: SiteConfig,
        sink: Sink,
        *,
        metrics: GatewayMetrics,
        on_availability: OnAvailability | None = None,
        connection_factory: ConnectionFactory | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._metrics = metrics
        self._clock = clock
        self._monotonic = monotonic
        self._started = False
        self._stopped = False
        rng = rng or random.Random()
        align = site_aligner(config.site.timezone)
        self._loads = [plan_load(bus, config.meters_on(bus.id)) for bus in config.buses]
        self._workers: list[BusWorker] = []
        for bus, load in zip(config.buses, self._loads, strict=True):
            meters = config.meters_on(bus.id)
            if not meters:
                continue
            self._workers.append(BusWorker(
                bus, meters, load, sink=sink, metrics=metrics, on_availability=on_availability,
                connection_factory=connection_factory or ProtocolFactory(config.protocol_of(bus.id)),
                clock=clock, monotonic=monotonic,
                align=align, random_unit=rng.random))
        metrics.devices.add(self._device_counts)

    def load_report(self) -> list[BusLoad]:
        """Per bus: planned utilisation (airtime), verdict and the degradation applied."""
        return list(self._loads)

    def start(self) -> None:
        """Log the airtime budget and start the bus threads (once: a stopped Scheduler stays
        stopped; make a new one)."""
        if self._started:
            return
        if self._stopped:
            raise RuntimeError("this Scheduler was stopped; make a new one to poll again")
        self._started = True
        for load in self._loads:
            level, message = describe(load)
            log.log(level, message)
            if load.utilisation is not None:
                self._metrics.airtime_planned.labels(load.bus).set(load.utilisation)
        for worker in self._workers:
            worker.start()
        log.info("polling %d meters on %d buses", sum(len(w.devices) for w in self._workers),
                 len(self._workers))

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every bus thread; returns within `timeout` even with requests in flight."""
        end = self._monotonic() + timeout
        for worker in self._workers:
            worker.request_stop()
        stuck = [w.bus.id for w in self._workers if not w.join(end - self._monotonic())]
        if stuck:
            log.warning("bus thread(s) still finishing a request at stop: %s", ", ".join(stuck))
        self._stopped = True

    def _device_counts(self) -> list[DeviceCounts]:
        return [c for w in self._workers for c in w.counts()]

    def snapshot(self) -> dict[str, Any]:
        """{"ts", "buses": {bus id: {...}}, "devices": {meter id: {...}}}: plain JSON-able data."""
        now = self._clock()
        buses: dict[str, Any] = {}
        devices: dict[str, Any] = {}
        by_bus = {w.bus.id: w for w in self._workers}
        for load in self._loads:
            worker = by_bus.get(load.bus)
            if worker is None:
                buses[load.bus] = {"type": load.type, "state": "idle", "meters": 0,
                                   "airtime_planned": load.as_dict()["utilisation"],
                                   "verdict": load.verdict, "stretch": load.stretch}
                continue
            bus, devs = worker.snapshot(now)
            buses[load.bus] = bus
            devices.update(devs)
        return {"ts": now, "buses": buses, "devices": devices}
