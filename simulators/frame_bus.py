"""DL/T 645 and CJ/T 188 lines of simulated meters, on a pseudo-terminal or a raw TCP socket (a
transparent serial-to-Ethernet converter).

A FrameBus is one RS-485 line: it collects the bytes the master sends, takes each complete request
frame out of them (whatever noise or preamble surrounds it), lets every meter with the frame's
address answer, and sends each answer when the real line would deliver it (simulators.line:
request and answer wire time at the meter's line settings, its turnaround, a late fault's delay).
On a pty a meter answers only when the client's baud rate is its own (parity cannot be seen on a
pty, as for the Modbus simulators). Two meters answering one wildcard request collide.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from drivers.cjt188 import frame as cjt
from drivers.dlt645 import frame as dlt
from drivers.profiles import SerialSettings
from simulators import cjt188_responder, dlt645_responder
from simulators.di_meter import DiMeter, meters_by_address
from simulators.frame_reply import Answer, collide
from simulators.line import answer_due, hears, silence
from simulators.pty_port import PtyLineServer
from simulators.tcp_server import StreamServer

Send = Callable[[bytes], None]
MAX_BUFFER = 1024
_PROTOCOLS: dict[str, tuple[Callable[[bytes], Any], Callable[..., list[Answer]]]] = {
    "dlt645": (dlt.frames_in, dlt645_responder.respond),
    "cjt188": (cjt.frames_in, cjt188_responder.respond),
}


class FrameBus:
    def __init__(self, protocol: str, meters: Iterable[DiMeter], *, wire_timing: bool = True,
                 strict_stopbits: bool = False) -> None:
        if protocol not in _PROTOCOLS:
            raise ValueError(f"protocol {protocol!r}: use dlt645 or cjt188")
        self.protocol = protocol
        self.meters = meters_by_address(list(meters))
        for m in self.meters.values():
            if m.variant.protocol != protocol:
                raise ValueError(f"{m!r} speaks {m.variant.protocol}, this line {protocol}")
        self.wire_timing = wire_timing
        self.strict_stopbits = strict_stopbits
        self._scan, self._respond = _PROTOCOLS[protocol]
        self._buffer = bytearray()
        self._first_at = 0.0

    def default_line(self) -> SerialSettings:
        lines = [m.line for m in self.meters.values()]
        return max(lines, key=lines.count) if lines else SerialSettings(2400, "E")

    def feed(self, data: bytes, now: float, send: Send, client: SerialSettings | None,
             check_line: bool) -> None:
        """Bytes from the master; answers every complete request frame among them."""
        if not self._buffer:
            self._first_at = now
        self._buffer += data
        frames, _bad = self._scan(bytes(self._buffer))
        if frames:
            last = frames[-1].raw
            end = bytes(self._buffer).rfind(last) + len(last)
            del self._buffer[:end]
            first_at, self._first_at = self._first_at, now
            for frame in frames:
                self._answer(frame, first_at, send, client, check_line)
        if len(self._buffer) > MAX_BUFFER:
            del self._buffer[:-MAX_BUFFER]

    def _answer(self, frame: Any, first_at: float, send: Send, client: SerialSettings | None,
                check_line: bool) -> None:
        answers = [a for a in self._respond(self.meters, frame)
                   if not check_line or hears(a.meter.line, client,
                                              strict_stopbits=self.strict_stopbits)]
        if not answers:
            return
        loop = asyncio.get_running_loop()
        data = collide([a.wire() for a in answers])
        meter = answers[0].meter
        due = loop.time()
        if self.wire_timing:
            due = first_at + answer_due(len(frame.raw) + 4, len(data), meter.line,
                                        meter.turnaround_s)
        due += max(a.delay for a in answers)
        if due <= loop.time():
            send(data)
        else:
            loop.call_at(due, send, data)

    def gap(self, client: SerialSettings | None) -> float:
        return silence(client) if client is not None else 0.02


class FramePtyServer(PtyLineServer):
    """Serves a FrameBus on a new pseudo-terminal; `path` is what a client opens."""

    def __init__(self, bus: FrameBus, *, link: str | None = None, line: SerialSettings | None = None,
                 check_line: bool = True) -> None:
        super().__init__(bus, link=link, line=line, check_line=check_line)
        self.bus = bus

    def _received(self, data: bytes) -> None:
        if not data:
            return
        loop = asyncio.get_running_loop()
        self.bus.feed(data, loop.time(), self.port.write, self.port.client_line(), self.check_line)


class FrameTcpServer(StreamServer):
    """The line behind a transparent serial-to-Ethernet converter: raw bytes over TCP."""

    def __init__(self, bus: FrameBus, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.bus = bus

    async def _session(self, reader: asyncio.StreamReader, send: Callable[[bytes], None]) -> None:
        loop = asyncio.get_running_loop()
        while data := await reader.read(4096):
            self.bus.feed(data, loop.time(), send, None, check_line=False)
