"""Picking the answer to one request out of the bytes a line delivered, for DL/T 645 and CJ/T 188.

Liberal about what surrounds it (preambles, noise, our own echo, another meter's frame, a late answer
to an earlier request), strict about the answer itself: a frame from a meter (direction bit), with a
valid checksum, the address asked (unless the request was a wildcard), the function asked, and the
data identifier echoed. An error reply for our address and function ends the exchange with an
ErrorReply. At the deadline the matcher says what the bytes were: a bad checksum (crc_error), noise
or a wrong answer (crc_error, with the detail), or silence (timeout).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from drivers.bcd import format_address
from drivers.errors import ErrorReply, ModbusError, ModbusFrameError, ModbusTimeout

PREAMBLE_BYTE = 0xFE


class FrameLike(Protocol):
    @property
    def address(self) -> bytes: ...
    @property
    def data(self) -> bytes: ...
    @property
    def raw(self) -> bytes: ...
    @property
    def function(self) -> int: ...
    @property
    def from_meter(self) -> bool: ...
    @property
    def is_error(self) -> bool: ...
    @property
    def meter_type(self) -> int | None: ...


Scan = Callable[[bytes], tuple[list[FrameLike], int]]
ErrorOf = Callable[[FrameLike], ErrorReply]


@dataclass(slots=True)
class Expect:
    """What the answer to one request must be."""

    protocol: str  # "DL/T 645" | "CJ/T 188", for messages
    address: bytes | None  # wire order; None: a wildcard request, any meter's address
    function: int
    di: tuple[bytes, ...] = (b"",)  # the identifier the answer's data starts with, in any of
    # these wire orders (CJ/T 188 meters echo 901F as 1F 90 or as 90 1F)
    meter_type: int | None = None  # CJ/T 188: the T byte asked (None: any)
    what: str = ""  # "DI 02010100 from 000012345678", for messages


@dataclass(slots=True)
class ReplyMatcher:
    expect: Expect
    scan: Scan
    error_of: ErrorOf
    wrong: list[str] = field(default_factory=list)  # answers that were not ours, in words

    def feed(self, received: bytes) -> FrameLike | None:
        frames, _bad = self.scan(received)
        self.wrong.clear()
        e = self.expect
        for frame in frames:
            if not frame.from_meter:
                continue  # our own request echoed by the adapter, or another master
            if e.address is not None and frame.address != e.address:
                continue  # another meter on the line
            if frame.function != e.function:
                self.wrong.append(f"a reply to function 0x{frame.function:02X}")
                continue
            if e.meter_type is not None and frame.meter_type not in (e.meter_type, None):
                self.wrong.append(f"a reply as meter type 0x{frame.meter_type:02X} (asked "
                                  f"0x{e.meter_type:02X})")
                continue
            if frame.is_error:
                raise self.error_of(frame)
            n = len(e.di[0])
            if frame.data[:n] not in e.di:
                echoed = frame.data[:n][::-1].hex().upper() or "none"
                self.wrong.append(f"an answer for DI {echoed} (a late answer to an earlier request?)")
                continue
            return frame
        return None

    def expired(self, received: bytes) -> ModbusError:
        e = self.expect
        frames, bad = self.scan(received)
        where = f" ({e.what})" if e.what else ""
        if bad:
            return ModbusFrameError(f"{e.protocol} answer with a bad checksum{where}: noise on the "
                                    "line, or a meter at another baud rate", received)
        if self.wrong:
            return ModbusFrameError(f"{e.protocol}: no answer{where}, only {'; '.join(self.wrong)}",
                                    received)
        framed = sum(len(f.raw) for f in frames)
        noise = sum(1 for b in received if b != PREAMBLE_BYTE) - framed
        if noise > 0 and not frames:
            return ModbusFrameError(f"{e.protocol}: {noise} byte(s) arrived but no valid frame"
                                    f"{where}: a meter at another baud rate or parity, or noise "
                                    "(termination, A/B wiring)", received)
        others = sorted({format_address(f.address) for f in frames if f.from_meter})
        heard = f"; heard {', '.join(others)} instead" if others else ""
        return ModbusTimeout(f"{e.protocol}: no answer{where}{heard}")
