"""Finding the frames in a run of received bytes, for both frame protocols (DL/T 645, CJ/T 188):
every complete valid frame in order, the number of complete frames with a bad checksum, and
everything else (FE preambles, noise, trailing garbage) skipped. Each protocol brings its start
byte and its decode_at."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar


class _Raw(Protocol):
    @property
    def raw(self) -> bytes: ...


F = TypeVar("F", bound=_Raw)


def frames_in(buf: bytes, start: int, decode_at: Callable[[bytes, int], F | None],
              bad_checksum: type[Exception]) -> tuple[list[F], int]:
    """decode_at(buf, i): the frame starting at i, None if none (yet) starts there, or raises
    `bad_checksum` for a complete frame whose checksum is wrong."""
    found: list[F] = []
    bad = 0
    i = 0
    while (i := buf.find(start, i)) >= 0:
        try:
            frame = decode_at(buf, i)
        except bad_checksum:
            bad += 1
            i += 1
            continue
        if frame is None:
            i += 1
            continue
        found.append(frame)
        i += len(frame.raw)
    return found, bad


__all__ = ["frames_in"]
