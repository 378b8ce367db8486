"""Packed BCD as DL/T 645 and CJ/T 188 carry it: two decimal digits per byte, low byte first on the
wire, an optional sign in the top bit of the most significant byte, and meter addresses written as
the digits on the nameplate.

A byte whose nibbles are not both 0..9 is not a number: decoding returns None (a meter sends FF or EE
bytes for a value it does not have), never 0.
"""

from __future__ import annotations

from collections.abc import Sequence

SIGN_BIT = 0x80


def decode_bcd(data: bytes, decimals: int = 0, *, signed: bool = False) -> float | None:
    """`data` low byte first -> value with `decimals` implied decimal places; None if a nibble is
    not a decimal digit. `signed`: the top bit of the last (most significant) byte is the sign."""
    if not data:
        return None
    digits = bytearray(reversed(data))  # most significant byte first
    negative = False
    if signed:
        negative = bool(digits[0] & SIGN_BIT)
        digits[0] &= ~SIGN_BIT & 0xFF
    value = 0
    for byte in digits:
        hi, lo = byte >> 4, byte & 0x0F
        if hi > 9 or lo > 9:
            return None
        value = value * 100 + hi * 10 + lo
    result = value / 10**decimals if decimals else float(value)
    return -result if negative and value else result


def encode_bcd(value: float, nbytes: int, decimals: int = 0, *, signed: bool = False) -> bytes:
    """The inverse of decode_bcd; ValueError if the value does not fit (meters do not wrap BCD)."""
    scaled = round(abs(value) * 10**decimals)
    digits = f"{scaled:0{nbytes * 2}d}"
    limit = 8 * 10 ** (nbytes * 2 - 1) if signed else 10 ** (nbytes * 2)
    if scaled >= limit:
        raise ValueError(f"{value} does not fit in {nbytes} BCD byte(s) with {decimals} decimal(s)"
                         + (" and a sign bit" if signed else ""))
    msb_first = bytearray(int(digits[i : i + 2], 16) for i in range(0, len(digits), 2))
    if signed and value < 0 and scaled:
        msb_first[0] |= SIGN_BIT
    return bytes(reversed(msb_first))


def bcd_digits(data: bytes) -> str | None:
    """The decimal digits of `data` (low byte first), most significant first; None if not BCD."""
    text = bytes(reversed(data)).hex()
    return text if text.isdigit() else None


def parse_address(text: str, digits: int, *, what: str = "meter address") -> bytes:
    """A meter address as printed on the nameplate ('000012345678', spaces or dashes allowed) ->
    its wire bytes, low byte first. Shorter numbers are padded with leading zeros, as meters do."""
    cleaned = text.replace(" ", "").replace("-", "").replace("_", "")
    if not cleaned.isdigit():
        raise ValueError(f"{what} {text!r}: write the {digits} digits printed on the nameplate "
                         f"(e.g. {'0' * (digits - 8)}12345678)")
    if len(cleaned) > digits:
        raise ValueError(f"{what} {text!r} has {len(cleaned)} digits; it has {digits}")
    cleaned = cleaned.zfill(digits)
    return bytes(int(cleaned[i : i + 2], 16) for i in range(digits - 2, -1, -2))


def format_address(wire: Sequence[int]) -> str:
    """Wire address bytes (low byte first) -> nameplate digits; bytes that are not BCD (AA
    wildcards) are written in hex."""
    return bytes(reversed(bytes(wire))).hex().upper()
