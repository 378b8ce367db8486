"""Value formats of the frame protocols, compiled once per point: "XXXXXX.XX" (packed BCD, the
digits and decimal point as the standards write them, optionally signed in the top bit), with or
without a CJ/T 188 unit code byte after the value, and "bits" (a little-endian bit field of a
status word). decode() returns the value in the unit the profile names, or None with the reason:
a byte that is not BCD (FF/EE from a meter without the value), an unknown unit code, a short answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from drivers.bcd import decode_bcd, encode_bcd
from drivers.cjt188.units import CODE_OF, UNITS

_BCD = re.compile(r"(X+)(?:\.(X+))?")


@dataclass(frozen=True, slots=True)
class DiFormat:
    text: str
    nbytes: int  # bytes of the value itself
    decimals: int = 0
    signed: bool = False
    unit_code: bool = False  # a CJ/T 188 unit code byte follows the value
    unit_first: bool = False  # ... or comes before it (some heat meters, e.g. the JY frames)
    bits: tuple[int, int] | None = None  # "bits": (first, length)

    @property
    def width(self) -> int:
        return self.nbytes + (1 if self.unit_code else 0)

    def decode(self, data: bytes) -> tuple[float | None, str, str | None]:
        """(value, why it is None, the unit named by the unit code if any)."""
        if len(data) < self.width:
            return None, (f"the answer has {len(data)} byte(s) here, the format {self.text} "
                          f"needs {self.width}"), None
        start = 1 if self.unit_code and self.unit_first else 0
        raw = data[start : start + self.nbytes]
        if self.bits is not None:
            word = int.from_bytes(raw, "little")
            first, length = self.bits
            return float((word >> first) & ((1 << length) - 1)), "", None
        value = decode_bcd(raw, self.decimals, signed=self.signed)
        if value is None:
            return None, f"not a BCD number: {raw[::-1].hex(' ').upper()} (the meter has no value)", None
        if not self.unit_code:
            return value, "", None
        code = data[0] if self.unit_first else data[self.nbytes]
        unit = UNITS.get(code)
        if unit is None:
            return None, f"unknown CJ/T 188 unit code 0x{code:02X}", None
        return value, "", unit[0]

    def encode(self, value: float, unit_name: str | None = None) -> bytes:
        """The bytes a meter sends for `value` (simulators)."""
        if self.bits is not None:
            first, _length = self.bits
            return (int(value) << first).to_bytes(self.nbytes, "little")
        data = encode_bcd(value, self.nbytes, self.decimals, signed=self.signed)
        if not self.unit_code:
            return data
        code = bytes([CODE_OF[unit_name or ""]])
        return code + data if self.unit_first else data + code


def parse_format(text: str, *, signed: bool = False, unit_code: bool = False,
                 unit_first: bool = False, nbytes: int | None = None,
                 bits: tuple[int, int] | None = None) -> DiFormat:
    """ValueError naming what is wrong and the forms that are accepted."""
    if text == "bits":
        if bits is None or nbytes is None:
            raise ValueError('"bits" needs bytes = N and bits = [first, length]')
        if bits[0] < 0 or bits[1] < 1 or bits[0] + bits[1] > 8 * nbytes:
            raise ValueError(f"bits = [{bits[0]}, {bits[1]}] do not fit in {nbytes} byte(s)")
        if signed or unit_code:
            raise ValueError('"bits" is unsigned and has no unit code')
        return DiFormat(text, nbytes, bits=bits)
    m = _BCD.fullmatch(text)
    if m is None:
        raise ValueError(f"{text!r} is not a format: write the digits as the standard does "
                         '(XXXXXX.XX, XXX.X, XXX.XXX) or "bits"')
    digits = len(m.group(1)) + len(m.group(2) or "")
    if digits % 2:
        raise ValueError(f"{text!r} has {digits} digits; BCD packs two per byte (an even count)")
    return DiFormat(text, digits // 2, len(m.group(2) or ""), signed, unit_code,
                    unit_first and unit_code)
