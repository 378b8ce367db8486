"""InfluxDB 2.x: Flux through influxdb-client's query API, the answer as CSV.

The value and quality fields of a point are pivoted into one row, and a row is kept when its
quality is 0 (ok) and it has a value, as the CSV path has them. Times are sent back as integer
nanoseconds (`int(v: r._time)`), so nothing is lost to a datetime's microseconds.

Not tested against a real InfluxDB 2 server (none is packaged here: see docs/sources.md); the query is
checked for its text only.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from cli.sources.chunk import Chunk, ChunkBuilder
from cli.sources.errors import SourceError
from cli.sources.names import quantity_pattern, quoted
from cli.sources.spec import Source
from core.secrets import SecretUnavailable


def _rfc3339(ns: int) -> str:
    seconds, frac = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def query(bucket: str, site: str | None, start_ns: int, end_ns: int) -> str:
    site_filter = " and r.site == " + quoted(site, '"') if site is not None else ""
    return "\n".join((
        "from(bucket: " + quoted(bucket, '"') + ")",
        f"  |> range(start: {_rfc3339(start_ns)}, stop: {_rfc3339(end_ns)})",
        f"  |> filter(fn: (r) => r._measurement =~ /^{quantity_pattern()}$/{site_filter})",
        '  |> filter(fn: (r) => r._field == "value" or r._field == "quality")',
        '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")',
        "  |> filter(fn: (r) => exists r.value and exists r.quality and r.quality == 0)",
        "  |> map(fn: (r) => ({site: r.site, meter: r.meter, quantity: r._measurement,"
        " ns: int(v: r._time), value: float(v: r.value)}))",
        '  |> keep(columns: ["site", "meter", "quantity", "ns", "value"])',
    ))


def read_chunk(source: Source, site: str | None, start_ns: int, end_ns: int) -> Chunk:
    from influxdb_client import InfluxDBClient
    from influxdb_client.client.flux_csv_parser import FluxCsvParserException
    from influxdb_client.rest import ApiException
    from urllib3.exceptions import HTTPError

    assert source.bucket is not None
    try:
        token = source.token.reveal() if source.token is not None else ""
    except SecretUnavailable as exc:
        raise SourceError(source.name, f"the token: {exc}") from None
    out = ChunkBuilder()
    with InfluxDBClient(url=source.url, token=token, org=source.org,
                        timeout=int(source.timeout * 1000), verify_ssl=source.verify_tls,
                        ssl_ca_cert=source.ca_file) as client:
        try:
            rows = client.query_api().query_csv(query(source.bucket, site, start_ns, end_ns),
                                                org=source.org or None)
            _add_rows(rows, out)
        except ApiException as exc:
            why = ("authentication failed: check the token" if exc.status in (401, 403) else
                   "not found (is the bucket or org right?)" if exc.status == 404 else f"HTTP {exc.status}")
            raise SourceError(source.name, f"querying bucket {source.bucket!r}: {why}") from None
        except ValueError as exc:
            raise SourceError(source.name, f"querying bucket {source.bucket!r}: {exc}") from None
        except (HTTPError, OSError, FluxCsvParserException) as exc:
            raise SourceError(source.name, f"querying bucket {source.bucket!r}: cannot reach "
                                           f"{source.url}: {exc}") from None
    return out.build()


def _add_rows(rows: object, out: ChunkBuilder) -> None:
    """Annotated CSV: a header row (…, site, meter, quantity, ns, value) before each table."""
    columns: dict[str, int] = {}
    current: tuple[str, str, str] | None = None
    ts: list[int] = []
    values: list[float] = []

    def close() -> None:
        if current is not None and ts:
            out.add(*current, np.asarray(ts, np.int64), np.asarray(values, np.float64))
        ts.clear()
        values.clear()

    for row in rows:  # type: ignore[attr-defined]
        if not row or row[0].startswith("#"):
            continue
        if "ns" in row and "quantity" in row:
            columns = {name: i for i, name in enumerate(row)}
            continue
        if not columns:  # an error table ("error", "reference") or not our query's answer
            raise ValueError(f"unexpected Flux answer row {row[:4]!r}")
        key = (row[columns["site"]], row[columns["meter"]], row[columns["quantity"]])
        if key != current:
            close()
            current = key
        ts.append(int(row[columns["ns"]]))
        values.append(float(row[columns["value"]]))
    close()


__all__ = ["query", "read_chunk"]
