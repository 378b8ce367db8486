"""How simulated DL/T 645-2007 meters answer one request frame: the meter with the frame's address
(every meter for the wildcard AA x 6), with its preamble, its faults, and read-only: a write,
time-set, freeze or baud command gets the error reply "password error or not authorised"."""

from __future__ import annotations

from collections.abc import Mapping

from drivers.dlt645 import frame as f
from simulators.di_meter import DiMeter
from simulators.faults import Action
from simulators.frame_reply import Answer

BROADCAST = b"\x99" * f.ADDRESS_BYTES
UNAUTHORISED = 1 << 2


def respond(meters: Mapping[str, DiMeter], request: f.Frame) -> list[Answer]:
    if request.from_meter or request.address == BROADCAST:
        return []  # another meter's answer, or a broadcast (nobody answers)
    if request.address == f.WILDCARD:
        targets = list(meters.values())
    else:
        meter = meters.get(request.address_text)
        targets = [] if meter is None else [meter]
    return [a for m in targets if (a := _answer(m, request)) is not None]


def _answer(meter: DiMeter, request: f.Frame) -> Answer | None:
    wire = f.address_bytes(meter.address)
    function = request.function
    di = int.from_bytes(request.data[:4], "little") if len(request.data) >= 4 else 0
    decision = meter.decide(function, di)
    if decision.action is Action.SILENT:
        return None
    pre = b"\xfe" * meter.preamble()

    def error(code: int) -> Answer:
        data = f.encode(wire, 0xC0 | function, bytes([code]), preamble=pre)
        return Answer(meter, data, decision.delay)

    if decision.action is Action.EXCEPTION:
        return error(decision.code)
    if function == f.READ_ADDRESS:
        data = f.encode(wire, 0x80 | f.READ_ADDRESS, wire, preamble=pre)
    elif function == f.READ and len(request.data) == 4:
        value = meter.answer(di)
        if value is None:
            return error(1 << f.NO_DATA_BIT)
        data = f.encode(wire, 0x80 | f.READ, request.data[:4] + value, preamble=pre)
    else:
        return error(UNAUTHORISED)  # read-only: no write, time, freeze, baud or follow-up
    return Answer(meter, data, decision.delay, corrupt=decision.action is Action.CORRUPT)
