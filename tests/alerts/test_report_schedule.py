"""When a monthly report is due (services/analytics/report_schedule.py), as a table, and the file names
and atomic writing of services/analytics/report_files.py."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services.analytics.report_files import AtomicFiles, report_names
from services.analytics.report_schedule import due_months, latest_due, next_due

SH = ZoneInfo("Asia/Shanghai")


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


@pytest.mark.parametrize(("now", "day", "at", "done", "due"), [
    ("2025-04-01T05:59", 1, time(6), "2025-02", []),  # March is due at 06:00 local, not before
    ("2025-04-01T06:00", 1, time(6), "2025-02", ["2025-03"]),
    ("2025-04-01T06:00", 1, time(6), "2025-03", []),  # done: a restart on the 1st renders nothing
    ("2025-04-20T12:00", 1, time(6), "2025-03", []),
    ("2025-04-03T00:00", 5, time(6), "2025-01", ["2025-02"]),  # due on the 5th: March not yet
    ("2025-07-02T00:00", 1, time(6), "2025-03", ["2025-04", "2025-05", "2025-06"]),  # down for months
    ("2025-04-15T00:00", 1, time(6), None, ["2025-03"]),  # first start: only the latest month due
    ("2025-04-01T05:00", 1, time(6), None, ["2025-02"]),
    ("2025-01-01T06:00", 1, time(6), "2024-11", ["2024-12"]),  # across the year
])
def test_due_months(now: str, day: int, at: time, done: str | None, due: list[str]) -> None:
    assert due_months(_at(now), SH, day=day, at=at, done=done) == due


def test_the_moment_is_local_time_of_the_site() -> None:
    # 2025-03-31T22:00Z is 2025-04-01T06:00 in Shanghai: due there, not yet in UTC
    now = datetime(2025, 3, 31, 22, 0, tzinfo=UTC)
    assert latest_due(now, SH, 1, time(6)) == "2025-03"
    assert latest_due(now, UTC, 1, time(6)) == "2025-02"
    assert next_due(now, SH, day=1, at=time(6)) == _at("2025-05-01T06:00")
    assert next_due(_at("2025-04-01T05:00"), SH, day=1, at=time(6)) == _at("2025-04-01T06:00")


def test_names_and_atomic_files(tmp_path: Path) -> None:
    assert report_names("campus-a", "2025-03", None, ("pdf", "xlsx")) == {
        "pdf": "campus-a-2025-03.pdf", "xlsx": "campus-a-2025-03.xlsx"}
    assert report_names("s", "2025-03", "城东 中学/分校", ("html",)) == {
        "html": "s-城东_中学_分校-2025-03.html"}
    folder = tmp_path / "reports"
    names = report_names("s", "2025-03", None, ("html", "xlsx"))
    with pytest.raises(RuntimeError), AtomicFiles(folder, names) as temp:
        temp["html"].write_text("half")
        raise RuntimeError("the xlsx renderer failed")
    assert list(folder.iterdir()) == []  # neither file, no temporary left
    with AtomicFiles(folder, names) as temp:
        temp["html"].write_text("<html>")
        temp["xlsx"].write_bytes(b"PK")
        assert not (folder / "s-2025-03.html").exists()  # nothing in place before every format is
    assert sorted(p.name for p in folder.iterdir()) == ["s-2025-03.html", "s-2025-03.xlsx"]
