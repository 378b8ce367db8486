"""VictoriaMetrics: raw samples through /api/v1/export (JSON lines, one series per line).

Ingest's point `power_active,site=…,gateway=…,meter=… value=…,quality=0i` is stored as two series,
`power_active_value` and `power_active_quality` (`docs/influx.md`); a value is taken when the quality
sample of the same series at the same millisecond is 0 (ok), as the CSV path has only good readings.
"""

from __future__ import annotations

import json

import numpy as np

from cli.sources.chunk import Chunk, ChunkBuilder
from cli.sources.errors import SourceError
from cli.sources.names import quantity_pattern, quoted
from cli.sources.spec import Source
from cli.sources.web import request

_NS_PER_MS = 1_000_000


def _seconds(ms: int) -> str:
    """Unix seconds with exactly the milliseconds: VictoriaMetrics' start/end (inclusive)."""
    return f"{ms // 1000}.{ms % 1000:03d}"


def match(site: str | None) -> str:
    selector = f'__name__=~"{quantity_pattern()}_(value|quality)"'
    if site is not None:
        selector += ",site=" + quoted(site, '"')
    return "{" + selector + "}"


def read_chunk(source: Source, site: str | None, start_ns: int, end_ns: int) -> Chunk:
    """The good readings with start_ns <= ts < end_ns."""
    first_ms = -(-start_ns // _NS_PER_MS)
    last_ms = -(-end_ns // _NS_PER_MS)  # asked inclusive; samples at end_ns or later are dropped below
    params = [("match[]", match(site)), ("start", _seconds(first_ms)), ("end", _seconds(last_ms))]
    values: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[list[int], list[float]]] = {}
    quality: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[list[int], list[float]]] = {}
    with request(source, "/api/v1/export", params, what="exporting readings") as response:
        for line in response:
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
                labels = doc["metric"]
                name = labels.pop("__name__")
            except (ValueError, KeyError, TypeError):
                raise SourceError(source.name, "/api/v1/export answered something other than JSON "
                                               "lines of series: is this VictoriaMetrics?") from None
            quantity, _, field = name.rpartition("_")
            key = (quantity, tuple(sorted(labels.items())))
            into = values if field == "value" else quality
            into[key] = (doc["timestamps"], doc["values"])
    out = ChunkBuilder()
    for key, (ts, vals) in values.items():
        q = quality.get(key)
        if q is None:
            continue
        t = np.asarray(ts, np.int64)
        ok = np.asarray(q[1], np.float64) == 0
        # usually every point has both fields, so both series have the same timestamps
        keep = ok if q[0] == ts else np.isin(t, np.asarray(q[0], np.int64)[ok], assume_unique=True)
        t_ns = t[keep] * _NS_PER_MS
        v = np.asarray(vals, np.float64)[keep]
        inside = (t_ns >= start_ns) & (t_ns < end_ns)
        labels = dict(key[1])
        out.add(labels.get("site", ""), labels.get("meter", ""), key[0], t_ns[inside], v[inside])
    return out.build()


__all__ = ["match", "read_chunk"]
