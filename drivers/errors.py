"""The drivers' own exceptions. Nothing outside drivers/ sees a pymodbus or pyserial exception."""

from __future__ import annotations

from typing import ClassVar

from core.errors import MetergateError


class ProfileError(MetergateError):
    """A profile file is malformed; `problems` lists every one found, each naming file and key."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{path}: {len(problems)} problem(s) in profile\n{lines}")


class ProfileNotFound(MetergateError):
    pass


class ModbusError(MetergateError):
    """A Modbus request failed."""

    quality = "comm_error"
    reason = "error"  # the Prometheus failure label

    @property
    def kind(self) -> str:
        """What went wrong, in one word a technician reads (`watch`, health `last_error_kind`):
        timeout, crc_error (RTU), bad_frame (Modbus TCP), exception_N, refused, reset, ..."""
        return self.reason


class ModbusTimeout(ModbusError, TimeoutError):
    """No answer within the timeout."""

    reason = "timeout"


class ModbusFrameError(ModbusError):
    """Bytes arrived but no valid frame did. On RTU (a serial line, or RTU frames over TCP) that is
    a CRC error or noise: reason `crc_error`. Modbus TCP has no CRC (TCP checks the bytes), so
    there it is a garbled or short answer: reason `bad_frame`."""

    reason = "crc_error"

    def __init__(self, message: str, data: bytes = b"", *, reason: str = "crc_error") -> None:
        super().__init__(message)
        self.reason = reason
        self.data = data  # the bytes that arrived, when known (a late frame starts with its unit id)


class ModbusExceptionResponse(ModbusError):
    """The device answered with a Modbus exception code."""

    reason = "exception"
    NAMES: ClassVar[dict[int, str]] = {
        1: "illegal function",
        2: "illegal data address",
        3: "illegal data value",
        4: "server device failure",
        5: "acknowledge",
        6: "server device busy",
        10: "gateway path unavailable",
        11: "gateway target device failed to respond",
    }

    def __init__(self, code: int, message: str = "") -> None:
        self.code = code
        name = self.NAMES.get(code, "unknown exception")
        super().__init__(message or f"Modbus exception {code} ({name})")

    @property
    def name(self) -> str:
        return self.NAMES.get(self.code, "unknown exception")

    @property
    def kind(self) -> str:
        return f"exception_{self.code}"


class ConnectError(ModbusError):
    """The transport cannot be opened or broke (port missing or busy, host unreachable, connection
    refused or reset). `reason` stays `connect_error` (the metric label); `kind` says which."""

    reason = "connect_error"
    KINDS: ClassVar[tuple[str, ...]] = (
        "refused", "reset", "closed", "unreachable", "connect_timeout", "port_missing",
        "port_busy", "permission", "connect_error")

    def __init__(self, message: str, *, kind: str = "connect_error") -> None:
        super().__init__(message)
        self._kind = kind if kind in self.KINDS else "connect_error"

    @property
    def kind(self) -> str:
        return self._kind


class ErrorReply(ModbusExceptionResponse):
    """A DL/T 645 or CJ/T 188 meter answered with its error reply (DL/T 645 control 0xD1, CJ/T 188
    0xC1). It is an answer (the meter is there), counted like a Modbus exception; `code` is 0 (no
    Modbus code), `error_byte` the meter's own, `no_data` whether it says it has no such item."""

    def __init__(self, protocol: str, error_byte: int, meaning: str, *, no_data: bool,
                 message: str = "") -> None:
        self.protocol = protocol
        self.error_byte = error_byte
        self.meaning = meaning
        self.no_data = no_data
        super().__init__(0, message or f"{protocol} error reply 0x{error_byte:02X} ({meaning})")

    @property
    def name(self) -> str:
        return self.meaning

    @property
    def kind(self) -> str:
        return "no_data" if self.no_data else "error_reply"
