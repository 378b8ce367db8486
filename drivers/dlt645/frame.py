"""DL/T 645-2007 frames: `[FE x 0..4] 68 A0..A5 68 C L DATA CS 16`.

Facts (docs: /work/shared/reference/protocols.md; open implementations gams/python-dlt645,
600888/dlt645, WKJay/DLT645): the address is 6 bytes of BCD, low byte first; CS is the byte sum mod
256 from the first 68 to the end of DATA (the FE preamble is not in it); every DATA byte is sent plus
0x33 and received minus 0x33; data identifiers (DI) and values are low byte first. Control code:
bit 7 direction (1 = from the meter), bit 6 error reply, bit 5 more data follows, bits 0..4 function.

Parsing is liberal about what surrounds a frame (any number of FE or stray bytes before the 68,
anything after the 16) and strict about the frame itself (both 68s, length, 16, checksum).
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.bcd import parse_address
from drivers.frame_parts import (
    END,
    START,
    ControlBits,
    FrameError,
    checked_body,
    checksum,
    parse_hex_di,
)
from drivers.frame_scan import frames_in as scan_frames

PREAMBLE = b"\xfe" * 4  # masters send four FE to wake the meters' receivers
SCRAMBLE = 0x33
ADDRESS_BYTES = 6
ADDRESS_DIGITS = 12
WILDCARD = b"\xaa" * ADDRESS_BYTES  # "whoever hears this": read address with one meter only
HEADER = 10  # 68 A0..A5 68 C L
OVERHEAD = 12  # HEADER + CS + 16

# functions (control bits 0..4) and their names
BROADCAST_TIME = 0x08
READ = 0x11
READ_FOLLOW_UP = 0x12
READ_ADDRESS = 0x13
WRITE = 0x14
WRITE_ADDRESS = 0x15
FREEZE = 0x16
CHANGE_BAUD = 0x17
FUNCTIONS = {BROADCAST_TIME: "broadcast time", READ: "read data", READ_FOLLOW_UP: "read follow-up",
             READ_ADDRESS: "read address", WRITE: "write data", WRITE_ADDRESS: "write address",
             FREEZE: "freeze", CHANGE_BAUD: "change baud rate"}
READ_ONLY = frozenset({READ, READ_FOLLOW_UP, READ_ADDRESS})

MORE_BIT = 0x20

# the error byte of an error reply (DL/T 645-2007 table: 错误信息字 ERR), bit -> meaning
ERROR_BITS = {0: "other error", 1: "no requested data", 2: "password error or not authorised",
              3: "baud rate cannot be changed", 4: "too many year time zones",
              5: "too many day time periods", 6: "too many tariffs"}
NO_DATA_BIT = 1


@dataclass(frozen=True, slots=True)
class Frame(ControlBits):
    address: bytes  # wire order (low byte first)
    control: int
    data: bytes  # without the 0x33
    raw: bytes = b""  # 68 .. 16 as received

    @property
    def function(self) -> int:
        return self.control & 0x1F

    @property
    def more_follows(self) -> bool:
        return bool(self.control & MORE_BIT)

    @property
    def meter_type(self) -> int | None:
        return None  # DL/T 645 frames carry no meter type (CJ/T 188 ones do)


def address_bytes(text: str) -> bytes:
    """Nameplate digits (12) -> wire bytes; 'AAAAAAAAAAAA' is the wildcard."""
    if text.upper() == "AA" * ADDRESS_BYTES:
        return WILDCARD
    return parse_address(text, ADDRESS_DIGITS, what="DL/T 645 address")


def di_bytes(di: int) -> bytes:
    """A data identifier as on the wire before scrambling: DI0 (lowest byte) first."""
    if not 0 <= di <= 0xFFFFFFFF:
        raise ValueError(f"DI {di:#x}: a DL/T 645-2007 identifier has 4 bytes (8 hex digits)")
    return di.to_bytes(4, "little")


def parse_di(text: str) -> int:
    """'02010100' (as the standard writes it, DI3 first) -> 0x02010100."""
    return parse_hex_di(text, 8, "02010100")


def format_di(di: int) -> str:
    return f"{di:08X}"


def encode(address: bytes, control: int, data: bytes = b"", *, preamble: bytes = PREAMBLE) -> bytes:
    """One frame; `data` unscrambled (this adds the 0x33)."""
    if len(address) != ADDRESS_BYTES:
        raise ValueError(f"a DL/T 645 address has {ADDRESS_BYTES} bytes, not {len(address)}")
    if len(data) > 200:
        raise ValueError(f"{len(data)} data bytes: a DL/T 645-2007 frame carries at most 200")
    body = bytes([START, *address, START, control, len(data)]) + bytes(
        (b + SCRAMBLE) & 0xFF for b in data)
    return preamble + body + bytes([checksum(body), END])


def read_request(address: bytes, di: int) -> bytes:
    return encode(address, READ, di_bytes(di))


def follow_up_request(address: bytes, di: int, seq: int) -> bytes:
    return encode(address, READ_FOLLOW_UP, di_bytes(di) + bytes([seq & 0xFF]))


def read_address_request() -> bytes:
    return encode(WILDCARD, READ_ADDRESS)


def decode_at(buf: bytes, i: int) -> Frame | None:
    """The frame starting at buf[i] (a 68); None if the bytes there are no complete frame yet or
    not a frame at all; FrameError if the frame is complete but its checksum is wrong."""
    if len(buf) < i + HEADER or buf[i] != START or buf[i + 7] != START:
        return None
    length = buf[i + 9]
    end = i + OVERHEAD + length
    if (body := checked_body(buf, i, end)) is None:
        return None
    data = bytes((b - SCRAMBLE) & 0xFF for b in body[HEADER:])
    return Frame(bytes(body[1:7]), body[8], data, bytes(buf[i:end]))


def frames_in(buf: bytes) -> tuple[list[Frame], int]:
    """Every complete valid frame in `buf`, in order, and how many complete frames had a bad
    checksum. Bytes that belong to no frame (FE, noise, trailing garbage) are skipped."""
    return scan_frames(buf, START, decode_at, FrameError)


def error_meaning(error_byte: int) -> str:
    names = [name for bit, name in ERROR_BITS.items() if error_byte & (1 << bit)]
    return ", ".join(names) or "no reason given"


def request_bytes() -> int:
    """Bytes of a read request on the wire: 4 FE + 12 + 4 (DI)."""
    return len(PREAMBLE) + OVERHEAD + 4


def reply_bytes(value_bytes: int, preamble: int = 4) -> int:
    """Bytes of a normal reply carrying `value_bytes` after the DI echo."""
    return preamble + OVERHEAD + 4 + value_bytes
