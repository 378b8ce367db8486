"""The bus scheduler: one serialized request queue (thread) per physical bus, wall-clock aligned poll
deadlines, pacing, a circuit breaker per device, the airtime budget and fair degradation.

    from gateway.scheduler import PollResult, Scheduler
    scheduler = Scheduler(config, sink, metrics=GatewayMetrics(), on_availability=callback)
    scheduler.start(); ...; scheduler.stop()

Modules: deadlines (aligned due times), breaker (per-device backoff), queue (EDF with round robin,
missed deadlines skipped), fairness (airtime budget, stretch factor), line (one connection per bus:
lazy open, reconnect backoff, pacing, request accounting), bus_worker (the bus thread), scheduler
(assembly, load report, snapshot), result (PollResult). Described in docs/scheduler.md.
"""

from gateway.scheduler.breaker import Breaker
from gateway.scheduler.fairness import BusLoad, stretch_factor
from gateway.scheduler.result import PollResult
from gateway.scheduler.scheduler import Scheduler

__all__ = ["Breaker", "BusLoad", "PollResult", "Scheduler", "stretch_factor"]
