"""Request planner: the points due together -> the fewest register reads a device accepts.

A pure function of the spans (function code, wire address, register count), the device's limit on
registers per request, the largest gap worth reading across, and the ranges the device refuses.
Greedy left-to-right merging is optimal here: blocks are contiguous runs of sorted spans, and taking
each block as long as the limits allow never forces an extra block later.

When a device answers "illegal data address" for a block anyway, ReadPlan splits it in two at a span
boundary and keeps the split for every later poll; a single span that is refused is dropped and
reported, so one missing register never costs the rest of the meter.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from drivers.profiles import DeviceLimits, Unreadable

Span = tuple[int, int, int]  # (function code, wire address, register count)


@dataclass(frozen=True, slots=True)
class Block:
    """One read request: `count` registers from `address` with `function`, covering `spans`."""

    function: int
    address: int
    count: int
    spans: tuple[Span, ...]

    @property
    def end(self) -> int:
        """One past the last register."""
        return self.address + self.count


def plan_blocks(
    spans: Iterable[Span],
    *,
    max_registers: int = 125,
    max_gap: int = 10,
    unreadable: Sequence[Unreadable] = (),
) -> list[Block]:
    """Cover every span with the fewest blocks of at most `max_registers` registers.

    Two neighbouring spans share a block when the registers between them number at most `max_gap`
    and none of them lies in an `unreadable` range. Holding (3) and input (4) registers never mix.
    """
    unique = sorted(set(spans))
    for _, addr, count in unique:
        if count > max_registers:
            raise ValueError(f"a {count}-register value at {addr} exceeds the device's limit of "
                             f"{max_registers} registers per request")
    blocks: list[Block] = []
    current: list[Span] = []
    start = end = 0
    for span in unique:
        _, addr, count = span
        if current and _fits(current[0][0], start, end, span, max_registers, max_gap, unreadable):
            current.append(span)
            end = max(end, addr + count)
            continue
        if current:
            blocks.append(Block(current[0][0], start, end - start, tuple(current)))
        current, start, end = [span], addr, addr + count
    if current:
        blocks.append(Block(current[0][0], start, end - start, tuple(current)))
    return blocks


def _fits(
    function: int, start: int, end: int, span: Span, max_registers: int, max_gap: int,
    unreadable: Sequence[Unreadable],
) -> bool:
    fc, addr, count = span
    if fc != function:
        return False
    new_end = max(end, addr + count)
    if new_end - start > max_registers:
        return False
    gap = addr - end
    if gap > max_gap:
        return False
    # the registers read only to bridge the gap must all be readable
    return gap <= 0 or not any(u.blocks(function, end, addr - 1) for u in unreadable)


class ReadPlan:
    """The blocks to read for one device, learning from "illegal data address" answers."""

    def __init__(self, spans: Iterable[Span], limits: DeviceLimits) -> None:
        self.limits = limits
        self.blocks: list[Block] = plan_blocks(
            spans, max_registers=limits.max_registers, max_gap=limits.max_gap,
            unreadable=limits.unreadable,
        )
        self.refused: set[Span] = set()  # single spans the device answered with exception 2

    @property
    def request_count(self) -> int:
        return len(self.blocks)

    def split(self, block: Block) -> list[Block]:
        """Replace a refused block by two halves (or drop a refused single span); return the new
        blocks so the caller can read them right away. The plan keeps the change."""
        try:
            index = self.blocks.index(block)
        except ValueError:
            return []
        if len(block.spans) == 1:
            self.refused.add(block.spans[0])
            del self.blocks[index]
            return []
        half = len(block.spans) // 2
        halves = [_block_of(block.spans[:half]), _block_of(block.spans[half:])]
        self.blocks[index : index + 1] = halves
        return halves

    def describe(self) -> str:
        regs = sum(b.count for b in self.blocks)
        return f"{len(self.blocks)} request(s) touching {regs} register(s)"


def _block_of(spans: Sequence[Span]) -> Block:
    start = min(a for _, a, _ in spans)
    end = max(a + c for _, a, c in spans)
    return Block(spans[0][0], start, end - start, tuple(spans))
