"""Reading a source chunk by chunk: one request per time chunk, the chunks' columns joined at the end
into the analytics' Readings (one Columns per quantity)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import numpy as np

from analytics.readings_io import Columns, Readings
from cli.sources.chunk import Chunk
from cli.sources.errors import SourceEmpty, SourceError
from cli.sources.spec import Source, resolved
from cli.sources.web import request

CHUNK_NS = 86_400 * 10**9  # a day per request: a building's minute readings are ~150,000 points


def resolve(source: Source) -> Source:
    """An ingest config's v2 target made concrete by asking the server what it is."""
    if source.kind != "ingest-v2":
        return source
    with request(source, "/health", {}, what="asking the server what it is (/health)") as response:
        body = response.read(4096)
    try:
        health = json.loads(body)
    except ValueError:
        health = None  # VictoriaMetrics answers a plain "OK"
    if health is not None and not isinstance(health, dict):
        raise SourceError(source.name, f"/health answered {body[:80]!r}: not InfluxDB or VictoriaMetrics")
    return resolved(source, health)


def _reader(source: Source) -> Callable[[Source, str | None, int, int], Chunk]:
    if source.kind == "victoria":
        from cli.sources import victoria
        return victoria.read_chunk
    if source.kind == "influxql":
        from cli.sources import influxql
        return influxql.read_chunk
    from cli.sources import flux
    return flux.read_chunk


def iter_chunks(source: Source, site: str | None, start_ns: int, end_ns: int,
                chunk_ns: int = CHUNK_NS) -> Iterator[Chunk]:
    """The good readings with start_ns <= ts <= end_ns (the end included, as a CSV window has it),
    one chunk of at most chunk_ns at a time."""
    if end_ns < start_ns:
        raise SourceError(source.name, "the window ends before it starts (--to-time before --from-time)")
    source = resolve(source)
    read = _reader(source)
    at = start_ns
    while at <= end_ns:
        stop = min(at + chunk_ns, end_ns + 1)
        chunk = read(source, site, at, stop)
        if len(chunk):
            yield chunk
        at = stop


def read_source(source: Source, site: str | None, start_ns: int, end_ns: int,
                chunk_ns: int = CHUNK_NS) -> Readings:
    """Every good reading of the site in the window, as the CSV path gives them (raises SourceEmpty)."""
    parts: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    for chunk in iter_chunks(source, site, start_ns, end_ns, chunk_ns):
        for name, rows in chunk.by_quantity():
            parts.setdefault(name, []).append((chunk.meter[rows], chunk.ts_ns[rows], chunk.value[rows]))
    if not parts:
        where = f"site {site!r}" if site is not None else "any site"
        raise SourceEmpty(source.name, f"no good reading of {where} between {_iso(start_ns)} and "
                                       f"{_iso(end_ns)} (check --site, --from-time and --to-time)")
    return {q: Columns(np.concatenate([p[0] for p in ps]), np.concatenate([p[1] for p in ps]),
                       np.concatenate([p[2] for p in ps])) for q, ps in parts.items()}


def _iso(ns: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="seconds")


__all__ = ["CHUNK_NS", "iter_chunks", "read_source", "resolve"]
