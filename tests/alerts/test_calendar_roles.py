"""Alerts an operator can act on: the working-day calendar (statutory holidays, 调休, closures), heat
pumps judged by role, instant faults raised at once — through the site config and `metergate alerts`.

The statutory dates are checked against the State Council's notices, not against the library:
- 国务院办公厅关于2024年部分节假日安排的通知 (国办发明电〔2023〕7号, 2023-10-25): 春节 2月10日至17日
  放假调休，共8天；2月4日（星期日）、2月18日（星期日）上班。
- 国务院办公厅关于2025年部分节假日安排的通知 (国办发明电〔2024〕12号, 2024-11-12): 清明节 4月4日（周五）
  至6日（周日）放假，共3天；劳动节 5月1日（周四）至5日（周一）放假调休，共5天；4月27日（周日）上班。
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from typer.testing import CliRunner

from analytics.alert_engine import episode_key, merge_episodes
from analytics.alerts import AlertBook, LifecycleSettings
from analytics.calendar import WorkCalendar
from analytics.detectors import Schedule
from analytics.events import AlertKind, Detection, Severity
from cli.main import app
from services.analytics.detect import building_schedules, meter_roles
from site_config import ConfigError, load_site_config
from tests.alerts.sites import readings, write_csv

TZ = ZoneInfo("Asia/Shanghai")
runner = CliRunner()

# (day, working?) as the notices above have them
NOTICES = [
    (date(2024, 2, 4), True),  # Sunday, worked instead (调休)
    (date(2024, 2, 9), True),  # Friday before the break (除夕 is not a day off in 2024)
    (date(2024, 2, 12), False),  # Monday inside the Spring Festival break
    (date(2024, 2, 18), True),  # Sunday, worked instead
    (date(2024, 2, 19), True),
    (date(2025, 4, 3), True),
    (date(2025, 4, 4), False),  # 清明, Friday
    (date(2025, 4, 5), False),
    (date(2025, 4, 6), False),
    (date(2025, 4, 7), True),
    (date(2025, 4, 26), False),  # an ordinary Saturday
    (date(2025, 4, 27), True),  # Sunday, worked instead
    (date(2025, 5, 5), False),  # Monday, day off of the Labour Day break
    (date(2025, 5, 6), True),
]

SITE = """[site]
id = "cal-site"
name = "Calendar site"

[calendar]
public_holidays = "{holidays}"

[[buildings]]
id = "office"
name = "Office"
category = "office"
floor_area_m2 = 1000
occupants = 40

[[buildings]]
id = "school"
name = "School"
category = "school"
floor_area_m2 = 2000
occupants = 300
schedule = {{ closed = [{{ from = 2025-01-18, to = 2025-02-16, name = "寒假" }}] }}

[[buildings]]
id = "museum"
name = "Museum"
category = "venue"
floor_area_m2 = 3000
occupants = 20
schedule = {{ workdays = [1, 2, 3, 4, 5, 6], open_h = 9, close_h = 17, public_holidays = false }}

[[buses]]
id = "bus1"
type = "tcp"
host = "127.0.0.1"

[[meters]]
id = "office-main"
profile = "chint-dtsu666"
unit = 1
bus = "bus1"
building = "office"
subitem = "total"

[[meters]]
id = "hp-elec"
profile = "chint-dtsu666"
unit = 2
bus = "bus1"
building = "office"
subitem = "hvac"

[[meters]]
id = "hp-heat"
profile = "kamstrup-multical"
unit = 3
bus = "bus1"
building = "office"
pair = "{pair}"

[[meters]]
id = "ahu-elec"
profile = "chint-dtsu666"
unit = 4
bus = "bus1"
building = "office"
subitem = "hvac"
{role}
"""


def _site(tmp_path: Path, *, holidays: str = "cn", pair: str = "hp-elec", role: str = "",
          name: str = "site.toml") -> Path:
    path = tmp_path / name
    path.write_text(SITE.format(holidays=holidays, pair=pair, role=role), encoding="utf-8")
    return path


def _working(s: Schedule, d: date) -> bool:
    noon = int(datetime(d.year, d.month, d.day, 12, tzinfo=TZ).timestamp()) * 10**9
    return bool(s.local(np.array([noon], np.int64))[2][0])


def test_statutory_holidays_and_adjusted_working_days_follow_the_state_council(tmp_path: Path) -> None:
    office = building_schedules(load_site_config(_site(tmp_path)))["office"]
    assert [(d, _working(office, d)) for d, _ in NOTICES] == NOTICES
    # without the statutory calendar only the weekdays count
    plain = building_schedules(load_site_config(_site(tmp_path, holidays="none", name="b.toml")))["office"]
    assert _working(plain, date(2025, 4, 4)) and not _working(plain, date(2025, 4, 27))


def test_closures_win_over_adjusted_working_days_and_a_museum_keeps_its_own_week(tmp_path: Path) -> None:
    schedules = building_schedules(load_site_config(_site(tmp_path)))
    school, museum = schedules["school"], schedules["museum"]
    # winter vacation 2025-01-18..02-16: closed on its weekdays and on the 调休 Sunday 01-26 / Saturday 02-08
    assert not any(_working(school, d) for d in (date(2025, 1, 20), date(2025, 1, 26), date(2025, 2, 8),
                                                  date(2025, 2, 14), date(2025, 2, 16)))
    assert _working(school, date(2025, 1, 17)) and _working(school, date(2025, 2, 17))
    assert _working(schedules["office"], date(2025, 1, 26))  # the office works that Sunday
    # a museum closed on Mondays that opens on public holidays
    assert _working(museum, date(2025, 4, 4)) and _working(museum, date(2025, 4, 5))
    assert not _working(museum, date(2025, 4, 7)) and _working(museum, date(2025, 4, 27))  # Mon / Sun


def test_a_year_without_a_notice_is_left_to_the_weekdays_and_said(tmp_path: Path) -> None:
    from services.analytics.detect import calendar_notes

    cal = WorkCalendar.build("cn")
    assert cal.covered is not None and cal.knows(2025) and not cal.knows(cal.covered[1] + 1)
    after = cal.covered[1] + 1
    first_monday = next(date(after, 1, d) for d in range(1, 8) if date(after, 1, d).weekday() == 0)
    office = Schedule(calendar=cal)
    # weekdays alone: the first Monday works, the Saturday after it does not
    assert _working(office, first_monday) and not _working(office, first_monday + timedelta(days=5))
    site = load_site_config(_site(tmp_path))
    notes = calendar_notes(site, range(2025, after + 1))
    assert len(notes) == 1 and str(after) in notes[0] and "2025" not in notes[0].split("covers")[0]
    assert calendar_notes(load_site_config(_site(tmp_path, holidays="none", name="n.toml")),
                          range(2025, after + 1)) == []


def test_bad_calendar_keys_are_named_with_file_line_and_key(tmp_path: Path) -> None:
    text = SITE.format(holidays="cn", pair="hp-elec", role='role = "heat_pump"')
    text = text.replace("2025-02-16", "2025-01-01")
    text = text.replace('public_holidays = "cn"', 'public_holidays = "de"')
    text = text.replace('subitem = "total"', 'subitem = "total"\nrole = "heat_pump"', 1)
    text += '\n[[meters]]\nid = "w"\nprofile = "tuf-2000m"\nunit = 5\nbus = "bus1"\nbuilding = "office"\n' \
            'role = "heat_pump"\n'
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_site_config(path)
    lines = text.splitlines()
    got = {(p.key, p.line) for p in err.value.problems}
    assert ("calendar.public_holidays", lines.index('public_holidays = "de"') + 1) in got
    closure = next(p for p in err.value.problems if p.key.endswith("schedule.closed[0].to"))
    assert closure.line == next(i for i, x in enumerate(lines, 1) if "寒假" in x)
    assert "before from (2025-01-18)" in closure.message
    water = next(p for p in err.value.problems if p.key.endswith("role") and "water" in p.message)
    assert water.line == len(lines)
    out = runner.invoke(app, ["validate", str(path)])
    assert out.exit_code == 2 and "calendar.public_holidays" in out.output


def test_a_pair_or_a_role_makes_an_electricity_meter_a_heat_pump(tmp_path: Path) -> None:
    kinds = {r.meter: r.kind for r in meter_roles(load_site_config(_site(tmp_path)))}
    assert kinds == {"office-main": "electricity", "hp-elec": "heat_pump", "hp-heat": "heat",
                     "ahu-elec": "electricity"}
    roles = meter_roles(load_site_config(_site(tmp_path, role='role = "heat_pump"', name="r.toml")))
    assert {r.meter: r.kind for r in roles}["ahu-elec"] == "heat_pump"


# -- through `metergate alerts --from` -----------------------------------------------------------------

Rows = list[tuple[int, str, str, float]]


def _office_readings(start: datetime, days: int, *, idle_afternoons: bool) -> Rows:
    """sites.readings' office load (it follows the statutory calendar) for office-main, and a heat pump
    (hp-elec with its heat meter hp-heat, ahu-elec alike) that runs mornings and evenings but stands
    idle from 12:00 to 18:00 — a warm afternoon — when `idle_afternoons`."""
    base = readings(days, start=start, step_s=900)
    out = [(t, "office-main", q, v) for t, m, q, v in base if m == "gov-main"]
    elec = {"hp-elec": 5000.0, "ahu-elec": 7000.0}
    heat = 20000.0
    for t, m, _, _ in base:
        if m != "gov-main":
            continue
        hour = datetime.fromtimestamp(t // 10**9, TZ).hour
        running = not (idle_afternoons and 12 <= hour < 18)
        for name in elec:
            elec[name] += 2.0 if running else 0.0  # 8 kW for 15 min
        heat += 6.0 if running else 0.0
        out += [(t, "hp-elec", "energy_active_import", elec["hp-elec"]),
                (t, "ahu-elec", "energy_active_import", elec["ahu-elec"]),
                (t, "hp-heat", "heat_energy", heat)]
    return sorted(out)


def _alerts(site: Path, csv_path: Path) -> list[dict[str, object]]:
    out = runner.invoke(app, ["alerts", "--from", str(csv_path), "--config", str(site), "--json"])
    assert out.exit_code == 0, out.output
    return list(json.loads(out.output)["alerts"])


@pytest.mark.slow
def test_qingming_and_a_working_sunday_raise_nothing_with_the_calendar(tmp_path: Path) -> None:
    """Eight weeks of an office that keeps the statutory calendar (清明 off, 04-27 worked): no
    consumption anomaly or after-hours waste with [calendar] public_holidays = "cn"; the same readings
    judged on weekdays alone give them on those days (what the calendar saves the operator)."""
    csv_path = write_csv(_office_readings(datetime(2025, 3, 3, tzinfo=TZ), 58, idle_afternoons=False),
                         tmp_path / "r.csv")
    noisy = {AlertKind.CONSUMPTION_ANOMALY.value, AlertKind.AFTER_HOURS_WASTE.value,
             AlertKind.STUCK_METER.value}
    found = [a for a in _alerts(_site(tmp_path), csv_path) if a["kind"] in noisy]
    assert found == []
    weekdays_only = [a for a in _alerts(_site(tmp_path, holidays="none", name="n.toml"), csv_path)
                     if a["kind"] in noisy and a["subject"] == "office-main"]
    days = {datetime.fromtimestamp(float(str(a["start"])), TZ).date() for a in weekdays_only}
    assert days & {date(2025, 4, 4), date(2025, 4, 7), date(2025, 4, 27), date(2025, 4, 28)}


@pytest.mark.slow
def test_an_idle_heat_pump_is_not_a_stuck_meter_but_an_office_circuit_is(tmp_path: Path) -> None:
    csv_path = write_csv(_office_readings(datetime(2025, 3, 3, tzinfo=TZ), 14, idle_afternoons=True),
                         tmp_path / "r.csv")
    stuck = {a["subject"] for a in _alerts(_site(tmp_path), csv_path) if a["kind"] == "stuck_meter"}
    # hp-elec is named as hp-heat's pair; ahu-elec is an ordinary circuit flat for 6 office hours
    assert stuck == {"ahu-elec"}
    stuck = {a["subject"] for a in _alerts(_site(tmp_path, role='role = "heat_pump"', name="r.toml"),
                                            csv_path) if a["kind"] == "stuck_meter"}
    assert stuck == set()


@pytest.mark.slow
@pytest.mark.parametrize("minute", [0, 45])
def test_one_interval_faults_are_raised_at_their_first_detection(tmp_path: Path, minute: int) -> None:
    """A counter reset, a spike and an invalid reading, each in a single reading of three weeks;
    at minute 45 the detectors (which wait for the reading after an interval) know of them only
    after the hour's tick: they are raised at the next one."""
    rows = readings(21, step_s=900)
    at = rows[len(rows) // 2][0]
    at = at - at % (3600 * 10**9) + minute * 60 * 10**9
    reset_at = at - at % (86_400 * 10**9) + 3 * 3600 * 10**9 + minute * 60 * 10**9  # a night hour
    drop = next(v for t, m, _, v in rows if m == "gov-main" and t >= reset_at)
    out = []
    for t, m, q, v in rows:
        value = v
        if m == "gov-main" and t >= reset_at:
            value = round(v - drop, 4)  # the counter restarts from 0
        if m == "school-main" and t == at:
            value = v + 5000.0  # one reading far above the meter's 100 kWh/h
        if m == "gov-water" and t == at + 7200 * 10**9:
            value = -1.0  # outside the profile's plausible range: invalid
        out.append((t, m, q, value))
    csv_path = write_csv(out, tmp_path / "r.csv")
    from tests.alerts.sites import site_toml

    alerts = _alerts(site_toml(tmp_path), csv_path)
    got = {(a["kind"], a["subject"]) for a in alerts if a["kind"] in ("counter_reset", "spike", "sentinel")}
    assert got == {("counter_reset", "gov-main"), ("spike", "school-main"), ("sentinel", "gov-water")}
    reset = next(a for a in alerts if a["kind"] == "counter_reset")
    assert float(str(reset["start"])) * 10**9 <= reset_at < float(str(reset["raised"])) * 10**9
    assert float(str(reset["raised"])) * 10**9 - reset_at <= 2 * 3600 * 10**9


def test_the_lifecycle_raises_instant_kinds_at_one_tick_and_debounces_the_others() -> None:
    hour = 3600 * 10**9
    t = 1_736_000_000 // 3600 * hour
    one = [Detection(k, "m1", t - hour // 4, t - hour // 8, Severity.WARNING, 1.0, 0.0, "kWh", "x")
           for k in (AlertKind.COUNTER_RESET, AlertKind.CONSUMPTION_ANOMALY)]
    book = AlertBook("s")
    raised = [c.alert.kind for c in book.update(t, 3600, one)] + [
        c.alert.kind for c in book.update(t + hour, 3600, one)]
    assert raised == [AlertKind.COUNTER_RESET]  # the anomaly was present at one tick only
    old = AlertBook("s", LifecycleSettings(instant=frozenset()))
    assert old.update(t, 3600, one) == [] and old.update(t + hour, 3600, one) == []


def test_an_episode_reported_after_its_interval_is_present_once_when_fresh() -> None:
    hour = 3600 * 10**9
    t = 1_736_000_000 // 3600 * hour
    late = Detection(AlertKind.SPIKE, "m1", t - hour - hour // 4, t - hour, Severity.WARNING, 1.0, 0.0,
                     "kWh", "x")  # the last quarter of the previous tick's interval
    assert AlertBook("s").update(t, 3600, [late]) == []  # ended before this tick's interval
    book = AlertBook("s")
    raised = book.update(t, 3600, [late], fresh=[late])
    assert [c.alert.kind for c in raised] == [AlertKind.SPIKE]
    assert raised[0].alert.start_ns == late.start_ns
    episodes, fresh = merge_episodes({}, [late], t - hour)
    assert fresh == [late] and episodes == {}  # shown once, not kept
    _, again = merge_episodes({episode_key(late): late}, [late], t - hour)
    assert again == []
