"""The readings a command is given: CSV and Parquet through analytics.readings_io, the gateway's
outbox (SQLite) through gateway.outbox — the analytics know no gateway, so the command, the caller,
brings the outbox reader —, a Parquet dataset folder, or a store ingest writes (`--source`, through
cli.sources), by site and time window."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from analytics.readings_io import Readings, ReadingsError, group_rows
from analytics.readings_io import read_readings as _read_any
from cli.commands.source_options import SourceOptions


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


def parse_time(text: str, tz: tzinfo, option: str, *, end: bool = False) -> int:
    """ISO 8601 with an offset, or a day YYYY-MM-DD in the site's time zone: its midnight, or for an
    end the next midnight (included: the counter reading that closes the day's last interval)."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text) + timedelta(days=1 if end else 0)
            moment = datetime(day.year, day.month, day.day, tzinfo=tz)
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        raise ReadingsError(option, f"{text!r}: expected YYYY-MM-DD or an ISO 8601 time with an "
                                    "offset") from None
    if moment.tzinfo is None:
        raise ReadingsError(option, f"{text!r} has no UTC offset (write e.g. +08:00 or Z)")
    return int(moment.timestamp()) * 10**9 + moment.microsecond * 1000


def read_input(path: Path | None, options: SourceOptions, *, site: str, tz: ZoneInfo) -> Readings | None:
    """The readings of a file, a dataset folder or a source (None: neither given). `site` and `tz`
    are the site config's: the default --site and the zone of a day in --from-time/--to-time."""
    from cli.sources.dataset import read_dataset

    if options.source is not None and path is not None:
        raise ReadingsError("--source", f"give the readings as a file ({path}) or --source, not both")
    start = parse_time(options.from_time, tz, "--from-time") if options.from_time else None
    stop = parse_time(options.to_time, tz, "--to-time", end=True) if options.to_time else None
    if options.source is not None:
        from cli.sources import parse_source, read_source

        if start is None:
            raise ReadingsError("--source", "give --from-time (the first day or instant to read)")
        if stop is None:
            stop = time.time_ns()
        return read_source(parse_source(options.source), options.site or site, start, stop)
    if path is not None and path.is_dir():
        return read_dataset(path, options.site or site, start, stop)
    if path is not None and (options.site or start is not None or stop is not None):
        raise ReadingsError(path, "--site, --from-time and --to-time are for --source or a dataset "
                                  "folder; a readings file is read whole")
    return read_readings(path) if path is not None else None


def source_name(path: Path | None, options: SourceOptions) -> str:
    return options.source if options.source is not None else str(path)


__all__ = ["SourceOptions", "parse_time", "read_input", "read_outbox", "read_readings", "source_name"]
