"""The requests one poll of DL/T 645 / CJ/T 188 points takes: one per data identifier (a block
identifier such as CJ/T 188 901F or DL/T 645 0201FF00 carries several points in one answer),
ordered by identifier so every poll of a group asks in the same order. A pure function; the
airtime of each request follows from the bytes its answer carries (drivers.di_wiretime)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from drivers.di_profiles import DiPoint


@dataclass(frozen=True, slots=True)
class DiRequest:
    di: int
    points: tuple[DiPoint, ...]

    @property
    def answer_bytes(self) -> int:
        """Bytes the answer carries after the identifier (the widest point's end)."""
        return max(p.offset + p.fmt.width for p in self.points)


def plan_requests(points: Iterable[DiPoint]) -> list[DiRequest]:
    by_di: dict[int, list[DiPoint]] = {}
    for p in points:
        by_di.setdefault(p.di, []).append(p)
    return [DiRequest(di, tuple(sorted(ps, key=lambda p: p.offset)))
            for di, ps in sorted(by_di.items())]


def describe(requests: list[DiRequest]) -> str:
    points = sum(len(r.points) for r in requests)
    return f"{len(requests)} request(s) for {points} point(s)"
