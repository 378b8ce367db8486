"""One time chunk read from a source, as flat columns (site, meter, quantity, ts_ns, value)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Chunk:
    site: NDArray[np.str_]
    meter: NDArray[np.str_]
    quantity: NDArray[np.str_]
    ts_ns: NDArray[np.int64]
    value: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.ts_ns)

    def by_quantity(self) -> list[tuple[str, slice]]:
        """(quantity, its rows): a chunk holds each quantity's rows together (ChunkBuilder sorts)."""
        q = self.quantity
        if not len(q):
            return []
        cuts = [0, *(np.flatnonzero(q[1:] != q[:-1]) + 1).tolist(), len(q)]
        return [(str(q[a]), slice(a, b)) for a, b in pairwise(cuts)]


class ChunkBuilder:
    """Collects runs of points that share site, meter and quantity (a series), then one concatenation."""

    def __init__(self) -> None:
        self._keys: list[tuple[str, str, str]] = []
        self._ts: list[NDArray[np.int64]] = []
        self._values: list[NDArray[np.float64]] = []

    def add(self, site: str, meter: str, quantity: str, ts_ns: NDArray[np.int64],
            value: NDArray[np.float64]) -> None:
        if len(ts_ns):
            self._keys.append((site, meter, quantity))
            self._ts.append(ts_ns)
            self._values.append(value)

    def build(self) -> Chunk:
        """One chunk, its series ordered by quantity (so by_quantity needs no sort of the rows)."""
        order = sorted(range(len(self._keys)), key=lambda i: self._keys[i][2])
        self._keys = [self._keys[i] for i in order]
        self._ts = [self._ts[i] for i in order]
        self._values = [self._values[i] for i in order]
        counts = np.array([len(t) for t in self._ts], dtype=np.int64)

        def spread(k: int) -> NDArray[np.str_]:
            return np.repeat(np.array([key[k] for key in self._keys], dtype=str), counts)

        if not self._keys:
            empty = np.array([], dtype=str)
            return Chunk(empty, empty, empty, np.array([], np.int64), np.array([], np.float64))
        return Chunk(spread(0), spread(1), spread(2), np.concatenate(self._ts),
                     np.concatenate(self._values))
