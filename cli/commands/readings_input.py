"""The readings file a command is given: CSV and Parquet through analytics.readings_io, the
gateway's outbox (SQLite) through gateway.outbox — the analytics know no gateway, so the command,
the caller, brings the outbox reader."""

from __future__ import annotations

from pathlib import Path

from analytics.readings_io import Readings, ReadingsError, group_rows
from analytics.readings_io import read_readings as _read_any


def read_outbox(path: str | Path) -> Readings:
    """Readings still in the gateway's outbox (not yet acknowledged by the broker): the valid ones."""
    from gateway.outbox import Outbox, OutboxError

    path = Path(path)
    meters: list[str] = []
    ts: list[int] = []
    values: list[float] = []
    quantities: list[str] = []
    try:
        with Outbox(path) as box:
            after = 0
            while batch := box.pending(after_seq=after, limit=10_000):
                for msg in batch:
                    for r in msg.readings:
                        if r.value is not None and r.quality == "ok":
                            meters.append(msg.meter)
                            ts.append(round(r.ts * 1e9))
                            values.append(r.value)
                            quantities.append(r.quantity)
                after = batch[-1].seq
    except OutboxError as exc:
        raise ReadingsError(path, f"not a readable outbox: {exc}") from None
    return group_rows(path, meters, ts, values, quantities, None)


def read_readings(path: str | Path) -> Readings:
    """By suffix: .csv, .parquet/.pq, or the gateway's outbox."""
    return _read_any(path, outbox=read_outbox)


__all__ = ["read_outbox", "read_readings"]
