"""The announcement of a scheduled report (docs/mqtt.md, "Reports"; schema core/contract/schemas/report.json).

    {prefix}/v1/{site}/reports/{period}   retained, QoS 1   metergate.report/1

One retained topic per month: a newcomer subscribed to `{prefix}/v1/+/reports/+` gets every report
still announced, and announcing a month again (after a restart) only replaces its own document. The
level "reports" sits where a gateway id sits in the readings tree, like "alerts": no gateway or
building may be called `reports` (the analytics config refuses it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from core.contract.schema import check_service
from core.contract.topics import TREE_VERSION, check_prefix, check_segment

REPORT_SCHEMA = "metergate.report/1"
REPORTS_LEVEL = "reports"


@dataclass(frozen=True, slots=True)
class ReportFile:
    format: str
    path: str  # absolute
    name: str
    size: int
    institution: str | None = None  # None: the whole site (the fleet and every institution)


def report_topic(prefix: str, site: str, period: str) -> str:
    return f"{check_prefix(prefix)}/{TREE_VERSION}/{check_segment(site, 'site id')}/{REPORTS_LEVEL}/{period}"


def report_doc(site: str, period: str, first: date, last: date, lang: str, created_s: float,
               tz: tzinfo, files: Sequence[ReportFile]) -> dict[str, Any]:
    doc = {"schema": REPORT_SCHEMA, "site": site, "period": period, "first_day": first.isoformat(),
           "last_day": last.isoformat(), "lang": lang, "created": created_s,
           "created_time": datetime.fromtimestamp(created_s, tz).isoformat(timespec="seconds"),
           "formats": list(dict.fromkeys(f.format for f in files)),
           "files": [{"format": f.format, **({"institution": f.institution} if f.institution else {}),
                      "name": f.name, "path": f.path, "bytes": f.size} for f in files]}
    check_service(doc, "report")  # a bug here must not reach the broker
    return doc


__all__ = ["REPORT_SCHEMA", "ReportFile", "report_doc", "report_topic"]
