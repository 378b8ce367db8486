"""One simulated meter's answer on a DL/T 645 / CJ/T 188 line, and what several answers at once
become on RS-485 (a collision: the bytes of both, bitwise ANDed, as dominant zero bits would)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Answer:
    meter: Any  # simulators.di_meter.DiMeter
    data: bytes
    delay: float = 0.0
    corrupt: bool = False

    def wire(self) -> bytes:
        """The bytes sent: stray bytes, the frame (checksum damaged if corrupt), trailing bytes."""
        data = self.data
        if self.corrupt:
            data = data[:-2] + bytes([(data[-2] + 0x5A) & 0xFF]) + data[-1:]
        o = self.meter.options
        return bytes(o.stray) + data + bytes(o.trailing)


def collide(answers: list[bytes]) -> bytes:
    """Several meters answering together: one garbled stream."""
    if len(answers) == 1:
        return answers[0]
    n = max(map(len, answers))
    out = bytearray(b"\xff" * n)
    for a in answers:
        for i, b in enumerate(a):
            out[i] &= b
    return bytes(out)
