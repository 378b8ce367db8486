"""Modbus RTU slaves: on a pseudo-terminal (a serial port a client opens like /dev/ttyUSB0) and over
a TCP socket (a serial-to-Ethernet converter), both on an asyncio loop.

One RtuBus is one RS-485 line: every meter on it sees every frame, only the addressed one answers,
broadcasts (unit 0) are executed silently, unknown unit ids get silence. Answers are timed as the
real line would deliver them (simulators.line); on a pty a meter answers only when the client's
termios settings match its own line settings.
The pty itself: simulators.pty_port.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from drivers.profiles import SerialSettings
from simulators.line import answer_due, hears, silence
from simulators.meter import SimulatedMeter
from simulators.pdu import rtu_frame
from simulators.pty_port import PtyLineServer
from simulators.responder import respond
from simulators.rtu_framer import Frame, RtuFramer
from simulators.tcp_server import StreamServer

Send = Callable[[bytes], None]


class RtuBus:
    """The meters of one RS-485 line and how they answer a frame."""

    def __init__(self, meters: Mapping[int, SimulatedMeter], *, wire_timing: bool = True,
                 strict_stopbits: bool = False) -> None:
        self.meters = meters
        self.wire_timing = wire_timing
        self.strict_stopbits = strict_stopbits

    def default_line(self) -> SerialSettings:
        """The line settings most meters on the bus use (what the pty starts with)."""
        lines = [m.line for m in self.meters.values()]
        if not lines:
            return SerialSettings()
        return max(lines, key=lines.count)

    def gap(self, client: SerialSettings | None) -> float:
        """The frame-ending silence for the framer: the client's line, else the slowest meter's."""
        if client is not None:
            return silence(client)
        return max((silence(m.line) for m in self.meters.values()), default=0.004)

    def handle(self, frame: Frame, send: Send, client: SerialSettings | None,
               check_line: bool) -> None:
        """Schedule the answer to `frame` (if any) on the running loop."""
        loop = asyncio.get_running_loop()
        if frame.unit == 0:  # broadcast: writes are executed, nobody answers
            if frame.pdu[:1] in (b"\x06", b"\x10"):
                for unit in self.meters:
                    respond(self.meters, unit, frame.pdu)
            return
        meter = self.meters.get(frame.unit)
        if meter is None:
            return
        if check_line and not hears(meter.line, client, strict_stopbits=self.strict_stopbits):
            return  # framing/parity errors at the meter: it never saw a request
        reply = respond(self.meters, frame.unit, frame.pdu)
        if reply is None or reply.pdu is None:
            return
        data = rtu_frame(frame.unit, reply.pdu, corrupt=reply.corrupt)
        due = frame.last_at
        if self.wire_timing:
            due = frame.first_at + answer_due(len(frame.data), len(data), meter.line,
                                              meter.turnaround_s)
        due += reply.delay
        if due <= loop.time():
            send(data)
        else:
            loop.call_at(due, send, data)


class PtyServer(PtyLineServer):
    """Serves an RtuBus on a PtyPort from the asyncio loop."""

    def __init__(self, bus: RtuBus, *, link: str | None = None, line: SerialSettings | None = None,
                 check_line: bool = True) -> None:
        super().__init__(bus, link=link, line=line, check_line=check_line)
        self.bus = bus
        self._framer = RtuFramer(bus.gap(None))
        self._expiry: asyncio.TimerHandle | None = None

    def _received(self, data: bytes) -> None:
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        client = self.port.client_line()
        self._framer.gap_s = self.bus.gap(client)
        for frame in self._framer.feed(data, loop.time()):
            self.bus.handle(frame, self.port.write, client, self.check_line)
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if self._framer.pending:  # end the frame at the next silence
            self._expiry = loop.call_later(self._framer.gap_s * 1.1, self._feed, b"")


class RtuOverTcpServer(StreamServer):
    """RTU frames over TCP, as behind a serial-to-Ethernet converter (no line-settings check: the
    converter's serial side is configured on the converter)."""

    def __init__(self, bus: RtuBus, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.bus = bus

    async def _session(self, reader: asyncio.StreamReader, send: Callable[[bytes], None]) -> None:
        loop = asyncio.get_running_loop()
        framer = RtuFramer(self.bus.gap(None))
        while True:
            try:
                timeout = framer.gap_s * 1.1 if framer.pending else None
                data = await asyncio.wait_for(reader.read(4096), timeout)
            except TimeoutError:
                data = None  # silence: ends whatever is buffered
            if data == b"":
                break
            for frame in framer.feed(data or b"", loop.time()):
                self.bus.handle(frame, send, None, check_line=False)

