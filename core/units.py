"""Durations ("500ms", "15s", "1m", "1h") and sizes ("2GiB", "500MB", 1048576) written in a site config.

Pure parsing: each function returns the value or raises ValueError with a message that says what to
write instead.
"""

from __future__ import annotations

import re

DAY_MS = 86_400_000
MIN_POLL_MS = 100  # below this a Modbus request cannot even complete on a fast TCP link

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_DURATION_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": DAY_MS}

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKMGT]i?B|B)?\s*$")
_SIZE_FACTORS = {
    "B": 1, "kB": 10**3, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
    "KiB": 2**10, "kiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40,
}

# intervals a technician would pick, offered when a written one cannot stay aligned to the clock
COMMON_INTERVALS_MS = (
    500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000,
    1_800_000, 3_600_000, 7_200_000, 21_600_000, 43_200_000, DAY_MS,
)


def parse_duration_ms(text: object) -> int:
    """'500ms', '1.5s', '15s', '1m', '15m', '1h', '1d' -> whole milliseconds (> 0)."""
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a duration; write a string such as \"15s\", \"1m\" or \"500ms\"")
    m = _DURATION.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a duration; write a number and one of ms, s, m, h, d "
                         "(e.g. \"500ms\", \"15s\", \"1m\", \"1h\")")
    ms = float(m.group(1)) * _DURATION_MS[m.group(2)]
    if ms != int(ms) or ms <= 0:
        raise ValueError(f"{text!r} is not a whole, positive number of milliseconds")
    return int(ms)


def parse_poll_interval(text: object) -> float:
    """A poll interval in seconds. Deadlines are aligned to wall-clock boundaries (a "15m" group runs
    at :00, :15, :30, :45), which only works when the interval divides a day evenly or is a whole
    number of days."""
    ms = parse_duration_ms(text)
    if ms < MIN_POLL_MS:
        raise ValueError(f"{text!r} is shorter than {MIN_POLL_MS} ms; a Modbus request cannot be "
                         "repeated that fast: use \"500ms\" or longer")
    if DAY_MS % ms and ms % DAY_MS:
        lower = max((c for c in COMMON_INTERVALS_MS if c < ms), default=None)
        higher = min((c for c in COMMON_INTERVALS_MS if c > ms), default=None)
        near = " or ".join(f'"{format_duration(c / 1000)}"' for c in (lower, higher) if c)
        raise ValueError(f"{text!r} does not divide a day evenly, so its polls cannot stay aligned "
                         f"to wall-clock boundaries; use an interval that divides 24 h (e.g. {near}) "
                         "or a whole number of days")
    return ms / 1000


def format_duration(seconds: float) -> str:
    """The shortest exact spelling: 0.5 -> '500ms', 60 -> '1m', 5400 -> '90m'."""
    ms = round(seconds * 1000)
    for unit in ("d", "h", "m", "s"):
        if ms % _DURATION_MS[unit] == 0:
            return f"{ms // _DURATION_MS[unit]}{unit}"
    return f"{ms}ms"


def parse_size(value: object) -> int:
    """2147483648, "2GiB", "500MB", "512 KiB" -> bytes. Decimal (kB, MB, GB) and binary (KiB, MiB,
    GiB) prefixes mean what they say."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError(f"{value} is not a positive number of bytes")
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a size; write bytes as an integer or a string such as "
                         "\"2GiB\" or \"500MB\"")
    m = _SIZE.match(value)
    if m is None or (m.group(2) or "B") not in _SIZE_FACTORS:
        raise ValueError(f"{value!r} is not a size; write e.g. \"2GiB\", \"500MB\" or a number of "
                         "bytes (units: B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)")
    size = int(float(m.group(1)) * _SIZE_FACTORS[m.group(2) or "B"])
    if size <= 0:
        raise ValueError(f"{value!r} is not a positive size")
    return size


def format_size(nbytes: int) -> str:
    for unit, factor in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= factor:
            return f"{nbytes / factor:.4g} {unit}"
    return f"{nbytes} B"
