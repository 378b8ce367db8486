"""What DL/T 645-2007 and CJ/T 188-2004 frames have in common: the additive checksum, the control
byte's direction and error bits, the closing of a frame (checksum then 16) and data identifiers
written as the standards write them (hex digits, highest byte first).

Sources: /work/shared/reference/protocols.md; both standards define CS as the byte sum mod 256 from
the first 68 to the end of DATA, bit 7 of C as "from the meter" and bit 6 as "error reply".
"""

from __future__ import annotations

from drivers.bcd import format_address

START, END = 0x68, 0x16
DIRECTION_BIT, ERROR_BIT = 0x80, 0x40


class FrameError(ValueError):
    """Bytes that look like a frame but are not a valid one (a bad checksum)."""


class ControlBits:
    """The control byte's direction and error bits and the address as printed; for frame
    dataclasses with `control` and `address` fields."""

    __slots__ = ()
    control: int
    address: bytes

    @property
    def from_meter(self) -> bool:
        return bool(self.control & DIRECTION_BIT)

    @property
    def is_error(self) -> bool:
        return bool(self.control & ERROR_BIT)

    @property
    def address_text(self) -> str:
        return format_address(self.address)


def checksum(data: bytes) -> int:
    return sum(data) & 0xFF


def checked_body(buf: bytes, i: int, end: int) -> bytes | None:
    """buf[i:end - 2] (68 .. end of DATA) if the frame ending at `end` is complete and closed by 16;
    None if not (yet); FrameError if it is complete but its checksum is wrong."""
    if len(buf) < end or buf[end - 1] != END:
        return None
    body = buf[i : end - 2]
    if checksum(body) != buf[end - 2]:
        raise FrameError(f"checksum 0x{buf[end - 2]:02X}, expected 0x{checksum(body):02X}")
    return body


def parse_hex_di(text: str, digits: int, example: str) -> int:
    """'02010100' / '901F' (as the standard writes it) -> the identifier's number."""
    t = text.strip().lower().removeprefix("0x")
    if len(t) != digits or any(c not in "0123456789abcdef" for c in t):
        raise ValueError(f"DI {text!r}: write the {digits} hex digits as the standard does, "
                         f"e.g. {example}")
    return int(t, 16)


__all__ = ["ControlBits", "FrameError", "checked_body", "checksum", "parse_hex_di"]
