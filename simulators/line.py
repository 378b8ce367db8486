"""The simulated serial line: the settings a client set on the pty, whether a meter hears it, and
how long an answer takes on the wire.

Line settings: a meter answers only when the client's baud rate equals its own; at another speed a
real UART sees only framing errors, so the meter stays silent, and a scan across baud rates finds each
meter at its own speed. Two limits of Linux pseudo-terminals shape the rest:
- parity and data bits cannot be seen: the kernel forces 8 data bits and no parity on a pty (and
  pyserial, hence pymodbus, even fails to open one with parity E or O), so they are not compared;
  open a simulated pty with parity N whatever the meter's parity;
- stop bits can be seen but are not compared by default, because a UART checks only the first stop
  bit, so an 8N1 master and an 8N2 meter do understand each other (strict_stopbits=True compares).

Wire timing (drivers.wiretime): the answer is due when the request's wire time, a 3.5-character
gap, the device's turnaround, the answer's wire time and the closing gap have passed since the
request's first byte, so a master measuring round trips sees what the real line would give
(read_airtime for a read). A pty carries bytes instantly: the time the request's bytes actually took
to arrive is subtracted.
"""

from __future__ import annotations

import termios

from drivers.profiles import SerialSettings
from drivers.wiretime import bits_per_char, frame_gap, frame_time

_SPEEDS = {getattr(termios, f"B{b}"): b for b in (
    50, 75, 110, 134, 150, 200, 300, 600, 1200, 1800, 2400, 4800, 9600, 19200, 38400, 57600,
    115200, 230400, 460800, 500000, 576000, 921600, 1000000) if hasattr(termios, f"B{b}")}
_SIZES = {termios.CS5: 5, termios.CS6: 6, termios.CS7: 7, termios.CS8: 8}


def read_termios(fd: int) -> SerialSettings | None:
    """The settings a client put on the tty behind `fd`; None for a speed we cannot name. On a pty
    parity reads N and data bits 8 whatever the client asked for."""
    _iflag, _oflag, cflag, _lflag, ispeed, ospeed, _cc = termios.tcgetattr(fd)
    baud = _SPEEDS.get(ospeed) or _SPEEDS.get(ispeed)
    if baud is None:
        return None
    parity = "N"
    if cflag & termios.PARENB:
        parity = "O" if cflag & termios.PARODD else "E"
    stopbits = 2 if cflag & termios.CSTOPB else 1
    return SerialSettings(baud, parity, stopbits, _SIZES.get(cflag & termios.CSIZE, 8))


def hears(device: SerialSettings, client: SerialSettings | None, *,
          strict_stopbits: bool = False) -> bool:
    """True if a device at `device` settings understands a master whose pty shows `client`
    (baud rate, and stop bits if strict; parity and data bits do not survive on a pty)."""
    if client is None:
        return False
    return device.baud == client.baud and (not strict_stopbits
                                           or device.stopbits == client.stopbits)


def bits(line: SerialSettings) -> int:
    return bits_per_char(line.bytesize, line.parity, line.stopbits)


def answer_due(request_bytes: int, answer_bytes: int, line: SerialSettings,
               turnaround_s: float) -> float:
    """Seconds from the request's first byte until the master has the whole answer."""
    b = bits(line)
    return (frame_time(request_bytes + answer_bytes, line.baud, b)
            + 2 * frame_gap(line.baud, b) + turnaround_s)


def silence(line: SerialSettings) -> float:
    """The 3.5-character gap that ends a frame on this line."""
    return frame_gap(line.baud, bits(line))
