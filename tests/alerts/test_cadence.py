"""Meters read once an hour are judged on hourly intervals (analytics.detectors.cadence), through
`metergate alerts --from` as documented, and the batch's fast path still equals the tick-by-tick one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from analytics.alert_engine import EngineSettings, run_batch
from analytics.detectors import DetectorSettings, MeterRole
from analytics.detectors.cadence import cadence_class, group_roles, measured_cadence
from analytics.factors import load_factors
from analytics.quotas import load_quotas
from analytics.readings_io import Columns, read_readings
from cli.main import app
from services.analytics.detect import configured_cadence, site_detectors
from site_config import load_site_config
from site_config.analytics_records import site_context
from tests.alerts.sites import readings, site_toml, write_csv

runner = CliRunner()
QUOTA = ("quota_", "reduction_target")


def _detector_alerts(site: Path, csv_path: Path) -> list[dict[str, object]]:
    out = runner.invoke(app, ["alerts", "--from", str(csv_path), "--config", str(site), "--json"])
    assert out.exit_code == 0, out.output
    return [a for a in json.loads(out.output)["alerts"] if not str(a["kind"]).startswith(QUOTA)]


def test_cadence_classes_and_pairs() -> None:
    s = DetectorSettings()
    assert [cadence_class(x, s) for x in (None, 5.0, 900.0, 1800.0, 1801.0, 3600.0, 7200.0, 86_400.0)] == [
        "fast", "fast", "fast", "fast", "hourly", "hourly", "hourly", "fast"]
    roles = [MeterRole("e", "b", "heat_pump", "energy_active_import"),
             MeterRole("h", "b", "heat", "heat_energy", pair="e"),
             MeterRole("w", "b", "water", "water_volume")]
    groups = group_roles(roles, {"e": 900.0, "h": 3600.0, "w": 900.0}, s)
    assert {k: [r.meter for r in v] for k, v in groups.items()} == {"hourly": ["e", "h"], "fast": ["w"]}


def test_measured_cadence_is_each_meters_median_step() -> None:
    ts = np.array([0, 3600, 7203, 10_800, 0, 900, 1801, 2700], np.int64) * 10**9
    meter = np.array(["a"] * 4 + ["b"] * 4)
    got = measured_cadence({"energy_active_import": Columns(meter, ts, np.arange(8.0))})
    assert got == {"a": 3600.0, "b": 900.0}


def test_configured_cadence_is_the_counters_poll_interval(tmp_path: Path) -> None:
    site = load_site_config(site_toml(tmp_path))
    assert set(configured_cadence(site)) == {"gov-main", "gov-water", "school-main"}
    assert all(v == site.poll_interval_s for v in configured_cadence(site).values())


@pytest.mark.slow
def test_an_hourly_water_meter_leak_is_found_and_its_clean_copy_is_quiet(tmp_path: Path) -> None:
    """Readings once an hour (a 15-minute cell has no reading on either side within max_gap_s): a
    0.3 m³/h leak from day 14 is raised on the water meter, the clean copy raises no detector alert."""
    site = site_toml(tmp_path)
    leak = write_csv(readings(24, step_s=3600, leak_m3_per_h=0.3, leak_from_day=14), tmp_path / "leak.csv")
    clean = write_csv(readings(24, step_s=3600), tmp_path / "clean.csv")
    found = _detector_alerts(site, leak)
    assert {(a["kind"], a["subject"]) for a in found} == {("water_leak", "gov-water")}, found
    assert _detector_alerts(site, clean) == []


def test_run_batch_fast_equals_tick_by_tick_with_hourly_meters(tmp_path: Path) -> None:
    site = load_site_config(site_toml(tmp_path))
    data = read_readings(write_csv(readings(days=20, step_s=3600, leak_m3_per_h=0.3, leak_from_day=12),
                                   tmp_path / "r.csv"))
    cadence = measured_cadence(data)
    assert set(cadence.values()) == {3600.0}
    args = (data, site_context(site), load_quotas(), load_factors(), EngineSettings(3600, 600))
    fast = run_batch(*args, detectors=site_detectors(site, cadence_s=cadence))
    slow = run_batch(*args, detectors=site_detectors(site, cadence_s=cadence), tick_by_tick=True)
    assert [repr(c) for c in fast.changes] == [repr(c) for c in slow.changes]
    assert [repr(d) for d in fast.detections] == [repr(d) for d in slow.detections]
    assert any(d.kind.value == "water_leak" for d in fast.detections)


def test_the_service_takes_the_cadence_from_the_poll_interval(tmp_path: Path) -> None:
    path = site_toml(tmp_path)
    text = path.read_text(encoding="utf-8").replace(
        'id = "gov-water"\nprofile = "tuf-2000m"\nunit = 2\nbus = "bus1"\nbuilding = "gov"\n',
        'id = "gov-water"\nprofile = "tuf-2000m"\nunit = 2\nbus = "bus1"\nbuilding = "gov"\n'
        'poll = [{ interval = "1h", quantities = ["water_volume"] }]\n')
    path.write_text(text, encoding="utf-8")
    site = load_site_config(path)
    assert configured_cadence(site)["gov-water"] == 3600.0
    detectors = site_detectors(site)
    assert detectors is not None
    assert detectors.inner.classes == {"gov-main": "fast", "gov-water": "hourly", "school-main": "fast"}


def test_mixed_cadences_fast_path_equals_tick_by_tick(tmp_path: Path) -> None:
    """15-minute electricity meters beside an hourly water meter: two detector groups, each fed only
    its own meters' readings, give the same detections either way."""
    rows = [r for r in readings(days=16, step_s=900, leak_m3_per_h=0.3, leak_from_day=10)
            if r[1] != "gov-water" or r[0] % (3600 * 10**9) == 0]
    site = load_site_config(site_toml(tmp_path))
    data = read_readings(write_csv(rows, tmp_path / "r.csv"))
    cadence = measured_cadence(data)
    assert cadence == {"gov-main": 900.0, "school-main": 900.0, "gov-water": 3600.0}
    detectors = site_detectors(site, cadence_s=cadence)
    assert detectors is not None and set(detectors.inner.groups) == {"fast", "hourly"}
    args = (data, site_context(site), load_quotas(), load_factors(), EngineSettings(3600, 600))
    fast = run_batch(*args, detectors=site_detectors(site, cadence_s=cadence))
    slow = run_batch(*args, detectors=site_detectors(site, cadence_s=cadence), tick_by_tick=True)
    assert [repr(d) for d in fast.detections] == [repr(d) for d in slow.detections]
    assert any(d.kind.value == "water_leak" and d.subject == "gov-water" for d in fast.detections)
