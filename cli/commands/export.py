"""`metergate export --source SOURCE --to DIR`: the readings of a store, written as a partitioned
Parquet dataset (DIR/site=…/month=YYYY-MM/part-*.parquet) that `--from DIR` / READINGS read back.

Thin: parse the options, stream the source chunk by chunk (cli.sources) into the dataset
(cli.sources.dataset); memory is bounded by a chunk. Exit 2 on a bad option or source, 1 when the
window holds no reading.
"""

from __future__ import annotations

import time
from datetime import UTC
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console


def export(
    source: Annotated[str, typer.Option(
        "--source", metavar="SOURCE", help="An ingest config (ingest.toml) or a URL: victoria://HOST:PORT, "
        "influx1://HOST:PORT/DB, influx2://HOST:PORT?org=ORG&bucket=B (docs/sources.md).")],
    to: Annotated[Path, typer.Option("--to", metavar="DIR", help="The dataset folder (created).")],
    from_time: Annotated[str | None, typer.Option(
        "--from-time", help="The first day (YYYY-MM-DD, UTC) or instant (ISO 8601 with offset).")] = None,
    to_time: Annotated[str | None, typer.Option(
        "--to-time", help="The last day (included, UTC) or instant (default: now).")] = None,
    site: Annotated[str | None, typer.Option(help="One site (default: every site).")] = None,
) -> None:
    """Write a store's good readings (quality ok, with a value) as a Parquet dataset, hive-style by
    site and month. A day (YYYY-MM-DD) in --from-time/--to-time is a UTC day here (no site config).

    Example: metergate export --source victoria://127.0.0.1:8428 --from-time 2025-01-01 --to dataset/
    """
    from analytics.readings_io import ReadingsError
    from cli.commands.readings_input import parse_time
    from cli.sources import iter_chunks, parse_source
    from cli.sources.dataset import write_chunks

    err = Console(stderr=True, markup=False, highlight=False, soft_wrap=True)
    try:
        if from_time is None:
            raise ReadingsError("--from-time", "give the first day or instant to export")
        if to.exists() and not to.is_dir():
            raise ReadingsError(to, "exists and is not a folder")
        start = parse_time(from_time, UTC, "--from-time")
        stop = parse_time(to_time, UTC, "--to-time", end=True) if to_time else time.time_ns()
        to.mkdir(parents=True, exist_ok=True)
        began = time.perf_counter()
        points, files = write_chunks(iter_chunks(parse_source(source), site, start, stop), to)
    except ReadingsError as exc:
        err.print(f"error: {exc}", style="red")
        raise typer.Exit(2) from None
    if points == 0:
        err.print(f"error: {source}: no good reading of {site or 'any site'} in the window", style="red")
        raise typer.Exit(1)
    typer.echo(f"wrote {points} readings in {files} file(s) to {to} ({time.perf_counter() - began:.1f} s)")
