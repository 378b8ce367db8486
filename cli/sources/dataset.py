"""A partitioned Parquet dataset of readings, hive-style: DIR/site=SITE/month=YYYY-MM/part-*.parquet.

Columns ts (timestamp[ns, UTC]), meter, quantity, value: the columns of a readings Parquet file, so
one part is itself a readings file. The month is the UTC month of ts (the partitions prune what is
read; the window is applied to ts). `metergate export` writes one chunk at a time; `--from DIR` reads
it back with the site and window as partition and row filters.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from analytics.readings_io import Readings, ReadingsError, group_rows
from cli.sources.chunk import Chunk


def _pyarrow(path: Path) -> tuple[Any, Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.dataset as ds
        import pyarrow.parquet as pq
    except ImportError:
        raise ReadingsError(path, "a Parquet dataset needs pyarrow: pip install metergate[parquet]") from None
    return pa, ds, pq


def _months(ts_ns: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(ts_ns.astype("datetime64[ns]"), unit="M")


def write_chunks(chunks: Iterable[Chunk], folder: Path) -> tuple[int, int]:
    """Write every chunk into the dataset; (points, files) written. A part's name is its first
    timestamp, so exporting the same window again replaces the same files."""
    pa, _, pq = _pyarrow(folder)
    points = files = 0
    for chunk in chunks:
        months = _months(chunk.ts_ns)
        # ids are [A-Za-z0-9_-] (the contract), so "/" separates site and month
        keys = np.char.add(np.char.add(chunk.site, "/"), months)
        names, inverse = np.unique(np.asarray(keys, dtype=str), return_inverse=True)
        for k, name in enumerate(names):
            sel = np.flatnonzero(inverse == k)
            site, month = str(name).split("/")
            part = folder / f"site={site}" / f"month={month}"
            part.mkdir(parents=True, exist_ok=True)
            table = pa.table({"ts": pa.array(chunk.ts_ns[sel], pa.timestamp("ns", tz="UTC")),
                              "meter": chunk.meter[sel], "quantity": chunk.quantity[sel],
                              "value": chunk.value[sel]})
            pq.write_table(table, part / f"part-{int(chunk.ts_ns[sel].min())}.parquet")
            points += len(sel)
            files += 1
    return points, files


def is_dataset(path: Path) -> bool:
    return path.is_dir() and any(path.glob("site=*"))


def read_dataset(folder: Path, site: str | None = None, start_ns: int | None = None,
                 end_ns: int | None = None) -> Readings:
    """The dataset's readings of `site` (None: every site) with start_ns <= ts <= end_ns."""
    pa, ds, _ = _pyarrow(folder)
    if not is_dataset(folder):
        raise ReadingsError(folder, "not a readings dataset (no site=… folders; write one with "
                                    "metergate export --source … --to DIR)")
    partitioning = ds.partitioning(pa.schema([("site", pa.string()), ("month", pa.string())]),
                                   flavor="hive")
    where = None
    sites = sorted(p.name.removeprefix("site=") for p in folder.glob("site=*"))
    if site is not None:
        if site not in sites:
            raise ReadingsError(folder, f"no site {site!r} in the dataset (it holds {', '.join(sites)})")
        where = ds.field("site") == site
    elif len(sites) > 1:
        raise ReadingsError(folder, f"the dataset holds several sites ({', '.join(sites)}): give --site")
    for bound, op in ((start_ns, "ge"), (end_ns, "le")):
        if bound is not None:
            month = _month(bound)
            mf = ds.field("month") >= month if op == "ge" else ds.field("month") <= month
            tf = ds.field("ts") >= pa.scalar(bound, pa.timestamp("ns", tz="UTC")) if op == "ge" else \
                ds.field("ts") <= pa.scalar(bound, pa.timestamp("ns", tz="UTC"))
            where = mf & tf if where is None else where & mf & tf
    try:
        table = ds.dataset(folder, format="parquet", partitioning=partitioning).to_table(
            columns=["ts", "meter", "quantity", "value"], filter=where)
    except (OSError, pa.ArrowException) as exc:
        raise ReadingsError(folder, str(exc)) from None
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    value = table.column("value").to_numpy().astype(np.float64)
    return group_rows(folder, table.column("meter").to_numpy(zero_copy_only=False).astype(str), ts, value,
                      table.column("quantity").to_numpy(zero_copy_only=False).astype(str), None)


def _month(ns: int) -> str:
    return datetime.fromtimestamp(ns // 10**9, UTC).strftime("%Y-%m")


__all__ = ["is_dataset", "read_dataset", "write_chunks"]
