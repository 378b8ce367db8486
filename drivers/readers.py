"""One way to make the reader of a meter, whatever its protocol: a Modbus MeterReader for a unit id,
a DiReader for a DL/T 645 / CJ/T 188 address. The scheduler and the tools only call read()."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from drivers.di_profiles import DiVariant
from drivers.di_reader import DiReader
from drivers.profiles import MeterVariant
from drivers.reader import MeterReader, Reading, ReadStats

AnyVariant = MeterVariant | DiVariant


class PollReader(Protocol):
    ratios: dict[str, float]
    stats: ReadStats

    def read(self) -> list[Reading]: ...


def protocol_of(variant: AnyVariant) -> str:
    return variant.protocol if isinstance(variant, DiVariant) else "modbus"


def make_reader(source: Any, variant: AnyVariant, *, unit: int = 0, address: str | None = None,
                ratios: Mapping[str, float] | None = None, quantities: Iterable[str] | None = None,
                clock: Callable[[], float] = time.time, keep_raw: bool = True) -> PollReader:
    """`source` reads registers (Modbus) or data identifiers (DL/T 645, CJ/T 188)."""
    if isinstance(variant, DiVariant):
        if address is None:
            raise ValueError(f"{variant.key} is a {variant.protocol} profile: give the meter address")
        return DiReader(source, variant, address, ratios=ratios, quantities=quantities,
                        clock=clock, keep_raw=keep_raw)
    return MeterReader(source, variant, unit, ratios=ratios, quantities=quantities, clock=clock,
                       keep_raw=keep_raw)
