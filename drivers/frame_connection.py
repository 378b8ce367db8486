"""What the DL/T 645 and CJ/T 188 masters share: a ByteLine, its lifecycle, one request/answer
exchange matched by the protocol's frame scanner. Subclasses add the protocol's reads."""

from __future__ import annotations

from typing import Any, ClassVar, Self

from drivers.byte_line import ByteLine, LineEndpoint
from drivers.errors import ErrorReply
from drivers.reply_match import Expect, FrameLike, ReplyMatcher


class FrameConnection:
    protocol: ClassVar[str]  # "dlt645" | "cjt188"

    def __init__(self, endpoint: LineEndpoint, *, timeout: float = 1.0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.line = ByteLine(endpoint, timeout=timeout)

    def open(self) -> None:
        self.line.open()

    def close(self) -> None:
        self.line.close()

    def interrupt(self) -> None:
        self.line.interrupt()

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read_di(self, address: str, di: int, meter_type: int | None = None,
                high_first: bool = False) -> bytes:
        raise NotImplementedError

    def read_address(self, meter_type: int | None = None) -> str:
        raise NotImplementedError

    # -- for subclasses ----------------------------------------------------------------------------

    def scan(self, buf: bytes) -> tuple[list[FrameLike], int]:
        raise NotImplementedError

    def error_of(self, frame: FrameLike) -> ErrorReply:
        raise NotImplementedError

    def ask(self, request: bytes, expect: Expect) -> Any:
        """The frame answering `request` (the subclass's Frame type)."""
        return self.line.exchange(request, ReplyMatcher(expect, self.scan, self.error_of))
