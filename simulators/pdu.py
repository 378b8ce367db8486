"""Modbus PDUs on the slave side: parse a request, build the answer, CRC-16/MODBUS.

Handled: FC3 (read holding registers), FC4 (read input registers), FC6 (write single register),
FC16 (write multiple registers). Any other function answers exception 1 (illegal function); a
request of the wrong length for its function answers exception 3 (illegal data value).
"""

from __future__ import annotations

import struct
from typing import Protocol

from drivers.errors import ModbusExceptionResponse

READ_FUNCTIONS = (3, 4)


class Device(Protocol):
    def read(self, function: int, address: int, count: int) -> list[int]: ...
    def write(self, address: int, values: list[int]) -> None: ...


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF); sent low byte first."""
    crc = 0xFFFF
    for b in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ b) & 0xFF]
    return crc


def rtu_frame(unit: int, pdu: bytes, *, corrupt: bool = False) -> bytes:
    """unit + PDU + CRC (low byte first); `corrupt` flips the CRC's bits."""
    body = bytes([unit]) + pdu
    crc = crc16(body) ^ (0xFFFF if corrupt else 0)
    return body + struct.pack("<H", crc)


def crc_ok(frame: bytes) -> bool:
    return len(frame) >= 4 and crc16(frame[:-2]) == struct.unpack("<H", frame[-2:])[0]


def exception_pdu(function: int, code: int) -> bytes:
    return bytes([(function & 0x7F) | 0x80, code])


def read_request(function: int, address: int, count: int) -> bytes:
    return struct.pack(">BHH", function, address, count)


def parse_read(pdu: bytes) -> tuple[int, int, int] | None:
    """(function, address, count) of a well-formed FC3/FC4 request, else None."""
    if len(pdu) == 5 and pdu[0] in READ_FUNCTIONS:
        return struct.unpack(">BHH", pdu)  # type: ignore[return-value]
    return None


def parse_read_response(pdu: bytes) -> list[int]:
    """Registers of an FC3/FC4 answer; ModbusExceptionResponse for an exception answer."""
    if pdu[0] & 0x80:
        raise ModbusExceptionResponse(pdu[1])
    n = pdu[1] // 2
    return list(struct.unpack(f">{n}H", pdu[2 : 2 + 2 * n]))


def handle(device: Device, pdu: bytes) -> bytes:
    """The device's answer PDU to a request PDU."""
    if not pdu:
        return exception_pdu(0, 1)
    fc = pdu[0]
    try:
        if fc in READ_FUNCTIONS:
            if len(pdu) != 5:
                raise ModbusExceptionResponse(3)
            _, address, count = struct.unpack(">BHH", pdu)
            regs = device.read(fc, address, count)
            return struct.pack(f">BB{len(regs)}H", fc, 2 * len(regs), *regs)
        if fc == 6:
            if len(pdu) != 5:
                raise ModbusExceptionResponse(3)
            _, address, value = struct.unpack(">BHH", pdu)
            device.write(address, [value])
            return pdu
        if fc == 16:
            if len(pdu) < 6:
                raise ModbusExceptionResponse(3)
            _, address, count, nbytes = struct.unpack(">BHHB", pdu[:6])
            if nbytes != 2 * count or len(pdu) != 6 + nbytes:
                raise ModbusExceptionResponse(3)
            values = list(struct.unpack(f">{count}H", pdu[6:]))
            device.write(address, values)
            return pdu[:5]
    except ModbusExceptionResponse as exc:
        return exception_pdu(fc, exc.code)
    return exception_pdu(fc, 1)


def request_length(buf: bytes | bytearray) -> int | None:
    """Length of the RTU request frame at the head of `buf` (unit, PDU, CRC), or None when the
    function code is unknown (the frame then ends at the next silence) or too few bytes say it."""
    if len(buf) < 2:
        return None
    fc = buf[1]
    if fc in (1, 2, 3, 4, 5, 6):
        return 8
    if fc in (15, 16):
        return 9 + buf[6] if len(buf) >= 7 else None
    return None
