"""A DL/T 645-2007 master on one line: read a data identifier (with follow-up frames), read the
address of the one meter on a line. Read-only: it has no write, time-set, freeze or baud command
(the gateway never sends one; see docs/profiles.md)."""

from __future__ import annotations

from drivers.dlt645 import frame as f
from drivers.errors import ErrorReply, ModbusFrameError
from drivers.frame_connection import FrameConnection
from drivers.reply_match import Expect, FrameLike

PROTOCOL = "DL/T 645"
MAX_FOLLOW_UPS = 32


class Dlt645Connection(FrameConnection):
    protocol = "dlt645"

    def scan(self, buf: bytes) -> tuple[list[FrameLike], int]:
        frames, bad = f.frames_in(buf)
        return list(frames), bad

    def error_of(self, frame: FrameLike) -> ErrorReply:
        code = frame.data[0] if frame.data else 0
        return ErrorReply(PROTOCOL, code, f.error_meaning(code),
                          no_data=bool(code & (1 << f.NO_DATA_BIT)))

    def read_di(self, address: str, di: int, meter_type: int | None = None,
                high_first: bool = False) -> bytes:
        """The value bytes (after the DI echo, 0x33 removed) the meter at `address` answers for
        `di`, follow-up frames joined. ErrorReply, ModbusTimeout, ModbusFrameError, ConnectError."""
        wire = f.address_bytes(address)
        what = f"DI {f.format_di(di)} from {address}"
        echo = (f.di_bytes(di),)
        reply: f.Frame = self.ask(f.read_request(wire, di), Expect(PROTOCOL, wire, f.READ, echo,
                                                                  what=what))
        value = reply.data[4:]
        seq = 0
        while reply.more_follows:
            seq += 1
            if seq > MAX_FOLLOW_UPS:
                raise ModbusFrameError(f"{PROTOCOL}: {what} still says more follows after "
                                       f"{MAX_FOLLOW_UPS} follow-up frames")
            reply = self.ask(f.follow_up_request(wire, di, seq),
                             Expect(PROTOCOL, wire, f.READ_FOLLOW_UP, echo, what=what))
            value += reply.data[4:-1]  # DI echo, data, SEQ
        return value

    def read_address(self, meter_type: int | None = None) -> str:
        """The address of the one meter on the line (wildcard AA x 6): with two meters their answers
        collide and the result is a checksum error or nonsense."""
        reply: f.Frame = self.ask(f.read_address_request(),
                                  Expect(PROTOCOL, None, f.READ_ADDRESS,
                                         what="read address (wildcard)"))
        return reply.address_text
