"""CJ/T 188-2004 frames: `[FE ...] 68 T A0..A6 C L DI0 DI1 SER DATA CS 16`.

Facts (/work/shared/reference/protocols.md; open code: xijunzhou cj188.h, KingDa NB water meter
CJT-188-2004.h, aixiwang/python_cjt188): T is the meter type; the address is 7 bytes of BCD, low
byte first (the nameplate's 14 digits; A5 A6 are often a manufacturer code); CS is the byte sum
mod 256 from the 68 to the end of DATA; no byte scrambling. The data identifier is sent DI0 first,
DI0 being the low byte of the identifier as written: 901F goes out as 1F 90 (xijunzhou cj188.h
builds and checks it so) — but some meters use 90 1F, so replies are accepted in either order and a
profile can ask in the other (`di_order = "high_first"`). Control code: bit 7 direction (1 = from
the meter), bit 6 error reply, bits 0..5 function: 01 read data -> 81 / C1, 03 read address -> 83.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers import frame_parts
from drivers.bcd import parse_address
from drivers.frame_scan import frames_in as scan_frames

PREAMBLE = b"\xfe" * 2
START, END = frame_parts.START, frame_parts.END
FrameError = frame_parts.FrameError  # a complete frame whose checksum is wrong
checksum = frame_parts.checksum
ADDRESS_BYTES = 7
ADDRESS_DIGITS = 14
WILDCARD_ADDRESS = b"\xaa" * ADDRESS_BYTES
WILDCARD_TYPE = 0xAA
HEADER = 11  # 68 T A0..A6 C L
OVERHEAD = 13  # HEADER + CS + 16

READ = 0x01
READ_ADDRESS = 0x03
WRITE = 0x04
WRITE_ADDRESS = 0x15
READ_ONLY = frozenset({READ, READ_ADDRESS})

DI_CURRENT = 0x901F  # current metering data
DI_ADDRESS = 0x810A  # read address
DI_VALVE = 0xA017  # valve control (a write: never sent unless a site allows it)

# meter types (T). Confirmed: 10-13 in the KingDa header (CJ_T_188_MeterType), 10..19 as water in
# xijunzhou's reader; 20/21 heat, 30 gas and 40 electricity only from protocols.md (unconfirmed).
METER_TYPES = {0x10: "cold water", 0x11: "domestic hot water", 0x12: "drinking water",
               0x13: "reclaimed water", 0x20: "heat (heating)", 0x21: "heat (cooling)",
               0x30: "gas", 0x40: "electricity"}
CONFIRMED_TYPES = frozenset({0x10, 0x11, 0x12, 0x13})


@dataclass(frozen=True, slots=True)
class Frame(frame_parts.ControlBits):
    meter_type: int | None
    address: bytes  # wire order (low byte first)
    control: int
    data: bytes  # DI0 DI1 SER and what follows
    raw: bytes = b""

    @property
    def function(self) -> int:
        return self.control & 0x3F



def address_bytes(text: str) -> bytes:
    if text.upper() == "AA" * ADDRESS_BYTES:
        return WILDCARD_ADDRESS
    return parse_address(text, ADDRESS_DIGITS, what="CJ/T 188 address")


def di_bytes(di: int, high_first: bool = False) -> bytes:
    """901F as 1F 90 (DI0 = low byte first, the common order) or, for meters that want it, 90 1F.
    Published frames use both (tests/drivers/fixtures/published_frames/README.md)."""
    if not 0 <= di <= 0xFFFF:
        raise ValueError(f"DI {di:#x}: a CJ/T 188 identifier has 2 bytes (4 hex digits)")
    return di.to_bytes(2, "big" if high_first else "little")


def di_echoes(di: int) -> tuple[bytes, bytes]:
    """Both wire orders: a reply is accepted in either."""
    return di_bytes(di), di_bytes(di, high_first=True)


def parse_di(text: str) -> int:
    return frame_parts.parse_hex_di(text, 4, "901F")


def format_di(di: int) -> str:
    return f"{di:04X}"


def encode(meter_type: int, address: bytes, control: int, data: bytes = b"", *,
           preamble: bytes = PREAMBLE) -> bytes:
    if len(address) != ADDRESS_BYTES:
        raise ValueError(f"a CJ/T 188 address has {ADDRESS_BYTES} bytes, not {len(address)}")
    if not 0 <= meter_type <= 0xFF:
        raise ValueError(f"meter type {meter_type}: one byte")
    body = bytes([START, meter_type, *address, control, len(data)]) + data
    return preamble + body + bytes([checksum(body), END])


def read_request(meter_type: int, address: bytes, di: int, ser: int = 0, *,
                 high_first: bool = False) -> bytes:
    return encode(meter_type, address, READ, di_bytes(di, high_first) + bytes([ser & 0xFF]))


def read_address_request(ser: int = 0) -> bytes:
    """DI 810A goes out as 81 0A, the only order published (Fox-Edge, aixiwang)."""
    return encode(WILDCARD_TYPE, WILDCARD_ADDRESS, READ_ADDRESS,
                  di_bytes(DI_ADDRESS, high_first=True) + bytes([ser & 0xFF]))


def decode_at(buf: bytes, i: int) -> Frame | None:
    if len(buf) < i + HEADER or buf[i] != START:
        return None
    length = buf[i + 10]
    end = i + OVERHEAD + length
    if (body := frame_parts.checked_body(buf, i, end)) is None:
        return None
    return Frame(body[1], bytes(body[2:9]), body[9], bytes(body[HEADER:]), bytes(buf[i:end]))


def frames_in(buf: bytes) -> tuple[list[Frame], int]:
    """Every complete valid frame in `buf` and the number with a bad checksum; other bytes skipped."""
    return scan_frames(buf, START, decode_at, FrameError)


def request_bytes() -> int:
    """A read request on the wire: 2 FE + 13 + DI(2) + SER."""
    return len(PREAMBLE) + OVERHEAD + 3


def reply_bytes(data_bytes: int, preamble: int = 2) -> int:
    """A reply whose data after DI and SER has `data_bytes` bytes."""
    return preamble + OVERHEAD + 3 + data_bytes
