"""Modbus TCP slave (MBAP framing) for many unit ids on one port, on an asyncio loop.

Like a Modbus TCP gateway in front of a bus: a request for a unit id no meter has is answered with
exception 11 (gateway target device failed to respond) at once, so a scan moves on quickly; pass
unknown_unit="silent" to imitate a single device that ignores other ids instead.
Requests are answered in order of arrival; a late answer (fault) is sent on its own schedule and
does not hold back the answers to later requests. A damaged answer (bad_crc) is a frame whose MBAP
length is right but whose PDU is cut short, which a master must reject.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Callable, Mapping
from typing import Literal

from simulators.meter import SimulatedMeter
from simulators.pdu import exception_pdu
from simulators.responder import respond

UnknownUnit = Literal["exception", "silent"]
GATEWAY_TARGET_FAILED = 11


def mbap(transaction: int, unit: int, pdu: bytes) -> bytes:
    return struct.pack(">HHHB", transaction, 0, len(pdu) + 1, unit) + pdu


def garble(pdu: bytes) -> bytes:
    """A short, inconsistent answer: the byte count promises more data than follows."""
    if len(pdu) > 3:
        return pdu[:2] + pdu[2 : 2 + (len(pdu) - 2) // 2]
    return pdu[:1] + b"\xff"


class StreamServer:
    """A loopback TCP listener that tracks its connections so close() can end them; subclasses
    implement _session for their framing (MBAP here, RTU frames in rtu_server, DL/T 645 and
    CJ/T 188 frames in frame_bus), sending with `send`, which drops what a closing peer cannot take."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)

        def send(data: bytes) -> None:
            if not writer.is_closing():
                writer.write(data)

        try:
            await self._session(reader, send)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away: as a device, wait for the next one
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _session(self, reader: asyncio.StreamReader, send: Callable[[bytes], None]) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for w in list(self._writers):
                w.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)


class TcpServer(StreamServer):
    def __init__(self, meters: Mapping[int, SimulatedMeter], *, host: str = "127.0.0.1",
                 port: int = 0, unknown_unit: UnknownUnit = "exception") -> None:
        super().__init__(host, port)
        self.meters = meters
        self.unknown_unit = unknown_unit

    async def _session(self, reader: asyncio.StreamReader, send: Callable[[bytes], None]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            header = await reader.readexactly(7)
            tid, protocol, length, unit = struct.unpack(">HHHB", header)
            if length < 2 or length > 254:
                break  # not Modbus: a real device drops the connection
            body = await reader.readexactly(length - 1)
            if protocol != 0:
                continue
            answer = self._answer(unit, body)
            if answer is None:
                continue
            frame, delay = mbap(tid, unit, answer[0]), answer[1]
            if delay > 0:
                loop.call_later(delay, send, frame)
            else:
                send(frame)

    def _answer(self, unit: int, request: bytes) -> tuple[bytes, float] | None:
        reply = respond(self.meters, unit, request)
        if reply is None:
            if self.unknown_unit == "silent" or not request:
                return None
            return exception_pdu(request[0], GATEWAY_TARGET_FAILED), 0.0
        if reply.pdu is None:
            return None
        return (garble(reply.pdu) if reply.corrupt else reply.pdu), reply.delay
