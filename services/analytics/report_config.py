"""The `[report]` section of the analytics config: the monthly report the service writes itself.

    settings = resolve_report(raw["report"], base, findings, institutions={"campus-a": {"城东中学"}})

Checked here, once; problems go to `findings`, so they are reported with the rest of the config as
FILE:LINE: KEY. Off unless the section is there (and `enabled` is not false). Documented in
docs/reports.md ("Scheduled reports").
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time as dtime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.mqtt_config import relative_to
from core.problems import Findings
from core.toml_file import check_model

Format = Literal["html", "pdf", "xlsx"]
Lang = Literal["zh", "en"]
_AT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class ReportSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    folder: Annotated[str, Field(min_length=1)]
    formats: Annotated[list[Format], Field(min_length=1)] = ["pdf", "xlsx"]
    lang: Lang = "zh"
    # day 1-28: every month has it (a report due on the 31st would skip February)
    day: Annotated[int, Field(ge=1, le=28)] = 1
    at: str = "06:00"  # local time of the site's time zone
    institutions: list[str] | None = None  # None: one report per site (the fleet and each institution)
    alerts: bool = True  # false: no alert and quota sections (the detectors are the slow part)


@dataclass(frozen=True)
class ReportSettings:
    folder: Path
    formats: tuple[Format, ...]
    lang: Lang
    day: int
    at: dtime
    institutions: Mapping[str, tuple[str, ...]]  # per site: the institutions given one report each
    alerts: bool = True


def resolve_report(raw: object, base: Path, f: Findings, *,
                   institutions: Mapping[str, set[str]]) -> ReportSettings | None:
    """The settings of `[report]` (None when disabled); problems to `f`. `institutions`: the
    institutions of each site served (from the site configs)."""
    if not isinstance(raw, dict):
        f.error(("report",), "write [report] as a table")
        return None
    spec = check_model(ReportSpec, raw, ("report",), f)
    if spec is None:
        return None
    m = _AT.fullmatch(spec.at)
    if m is None:
        f.error(("report", "at"), f"{spec.at!r}: write the local time as \"HH:MM\" (e.g. \"06:00\")")
    if len(set(spec.formats)) != len(spec.formats):
        f.error(("report", "formats"), "a format is listed twice")
    folder = relative_to(base, spec.folder)
    if folder.exists() and not folder.is_dir():
        f.error(("report", "folder"), f"{folder} is not a folder")
    elif folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
        f.error(("report", "folder"), f"{folder}: not writable by this user")
    per_site: dict[str, tuple[str, ...]] = {}
    for i, name in enumerate(spec.institutions or ()):
        owners = [s for s, names in institutions.items() if name in names]
        if not owners:
            known = sorted({n for names in institutions.values() for n in names})
            f.error(("report", "institutions", i), f"{name!r} is not an institution of a site served "
                                                   f"here; known: {', '.join(known) or 'none'}")
        for s in owners:
            per_site[s] = (*per_site.get(s, ()), name)
    if not spec.enabled or m is None:
        return None
    return ReportSettings(folder, tuple(dict.fromkeys(spec.formats)), spec.lang, spec.day,
                          dtime(int(m[1]), int(m[2])), per_site, spec.alerts)


__all__ = ["Format", "ReportSettings", "ReportSpec", "resolve_report"]
