"""Slave-side PDUs, CRC-16/MODBUS and RTU request framing."""

from __future__ import annotations

import pytest

from drivers.errors import ModbusExceptionResponse
from simulators.pdu import (
    crc16,
    crc_ok,
    exception_pdu,
    handle,
    parse_read_response,
    read_request,
    request_length,
    rtu_frame,
)
from simulators.rtu_framer import RtuFramer


class Device:
    """16 registers holding their own address; writes recorded."""

    def __init__(self, writable: bool = True) -> None:
        self.writes: list[tuple[int, list[int]]] = []
        self.writable = writable

    def read(self, function: int, address: int, count: int) -> list[int]:
        if count > 125:
            raise ModbusExceptionResponse(3)
        if address + count > 16:
            raise ModbusExceptionResponse(2)
        return list(range(address, address + count))

    def write(self, address: int, values: list[int]) -> None:
        if not self.writable:
            raise ModbusExceptionResponse(1)
        self.writes.append((address, values))


@pytest.mark.parametrize(
    ("frame", "crc"),
    [
        (bytes.fromhex("010300000001"), 0x0A84),  # sent as 84 0A
        (bytes.fromhex("01030000000A"), 0xCDC5),  # the classic example: C5 CD on the wire
        (b"123456789", 0x4B37),  # the CRC catalogue's check value for CRC-16/MODBUS
    ],
)
def test_crc16_known_values(frame: bytes, crc: int) -> None:
    assert crc16(frame) == crc


def test_rtu_frame_appends_crc_low_byte_first_and_can_corrupt_it() -> None:
    frame = rtu_frame(1, bytes.fromhex("030000000A"))
    assert frame.hex() == "01030000000ac5cd"
    assert crc_ok(frame)
    bad = rtu_frame(1, bytes.fromhex("030000000A"), corrupt=True)
    assert bad[:-2] == frame[:-2] and not crc_ok(bad)


def test_reads_answer_registers_for_fc3_and_fc4() -> None:
    for fc in (3, 4):
        answer = handle(Device(), read_request(fc, 2, 3))
        assert answer == bytes([fc, 6, 0, 2, 0, 3, 0, 4])
        assert parse_read_response(answer) == [2, 3, 4]


@pytest.mark.parametrize(
    ("request_pdu", "expected"),
    [
        (read_request(3, 15, 2), exception_pdu(3, 2)),  # past the device's registers
        (read_request(4, 0, 126), exception_pdu(4, 3)),  # more than 125
        (bytes([3, 0, 0]), exception_pdu(3, 3)),  # truncated request
        (bytes([0x2B, 0x0E, 1, 0]), exception_pdu(0x2B, 1)),  # device identification: unsupported
        (bytes([5, 0, 1, 0xFF, 0]), exception_pdu(5, 1)),  # coils: a meter has none
    ],
)
def test_errors_answer_exceptions(request_pdu: bytes, expected: bytes) -> None:
    assert handle(Device(), request_pdu) == expected


def test_exception_answer_raises_for_the_caller() -> None:
    with pytest.raises(ModbusExceptionResponse) as info:
        parse_read_response(exception_pdu(3, 2))
    assert info.value.code == 2


def test_writes_echo_or_refuse() -> None:
    dev = Device()
    assert handle(dev, bytes.fromhex("0600060064")) == bytes.fromhex("0600060064")
    assert handle(dev, bytes.fromhex("100006000204000a0014")) == bytes.fromhex("1000060002")
    assert dev.writes == [(6, [100]), (6, [10, 20])]
    assert handle(dev, bytes.fromhex("100006000205000a0014")) == exception_pdu(16, 3)
    assert handle(Device(writable=False), bytes.fromhex("0600060064")) == exception_pdu(6, 1)


def test_request_length_by_function_code() -> None:
    assert request_length(bytes([1, 3])) == 8
    assert request_length(bytes([1, 16, 0, 0, 0, 2])) is None  # byte count not there yet
    assert request_length(bytes([1, 16, 0, 0, 0, 2, 4])) == 13
    assert request_length(bytes([1, 0x2B])) is None


GAP = 0.004


def test_framer_joins_bytes_that_arrive_in_pieces() -> None:
    frame = rtu_frame(7, read_request(3, 0x2000, 2))
    framer = RtuFramer(GAP)
    assert framer.feed(frame[:3], 1.0) == []
    (got,) = framer.feed(frame[3:], 1.001)
    assert got.data == frame and got.unit == 7 and got.first_at == 1.0 and got.last_at == 1.001


def test_framer_drops_a_bad_crc_frame_and_garbage_until_silence() -> None:
    good = rtu_frame(1, read_request(3, 0, 1))
    framer = RtuFramer(GAP)
    assert framer.feed(rtu_frame(1, read_request(3, 0, 1), corrupt=True), 1.0) == []
    assert framer.feed(good, 1.001) == []  # no silence since the bad frame: still discarding
    assert [f.data for f in framer.feed(good, 1.010)] == [good]  # after a silence: heard


def test_framer_ends_unknown_function_at_silence() -> None:
    odd = rtu_frame(1, bytes([0x2B, 0x0E, 1, 0]))
    framer = RtuFramer(GAP)
    assert framer.feed(odd, 1.0) == []
    assert framer.expire(1.001) == []
    (got,) = framer.expire(1.0 + 2 * GAP)
    assert got.pdu == bytes([0x2B, 0x0E, 1, 0])
    framer.feed(b"\x01\x2b\x00", 2.0)  # garbage with a wrong CRC
    assert framer.expire(2.1) == [] and not framer.pending


def test_framer_reads_back_to_back_frames() -> None:
    a, b = rtu_frame(1, read_request(3, 0, 1)), rtu_frame(2, read_request(4, 5, 2))
    assert [f.unit for f in RtuFramer(GAP).feed(a + b, 1.0)] == [1, 2]
