"""Cut a byte stream into RTU request frames, as a slave's receiver does.

A frame's length follows from its function code (8 bytes for FC1-6, 9 + byte count for FC15/16);
its CRC must match. Bytes that do not make a valid frame are thrown away up to the next silence of
3.5 characters (the inter-frame rule), as is a frame with a bad CRC. A frame with an unknown
function code ends at the next silence and is kept if its CRC is right (it earns exception 1).
"""

from __future__ import annotations

from dataclasses import dataclass

from simulators.pdu import crc_ok, request_length

MAX_FRAME = 256


@dataclass(frozen=True, slots=True)
class Frame:
    data: bytes  # unit + PDU + CRC
    first_at: float  # when its first byte arrived (loop time)
    last_at: float  # when its last byte arrived

    @property
    def unit(self) -> int:
        return self.data[0]

    @property
    def pdu(self) -> bytes:
        return self.data[1:-2]


class RtuFramer:
    def __init__(self, gap_s: float) -> None:
        self.gap_s = gap_s
        self._buf = bytearray()
        self._first = self._last = 0.0
        self._discard = False  # after a CRC error: drop bytes until the next silence

    @property
    def pending(self) -> bool:
        return bool(self._buf) or self._discard

    def feed(self, data: bytes, now: float) -> list[Frame]:
        frames = self.expire(now) if self.pending and now - self._last > self.gap_s else []
        if not data:
            return frames
        if self._discard:
            self._last = now
            return frames
        if not self._buf:
            self._first = now
        self._buf += data
        self._last = now
        while self._buf and not self._discard:
            n = request_length(self._buf)
            if n is None:
                if len(self._buf) > MAX_FRAME:
                    self._drop()
                break  # unknown function code or not enough bytes yet: wait for more or silence
            if len(self._buf) < n:
                break
            candidate = bytes(self._buf[:n])
            if not crc_ok(candidate):
                self._drop()
                break
            frames.append(Frame(candidate, self._first, now))
            del self._buf[:n]
            self._first = now
        return frames

    def expire(self, now: float) -> list[Frame]:
        """Call after a silence of gap_s: whatever is buffered ends here."""
        if now - self._last < self.gap_s:
            return []
        data = bytes(self._buf)
        self._buf.clear()
        self._discard = False
        if len(data) >= 4 and request_length(data) is None and crc_ok(data):
            return [Frame(data, self._first, self._last)]
        return []

    def _drop(self) -> None:
        self._buf.clear()
        self._discard = True
