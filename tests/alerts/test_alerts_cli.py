"""`metergate alerts`: batch over a readings file (table and JSON), listing a store, and bad input of
every kind exiting with 2 and naming the file, row, line or key."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analytics.alerts import Change
from cli.main import app
from services.analytics.store import AlertStore
from tests.alerts.sites import readings, site_toml, write_csv

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("cli")
    return site_toml(folder), write_csv(readings(days=40), folder / "readings.csv")


def test_batch_table_and_json(files: tuple[Path, Path]) -> None:
    site, csv_path = files
    table = runner.invoke(app, ["alerts", "--from", str(csv_path), "--config", str(site)])
    assert table.exit_code == 0, table.output
    assert "quota_above_constraint" in table.output and "quota_projected_exceed" in table.output
    assert "2024-01-20T00:00+08:00" in table.output
    out = runner.invoke(app, ["alerts", "--from", str(csv_path), "--config", str(site), "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    kinds = {(a["kind"], a["subject"], a["severity"], a["state"]) for a in doc["alerts"]}
    assert kinds == {("quota_above_constraint", "gov", "major", "active"),
                     ("quota_projected_exceed", "gov", "warning", "active")}
    first = doc["alerts"][0]
    assert first["id"].startswith(first["kind"] + "-") and first["end_time"] is None
    assert first["details"]["scope"] == "db37-t-2672-2019:non_heating_kgce_per_m2"
    status = {s["scope"]: s for s in doc["quota_status"] if s["building"] == "gov"}
    assert status["db37-t-2672-2019:non_heating_kgce_per_m2"]["tier"] == "constraint"
    assert any("heated area" in n for n in doc["notes"])


def test_a_standard_can_be_chosen_and_an_unknown_one_is_refused(files: tuple[Path, Path]) -> None:
    site, csv_path = files
    only_water = runner.invoke(app, ["alerts", "--from", str(csv_path), "--config", str(site), "--json",
                                     "--standard", "db37-t-4452-2021"])
    assert only_water.exit_code == 0 and json.loads(only_water.output)["alerts"] == []
    bad = runner.invoke(app, ["alerts", "--from", str(csv_path), "--config", str(site),
                              "--standard", "db37-2672"])
    assert bad.exit_code == 2 and "--standard db37-2672: no such quota standard" in bad.output


def test_bad_inputs_exit_2_naming_where(tmp_path: Path, files: tuple[Path, Path]) -> None:
    site, csv_path = files
    broken = tmp_path / "broken.csv"
    broken.write_text("ts,meter,quantity,value\n1704038400000000000,gov-main,energy_active_import,12\n"
                      "1704039300000000000,gov-main,energy_active_import,twelve\n", encoding="utf-8")
    r = runner.invoke(app, ["alerts", "--from", str(broken), "--config", str(site)])
    assert r.exit_code == 2 and f"{broken}: row 3, column 'value': not a number: 'twelve'" in r.output
    bad_site = tmp_path / "site.toml"
    bad_site.write_text(site.read_text().replace('heating_type = "district_heat"', 'heating_type = "gas"'),
                        encoding="utf-8")
    r = runner.invoke(app, ["alerts", "--from", str(csv_path), "--config", str(bad_site)])
    line = bad_site.read_text().splitlines().index('heating_type = "gas"') + 1
    assert r.exit_code == 2 and f"{bad_site}:{line}: buildings[0] (id 'gov').heating_type" in r.output
    stranger = tmp_path / "stranger.csv"
    stranger.write_text("ts,meter,quantity,value\n1704038400000000000,nobody,energy_active_import,1\n",
                        encoding="utf-8")
    r = runner.invoke(app, ["alerts", "--from", str(stranger), "--config", str(site)])
    assert r.exit_code == 2 and "meter(s) not in" in r.output and "nobody" in r.output
    r = runner.invoke(app, ["alerts", "--from", str(csv_path)])
    assert r.exit_code == 2 and "--from/--source needs --config SITE" in r.output
    r = runner.invoke(app, ["alerts", "--store", str(tmp_path / "none.sqlite")])
    assert r.exit_code == 2 and "no alert store there" in r.output
    not_store = tmp_path / "x.sqlite"
    not_store.write_text("hello", encoding="utf-8")
    r = runner.invoke(app, ["alerts", "--store", str(not_store)])
    assert r.exit_code == 2 and str(not_store) in r.output
    r = runner.invoke(app, ["alerts", "--from", str(csv_path), "--config", str(site), "--interval", "7000"])
    assert r.exit_code == 2 and "must divide a day" in r.output


def test_listing_a_store(tmp_path: Path, files: tuple[Path, Path]) -> None:
    from analytics.alert_engine import run_batch
    from analytics.factors import load_factors
    from analytics.quotas import load_quotas
    from analytics.readings_io import read_readings
    from site_config import load_site_config
    from site_config.analytics_records import site_context

    site, csv_path = files
    result = run_batch(read_readings(csv_path), site_context(load_site_config(site)), load_quotas(),
                       load_factors())
    store_path = tmp_path / "alerts.sqlite"
    with AlertStore(store_path) as store:
        store.apply(result.changes)
        first = store.active()[0]
        ack = Change("acked", replace(first, acked_ns=first.raised_ns + 1, acked_by="ops-7",
                                      ack_note="seen"), first.raised_ns + 1)
        store.apply([ack])
    r = runner.invoke(app, ["alerts", "--store", str(store_path), "--all", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert {a["id"] for a in doc["alerts"]} == {a.id for a in result.alerts}
    acked = next(a for a in doc["alerts"] if a["id"] == first.id)
    assert acked["acked"] and acked["acked_by"] == "ops-7" and acked["ack_note"] == "seen"
    table = runner.invoke(app, ["alerts", "--store", str(store_path), "--all"])
    assert table.exit_code == 0 and "ops-7" in table.output and "quota_projected_exceed" in table.output


def test_tick_progress_only_after_a_moment() -> None:
    from cli.commands.alerts import _TickProgress

    quick = _TickProgress(after_s=3600.0)
    quick(1, 10)
    assert quick.bar is None  # a short run shows nothing
    slow = _TickProgress(after_s=0.0)
    slow(1, 10)
    slow(5, 10)
    assert slow.bar is not None and slow.task is not None
    assert slow.bar.tasks[0].completed == 5 and slow.bar.tasks[0].total == 10
    slow.close()
    assert not slow.bar.live.is_started


def test_batch_progress_is_told_every_tick(files: tuple[Path, Path]) -> None:
    from analytics.alert_engine import EngineSettings, run_batch
    from analytics.factors import load_factors
    from analytics.quotas import load_quotas
    from analytics.readings_io import read_readings
    from site_config import load_site_config
    from site_config.analytics_records import site_context

    site, csv_path = files
    seen: list[tuple[int, int]] = []
    result = run_batch(read_readings(csv_path), site_context(load_site_config(site)), load_quotas(),
                       load_factors(), EngineSettings(),
                       progress=lambda done, total: seen.append((done, total)))
    assert seen == [(k + 1, len(result.ticks)) for k in range(len(result.ticks))]


def test_batch_without_any_reading_exits_1_with_one_line(tmp_path: Path, files: tuple[Path, Path]) -> None:
    site, _ = files
    empty = tmp_path / "empty.csv"
    empty.write_text("ts,meter,quantity,value\n2024-03-01T00:00:00+08:00,gov-main,energy_active_import,\n",
                     encoding="utf-8")
    out = runner.invoke(app, ["alerts", "--from", str(empty), "--config", str(site), "--json"])
    assert out.exit_code == 1  # "no alerts" would read as "all is well"
    want = f"error: {empty}: no readings (no row with a value): nothing to judge"
    assert out.output.strip().splitlines() == [want]
