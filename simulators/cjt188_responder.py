"""How simulated CJ/T 188-2004 meters answer one request frame: the meter with the frame's address
and type (every meter for the wildcard address, any type for T = AA), with its preamble and faults;
read-only: a write, valve or address command gets the error reply."""

from __future__ import annotations

from collections.abc import Mapping

from drivers.cjt188 import frame as f
from simulators.di_meter import DiMeter
from simulators.faults import Action
from simulators.frame_reply import Answer


def respond(meters: Mapping[str, DiMeter], request: f.Frame) -> list[Answer]:
    if request.from_meter:
        return []
    if request.address == f.WILDCARD_ADDRESS:
        targets = list(meters.values())
    else:
        meter = meters.get(request.address_text)
        targets = [] if meter is None else [meter]
    t = request.meter_type
    targets = [m for m in targets if t in (f.WILDCARD_TYPE, m.meter_type)]
    return [a for m in targets if (a := _answer(m, request)) is not None]


def _answer(meter: DiMeter, request: f.Frame) -> Answer | None:
    wire = f.address_bytes(meter.address)
    t = meter.meter_type if meter.meter_type is not None else 0x10
    function = request.function
    head = request.data[:3]  # DI0 DI1 SER
    di = int.from_bytes(head[:2], "little") if len(head) >= 2 else 0
    if not meter.knows(di) and function == f.READ:  # asked as 90 1F: answered in that order
        di = int.from_bytes(head[:2], "big")
    ser = head[2:3] or b"\x00"
    decision = meter.decide(function, di)
    if decision.action is Action.SILENT:
        return None
    pre = b"\xfe" * meter.preamble()

    def error() -> Answer:
        status = meter.answer(f.DI_CURRENT)  # ST as the meter has it (last two bytes of 901F)
        st = status[-2:] if status else b"\x00\x00"
        return Answer(meter, f.encode(t, wire, 0xC0 | function, ser + st, preamble=pre),
                      decision.delay)

    if decision.action is Action.EXCEPTION:
        return error()
    if function == f.READ_ADDRESS:
        data = f.encode(t, wire, 0x80 | f.READ_ADDRESS, head, preamble=pre)
    elif function == f.READ and len(head) == 3:
        value = meter.answer(di)
        if value is None:
            return error()
        data = f.encode(t, wire, 0x80 | f.READ, head + value, preamble=pre)
    else:
        return error()
    return Answer(meter, data, decision.delay, corrupt=decision.action is Action.CORRUPT)
