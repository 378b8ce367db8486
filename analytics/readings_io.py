"""Readings into columnar arrays, one set per quantity: (meter, ts_ns int64, value float64).

    readings = read_readings("readings.csv")     # or .parquet, or the gateway's outbox (SQLite)
    cols = readings["energy_active_import"]      # Columns(meter, ts_ns, value)

CSV and Parquet columns: `ts` (ISO 8601 with a UTC offset, e.g. 2023-01-01T00:00:00+08:00, or integer
nanoseconds since the epoch; a Parquet timestamp column is used as it is), `meter`, `quantity`,
`value`, optional `unit` (converted to the quantity's canonical unit, e.g. Wh → kWh, L → m³). Rows with
an empty value are skipped. Parquet needs pyarrow: `pip install metergate[parquet]`. From the outbox,
only readings of quality `ok` with a value are taken. Problems raise ReadingsError naming the file,
the row (1 = the header line for CSV) and the column.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from core.quantities import QUANTITIES, accepted_units, unit_factor

REQUIRED = ("ts", "meter", "quantity", "value")
_SQLITE_MAGIC = b"SQLite format 3\x00"


class ReadingsError(ValueError):
    def __init__(self, file: str | Path, message: str, *, row: int | None = None,
                 column: str | None = None) -> None:
        where = str(file) + (f": row {row}" if row is not None else "") + (
            f", column {column!r}" if column else "")
        super().__init__(f"{where}: {message}")
        self.file, self.row, self.column = str(file), row, column


@dataclass(frozen=True)
class Columns:
    """One quantity's readings, in file order."""

    meter: NDArray[np.str_]
    ts_ns: NDArray[np.int64]
    value: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.ts_ns)


Readings = dict[str, Columns]


def between(readings: Readings, start_ns: int, end_ns: int) -> Readings:
    """The readings at start_ns <= ts <= end_ns (a counter reading at the end closes the last interval)."""
    out = {}
    for quantity, c in readings.items():
        keep = (c.ts_ns >= start_ns) & (c.ts_ns <= end_ns)
        out[quantity] = Columns(c.meter[keep], c.ts_ns[keep], c.value[keep])
    return out


def read_readings(path: str | Path, *, outbox: Callable[[Path], Readings] | None = None) -> Readings:
    """By suffix: .csv, .parquet/.pq, or an SQLite file (the gateway's outbox, read by `outbox`: the
    analytics know no gateway; the metergate commands pass cli.commands.readings_input's)."""
    path = Path(path)
    if not path.is_file():
        raise ReadingsError(path, "no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv(path)
    if suffix in (".parquet", ".pq"):
        return read_parquet(path)
    with path.open("rb") as f:
        if f.read(16) == _SQLITE_MAGIC:
            if outbox is None:
                raise ReadingsError(path, "is an SQLite file (a gateway outbox?): read it through the "
                                          "metergate commands, which know the outbox format")
            return outbox(path)
    raise ReadingsError(path, "unknown format: expected .csv, .parquet or the gateway's outbox (SQLite)")


def read_csv(path: str | Path) -> Readings:
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
            col = _columns(path, header)
            ts_col, m_col, q_col, v_col, u_col = col
            ts: list[int] = []
            meters: list[str] = []
            quantities: list[str] = []
            values: list[float] = []
            units: list[str] = []
            rows: list[int] = []
            parse_ts = _TsParser(path)
            width = len(header)
            for row_no, row in enumerate(reader, start=2):
                if len(row) != width:
                    if not row:
                        continue
                    raise ReadingsError(path, f"{len(row)} fields, the header has {width}", row=row_no)
                if not row[v_col]:
                    continue
                try:
                    values.append(float(row[v_col]))
                except ValueError:
                    raise ReadingsError(path, f"not a number: {row[v_col]!r}", row=row_no,
                                        column="value") from None
                ts.append(parse_ts(row[ts_col], row_no))
                meters.append(row[m_col])
                quantities.append(row[q_col])
                if u_col is not None:
                    units.append(row[u_col].strip())
                    rows.append(row_no)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ReadingsError(path, str(exc)) from None
    return group_rows(path, meters, ts, values, quantities, units if u_col is not None else None,
                  row_numbers=np.asarray(rows, np.int64))


def read_parquet(path: str | Path) -> Readings:
    path = Path(path)
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ReadingsError(path, "reading Parquet needs pyarrow: pip install metergate[parquet]") from None
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise ReadingsError(path, str(exc)) from None
    _columns(path, table.column_names)
    ts_col = table.column("ts")
    if pa.types.is_timestamp(ts_col.type):
        ts = ts_col.cast(pa.timestamp("ns", tz=ts_col.type.tz)).cast(pa.int64()).to_numpy()
    elif pa.types.is_integer(ts_col.type):
        ts = ts_col.to_numpy().astype(np.int64)
    else:
        parse = _TsParser(path)
        ts = np.array([parse(str(t), i + 2) for i, t in enumerate(ts_col.to_pylist())], np.int64)
    value = table.column("value").to_numpy(zero_copy_only=False).astype(np.float64)
    keep = ~np.isnan(value)
    units = table.column("unit").to_pylist() if "unit" in table.column_names else None
    return group_rows(path, table.column("meter").to_pylist(), ts, value,
                      table.column("quantity").to_pylist(), units, keep=keep)


def _columns(path: Path, header: list[str]) -> tuple[int, int, int, int, int | None]:
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ReadingsError(path, f"missing column(s) {', '.join(missing)}; the columns are "
                                  f"{', '.join(REQUIRED)} and optionally unit (found: {', '.join(header)})",
                            row=1, column=missing[0])
    ts, m, q, v = (header.index(c) for c in REQUIRED)
    return ts, m, q, v, header.index("unit") if "unit" in header else None


class _TsParser:
    """ISO 8601 with an offset, or integer ns; repeated strings are parsed once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.cache: dict[str, int] = {}

    def __call__(self, text: str, row: int) -> int:
        hit = self.cache.get(text)
        if hit is not None:
            return hit
        t = text.strip()
        if t.lstrip("-").isdigit():
            ns = int(t)
        else:
            try:
                dt = datetime.fromisoformat(t)
            except ValueError:
                raise ReadingsError(self.path, f"not an ISO 8601 time or integer ns: {text!r}", row=row,
                                    column="ts") from None
            if dt.tzinfo is None:
                raise ReadingsError(self.path, f"{text!r} has no UTC offset (write e.g. +08:00 or Z)",
                                    row=row, column="ts")
            ns = int(dt.timestamp()) * 10**9 + dt.microsecond * 1000
        if len(self.cache) < 1_000_000:
            self.cache[text] = ns
        return ns


def group_rows(path: Path, meters: Iterable[str], ts: Iterable[int] | np.ndarray, values: Iterable[float],
               quantities: Iterable[str], units: list[str] | None, *,
               keep: NDArray[np.bool_] | None = None, row_numbers: NDArray[np.int64] | None = None
               ) -> Readings:
    m = np.asarray(list(meters) if not isinstance(meters, np.ndarray) else meters, dtype=str)
    t = np.asarray(ts, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    q = np.asarray(list(quantities) if not isinstance(quantities, np.ndarray) else quantities, dtype=str)
    u = None if units is None else np.asarray(units, dtype=str)
    rownum = np.arange(len(t), dtype=np.int64) + 2 if row_numbers is None else row_numbers
    if keep is not None:
        rownum = rownum[keep]
        m, t, v, q = m[keep], t[keep], v[keep], q[keep]
        u = None if u is None else u[keep]
    out: Readings = {}
    names, inverse = np.unique(q, return_inverse=True)
    for k, name in enumerate(names):
        sel = np.flatnonzero(inverse == k)
        value = v[sel]
        if u is not None and str(name) in QUANTITIES:
            value = value * _unit_factors(path, str(name), u[sel], rownum[sel])
        out[str(name)] = Columns(m[sel], t[sel], value)
    return out


def _unit_factors(path: Path, quantity: str, units: NDArray[np.str_], rows: NDArray[np.int64]) -> np.ndarray:
    spec = QUANTITIES[quantity]
    names, inverse = np.unique(units, return_inverse=True)
    factors = np.empty(len(names))
    for k, unit in enumerate(names):
        f = 1.0 if unit == "" else unit_factor(spec, str(unit))
        if f is None:
            first = int(rows[np.flatnonzero(inverse == k)[0]])
            raise ReadingsError(path, f"unit {str(unit)!r} is not one for {quantity} "
                                      f"({', '.join(accepted_units(spec))})", row=first, column="unit")
        factors[k] = f
    return factors[inverse]


__all__ = ["REQUIRED", "Columns", "Readings", "ReadingsError", "between", "group_rows", "read_csv",
           "read_parquet", "read_readings"]
