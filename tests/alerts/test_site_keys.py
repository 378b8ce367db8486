"""The building keys quota lookup needs (level, quota_zone, heating_type, beds): optional, checked, and
reported with file, line and key when wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from site_config import ConfigError, load_site_config
from site_config.analytics_records import quota_subjects as subjects_from_site

SITE = """[site]
id = "s"
name = "Site"

[[buildings]]
id = "gov"
name = "Government office"
category = "office"
floor_area_m2 = 8000
heated_area_m2 = 7000
occupants = 300
level = "province"
quota_zone = "B"
heating_type = "district_heat"

[[buildings]]
id = "hosp"
name = "Hospital"
category = "hospital"
floor_area_m2 = 20000
occupants = 900
level = ["level_2", "class_b"]
beds = 300

[[buildings]]
id = "plain"
name = "No quota keys"
category = "school"
floor_area_m2 = 1000
occupants = 10
"""


def test_quota_keys_load_into_subjects(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text(SITE, encoding="utf-8")
    site = load_site_config(path)
    gov, hosp, plain = subjects_from_site(site)
    assert (gov.levels, gov.quota_zone, gov.heating_type, gov.heated_area_m2) == (
        ("province",), "B", "district_heat", 7000)
    assert hosp.levels == ("level_2", "class_b") and hosp.beds == 300
    assert (plain.levels, plain.quota_zone, plain.heating_type, plain.beds) == ((), None, None, None)


def test_bad_quota_keys_name_file_line_and_key(tmp_path: Path) -> None:
    text = SITE.replace('heating_type = "district_heat"', 'heating_type = "district"').replace(
        "beds = 300", "beds = -1").replace('level = "province"', 'level = "Province!"')
    path = tmp_path / "site.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_site_config(path)
    found = {p.key: (p.line, p.message) for p in e.value.problems}
    lines = text.splitlines()
    assert found["buildings[0] (id 'gov').heating_type"][0] == lines.index('heating_type = "district"') + 1
    assert "did you mean 'district_heat'" in found["buildings[0] (id 'gov').heating_type"][1]
    assert found["buildings[1] (id 'hosp').beds"][0] == lines.index("beds = -1") + 1
    assert any(k.startswith("buildings[0] (id 'gov').level") for k in found)


def test_pair_links_a_heat_meter_to_its_heat_pump(tmp_path: Path) -> None:
    base = SITE + """
[[buses]]
id = "b"
type = "tcp"
host = "127.0.0.1"

[[meters]]
id = "hp"
profile = "lambda-eu-l"
unit = 1
bus = "b"
building = "gov"
subitem = "hvac"

[[meters]]
id = "heat"
profile = "kamstrup-multical"
unit = 2
bus = "b"
building = "gov"
pair = "hp"
"""
    path = tmp_path / "site.toml"
    path.write_text(base, encoding="utf-8")
    site = load_site_config(path)
    assert next(m for m in site.meters if m.id == "heat").pair == "hp"
    path.write_text(base.replace('pair = "hp"', 'pair = "nobody"'), encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_site_config(path)
    (problem,) = e.value.problems
    assert problem.key == "meters[1] (id 'heat').pair" and "no meter 'nobody'" in problem.message
    assert problem.line == base.splitlines().index('pair = "hp"') + 1


def test_schedule_reaches_the_detectors_and_bad_hours_are_named(tmp_path: Path) -> None:
    from services.analytics.detect import building_schedules

    text = SITE.replace('heating_type = "district_heat"\n', 'heating_type = "district_heat"\n'
                        'schedule = { workdays = [0, 1, 2, 3, 4, 5], open_h = 7.5, close_h = 20 }\n')
    path = tmp_path / "site.toml"
    path.write_text(text, encoding="utf-8")
    site = load_site_config(path)
    gov = site.building("gov")
    assert gov.schedule is not None and gov.schedule.workdays == (0, 1, 2, 3, 4, 5)
    assert site.building("plain").schedule is None
    schedules = building_schedules(site)
    assert (schedules["gov"].open_h, schedules["gov"].close_h, schedules["gov"].tz) == (7.5, 20.0,
                                                                                         "Asia/Shanghai")
    assert schedules["gov"].workdays == (0, 1, 2, 3, 4, 5) and schedules["plain"].close_h == 18.0
    path.write_text(text.replace("close_h = 20", "close_h = 6"), encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_site_config(path)
    (problem,) = e.value.problems
    assert problem.key == "buildings[0] (id 'gov').schedule.close_h"
    assert "later than open_h" in problem.message
    assert problem.line == text.splitlines().index(next(x for x in text.splitlines() if "schedule" in x)) + 1
