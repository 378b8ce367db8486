"""InfluxDB 1.x (and 1.8+ written through its v2 endpoint): InfluxQL over /query, chunked JSON.

    SELECT "value" FROM /^(quantities)$/ WHERE "quality" = 0 AND "site" = '…' AND time >= … AND
    time < … GROUP BY "site", "meter"

Only points whose `quality` field is 0 (ok) and that carry a `value`, as the CSV path has them.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from cli.sources.chunk import Chunk, ChunkBuilder
from cli.sources.errors import SourceError
from cli.sources.names import quantity_pattern, quoted
from cli.sources.spec import Source
from cli.sources.web import request

CHUNK_SIZE = 50_000  # points per streamed JSON object of the answer


def statement(site: str | None, start_ns: int, end_ns: int, rp: str | None) -> str:
    where = f'"quality" = 0 AND time >= {start_ns} AND time < {end_ns}'
    if site is not None:
        where += ' AND "site" = ' + quoted(site, "'")
    # a retention policy is put before the measurement regex: FROM "rp"./regex/
    origin = (quoted(rp, '"') + "." if rp else "") + f"/^{quantity_pattern()}$/"
    return f'SELECT "value" FROM {origin} WHERE {where} GROUP BY "site", "meter"'


def read_chunk(source: Source, site: str | None, start_ns: int, end_ns: int) -> Chunk:
    assert source.database is not None
    params = {"db": source.database, "q": statement(site, start_ns, end_ns, source.retention_policy),
              "epoch": "ns", "chunked": "true", "chunk_size": str(CHUNK_SIZE)}
    out = ChunkBuilder()
    with request(source, "/query", params, what=f"querying database {source.database!r}") as response:
        for line in response:
            if line.strip():
                _add(source, json.loads(line), out)
    return out.build()


def _add(source: Source, doc: dict[str, Any], out: ChunkBuilder) -> None:
    if "error" in doc:
        raise SourceError(source.name, f"the server: {doc['error']}")
    for result in doc.get("results", ()):
        if "error" in result:
            hint = " (is the database name right?)" if "database not found" in result["error"] else ""
            raise SourceError(source.name, f"database {source.database!r}: {result['error']}{hint}")
        for series in result.get("series", ()):
            rows = series["values"]
            tags = series.get("tags", {})
            ts = np.fromiter((r[0] for r in rows), np.int64, len(rows))
            value = np.fromiter((r[1] for r in rows), np.float64, len(rows))
            out.add(tags.get("site", ""), tags.get("meter", ""), series["name"], ts, value)


__all__ = ["read_chunk", "statement"]
