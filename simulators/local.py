"""An in-process RegisterSource over simulated meters: no sockets, no threads, no waiting.

For fast unit tests of anything that reads through drivers.reader.RegisterSource. Faults look as a
Modbus master would report them: silence and answers later than `timeout` raise ModbusTimeout, a
damaged frame ModbusFrameError, an exception answer ModbusExceptionResponse.
"""

from __future__ import annotations

from collections.abc import Mapping

from drivers.errors import ModbusFrameError, ModbusTimeout
from simulators import pdu as pdus
from simulators.meter import SimulatedMeter
from simulators.responder import respond


class LocalSource:
    def __init__(self, meters: Mapping[int, SimulatedMeter], *, timeout: float = 1.0) -> None:
        self.meters = meters
        self.timeout = timeout

    def read_registers(self, unit: int, function: int, address: int, count: int) -> list[int]:
        if function not in pdus.READ_FUNCTIONS:
            raise ValueError(f"function code {function}: registers are read with 3 or 4")
        reply = respond(self.meters, unit, pdus.read_request(function, address, count))
        if reply is None or reply.pdu is None:
            raise ModbusTimeout(f"no answer from unit {unit} within {self.timeout:g} s")
        if reply.delay >= self.timeout:
            raise ModbusTimeout(f"unit {unit} answered after {reply.delay:g} s, later than the "
                                f"timeout of {self.timeout:g} s")
        if reply.corrupt:
            raise ModbusFrameError(f"unit {unit}: CRC error in the answer")
        registers = pdus.parse_read_response(reply.pdu)
        if len(registers) != count:
            raise ModbusFrameError(f"asked unit {unit} for {count} registers, got {len(registers)}")
        return registers
