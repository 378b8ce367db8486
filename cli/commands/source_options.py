"""The options that read readings from a store instead of a file, shared by analyze, alerts,
report and export (docs/sources.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import typer

SourceOpt = Annotated[str | None, typer.Option(
    "--source", metavar="SOURCE",
    help="Read the readings from the store ingest writes: an ingest config (ingest.toml) or a URL, "
         "victoria://HOST:PORT, influx1://HOST:PORT/DB, influx2://HOST:PORT?org=ORG&bucket=B "
         "(docs/sources.md); needs --from-time.")]
SiteOpt = Annotated[str | None, typer.Option(
    "--site", help="With --source or a dataset folder: the site to read (default: the site config's "
                   "site id).")]
FromTimeOpt = Annotated[str | None, typer.Option(
    "--from-time", help="With --source or a dataset folder: the first day (YYYY-MM-DD, the site's "
                        "time zone) or instant (ISO 8601 with offset) to read.")]
ToTimeOpt = Annotated[str | None, typer.Option(
    "--to-time", help="With --source or a dataset folder: the last day (included) or instant to "
                      "read (default: now).")]


@dataclass(frozen=True)
class SourceOptions:
    """--source, --site, --from-time and --to-time as given (None: not given)."""

    source: str | None = None
    site: str | None = None
    from_time: str | None = None
    to_time: str | None = None

    @property
    def given(self) -> bool:
        return any(v is not None for v in (self.source, self.site, self.from_time, self.to_time))


__all__ = ["FromTimeOpt", "SiteOpt", "SourceOpt", "SourceOptions", "ToTimeOpt"]
