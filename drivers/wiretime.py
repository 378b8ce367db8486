"""Modbus RTU wire timing: how long requests occupy an RS-485 line.

One character is start + data + parity + stop bits (11 bits for the spec's 8E1 or 8N2, 10 for the
common 8N1). Frames are separated by at least 3.5 character times, fixed at 1.75 ms above 19200 baud
(Modbus over serial line v1.02, 2.5.1.1). A read of N registers is an 8-byte request and a
(5 + 2N)-byte response.
"""

from __future__ import annotations

READ_REQUEST_BYTES = 8


def bits_per_char(bytesize: int = 8, parity: str = "N", stopbits: int = 1) -> int:
    return 1 + bytesize + (0 if parity.upper() == "N" else 1) + stopbits


def char_time(baud: int, bits: int = 11) -> float:
    """Seconds to send one character."""
    return bits / baud


def frame_gap(baud: int, bits: int = 11) -> float:
    """The silent interval (3.5 characters) that ends a frame."""
    return 0.00175 if baud > 19200 else 3.5 * char_time(baud, bits)


def read_response_bytes(count: int) -> int:
    """unit + function + byte count + 2*count data + CRC(2)."""
    return 5 + 2 * count


def frame_time(nbytes: int, baud: int, bits: int = 11) -> float:
    return nbytes * char_time(baud, bits)


def read_airtime(count: int, baud: int, bits: int = 11, turnaround_s: float = 0.0) -> float:
    """Line time of one read of `count` registers: request, gap, turnaround, response, gap."""
    return (
        frame_time(READ_REQUEST_BYTES + read_response_bytes(count), baud, bits)
        + 2 * frame_gap(baud, bits)
        + turnaround_s
    )
