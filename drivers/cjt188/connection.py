"""A CJ/T 188-2004 master on one line: read a data identifier of a meter of a type, read the address
of the one meter on a line. Read-only: no write, valve or address command is ever sent."""

from __future__ import annotations

from drivers.byte_line import LineEndpoint
from drivers.cjt188 import frame as f
from drivers.errors import ErrorReply
from drivers.frame_connection import FrameConnection
from drivers.reply_match import Expect, FrameLike

PROTOCOL = "CJ/T 188"


class Cjt188Connection(FrameConnection):
    protocol = "cjt188"

    def __init__(self, endpoint: LineEndpoint, *, timeout: float = 1.0) -> None:
        super().__init__(endpoint, timeout=timeout)
        self._ser = 0

    def scan(self, buf: bytes) -> tuple[list[FrameLike], int]:
        frames, bad = f.frames_in(buf)
        return list(frames), bad

    def error_of(self, frame: FrameLike) -> ErrorReply:
        # the error reply carries SER and the status word ST (KingDa CJT8_188_ErrACK_Struct)
        st = frame.data[1:3] if len(frame.data) >= 3 else b""
        code = st[0] if st else 0
        return ErrorReply(PROTOCOL, code, f"status {st.hex(' ').upper() or 'none'}", no_data=False)

    def _next_ser(self) -> int:
        self._ser = (self._ser + 1) & 0xFF
        return self._ser

    def read_di(self, address: str, di: int, meter_type: int | None = None,
                high_first: bool = False) -> bytes:
        """The data after DI and SER that the meter of `meter_type` at `address` answers for `di`
        (asked as 1F 90, or 90 1F with `high_first`; the echo is accepted in either order)."""
        wire = f.address_bytes(address)
        t = f.WILDCARD_TYPE if meter_type is None else meter_type
        what = f"DI {f.format_di(di)} from {address} (type 0x{t:02X})"
        reply: f.Frame = self.ask(
            f.read_request(t, wire, di, self._next_ser(), high_first=high_first),
            Expect(PROTOCOL, wire, f.READ, f.di_echoes(di),
                   None if t == f.WILDCARD_TYPE else t, what=what))
        return reply.data[3:]

    def read_address(self, meter_type: int | None = None) -> str:
        reply: f.Frame = self.ask(f.read_address_request(self._next_ser()),
                                  Expect(PROTOCOL, None, f.READ_ADDRESS, f.di_echoes(f.DI_ADDRESS),
                                         what="read address (wildcard)"))
        return reply.address_text

    def meter_type_at(self, address: str) -> int | None:
        """The type byte the meter at `address` answers with (a read of 901F as type AA)."""
        wire = f.address_bytes(address)
        reply: f.Frame = self.ask(
            f.read_request(f.WILDCARD_TYPE, wire, f.DI_CURRENT, self._next_ser()),
            Expect(PROTOCOL, wire, f.READ, f.di_echoes(f.DI_CURRENT), what=f"901F from {address}"))
        return reply.meter_type
