"""Line time of DL/T 645 and CJ/T 188 requests: every data identifier is one request and one answer,
each with a preamble and about a dozen bytes of framing around a few bytes of value, then the
meter's turnaround. Characters are start + 8 data + parity + stop bits (11 at the common 8E1).

At 2400 8E1 one character takes 4.58 ms: a DL/T 645 read request (4 FE + 16 bytes) 92 ms, the answer
to a 2-byte voltage (4 FE + 18 bytes) 101 ms.
"""

from __future__ import annotations

from drivers.cjt188 import frame as cjt
from drivers.dlt645 import frame as dlt
from drivers.wiretime import char_time

GAP_CHARS = 3.5  # the idle the master leaves after an answer before the next request


def request_bytes(protocol: str) -> int:
    return dlt.request_bytes() if protocol == "dlt645" else cjt.request_bytes()


def answer_bytes(protocol: str, value_bytes: int, preamble: int) -> int:
    if protocol == "dlt645":
        return dlt.reply_bytes(value_bytes, preamble)
    return cjt.reply_bytes(value_bytes, preamble)


def di_airtime(protocol: str, value_bytes: int, baud: int, bits: int = 11, *,
               turnaround_s: float = 0.0, preamble: int = 4) -> float:
    """Seconds one read of a data identifier holds the line: request, turnaround, answer, gap."""
    chars = request_bytes(protocol) + answer_bytes(protocol, value_bytes, preamble) + GAP_CHARS
    return chars * char_time(baud, bits) + turnaround_s
