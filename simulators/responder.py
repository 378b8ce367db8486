"""What a bus of simulated meters answers to one request: the reply PDU, when, and how damaged.

Shared by every transport (TCP, RTU on a pty, RTU over TCP) and by the in-process source, so a fault
looks the same whichever way the meter is reached.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from simulators import pdu as pdus
from simulators.faults import Action
from simulators.meter import SimulatedMeter


@dataclass(frozen=True, slots=True)
class Reply:
    pdu: bytes | None  # None: the device stays silent
    delay: float = 0.0  # seconds to hold the answer back beyond the normal timing (late fault)
    corrupt: bool = False  # damage the frame (bad CRC on RTU, a garbled answer on TCP)


SILENT = Reply(None)


def respond(meters: Mapping[int, SimulatedMeter], unit: int, request: bytes) -> Reply | None:
    """The reply of unit `unit` to a request PDU; None if no meter has that unit id."""
    meter = meters.get(unit)
    if meter is None:
        return None
    decision = meter.faults.decide(*_target(request))
    if decision.action is Action.SILENT:
        return SILENT
    if decision.action is Action.EXCEPTION:
        return Reply(pdus.exception_pdu(request[0] if request else 0, decision.code))
    answer = pdus.handle(meter, request)
    return Reply(answer, delay=decision.delay, corrupt=decision.action is Action.CORRUPT)


def _target(request: bytes) -> tuple[int, int, int]:
    """(function, address, count) a request touches, for address-limited faults."""
    fc = request[0] if request else 0
    if len(request) < 5:
        return fc, 0, 1
    address = int.from_bytes(request[1:3], "big")
    count = 1 if fc == 6 else max(int.from_bytes(request[3:5], "big"), 1)
    return fc, address, count
