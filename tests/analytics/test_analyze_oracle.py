"""The default `metergate analyze` (through the CLI, --json) against an oracle written apart from it.

Each meter gets its own cadence (1 s … 1 day), jitter and a few real outages; the file mixes them.
The oracle knows from the generator which steps are outages and integrates the piecewise-linear
counter of every other step over each local day, in exact fractions: no project kernel is used.
It also holds the no-zeros rule: a day without data is null (with a reason), never 0.

The site config uses upper-case ids (E01, B-1), as real building registers do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cli.commands.analyze import analyze

TZ = ZoneInfo("Asia/Shanghai")
DAY0 = datetime(2024, 3, 1, tzinfo=TZ)
DAYS = 6
S = 10**9
KGCE_PER_KWH = Fraction("0.1229")  # calorific (当量值) electricity, GB/T 2589 (config/factors)

SITE = """
[site]
id = "Hill-Side"
name = "upper-case ids"
institution = "Inst-A"
timezone = "Asia/Shanghai"

[[buildings]]
id = "B-1"
name = "one"
category = "office"
floor_area_m2 = 1200
occupants = 40

[[buildings]]
id = "B-2"
name = "two, no water meter"
category = "office"
floor_area_m2 = 800
occupants = 25

[[buses]]
id = "BUS1"
type = "tcp"
host = "127.0.0.1"
port = 5020

[[meters]]
id = "E01"
profile = "chint-dtsu666"
unit = 1
bus = "BUS1"
building = "B-1"
subitem = "total"

[[meters]]
id = "W01"
profile = "tuf-2000m"
unit = 2
bus = "BUS1"
building = "B-1"

[[meters]]
id = "E02"
profile = "chint-dtsu666"
unit = 3
bus = "BUS1"
building = "B-2"
subitem = "total"
"""
METERS = {"E01": ("B-1", "energy_active_import"), "W01": ("B-1", "water_volume"),
          "E02": ("B-2", "energy_active_import")}
AREA = {"B-1": 1200, "B-2": 800}
PEOPLE = {"B-1": 40, "B-2": 25}

app = typer.Typer()
app.command()(analyze)
app.command("noop")(lambda: None)


@dataclass
class Series:
    ts: list[int]  # ns
    value: list[float]
    outage: list[bool]  # per step i (ts[i] -> ts[i+1]): a real outage (the generator made it)


@st.composite
def meter_series(draw: st.DrawFn) -> Series:
    """Readings of one counter: cadence 1 s … 1 day, jitter up to ±30 %, 0–2 outages."""
    cadence = draw(st.sampled_from([1, 7, 60, 300, 900, 3600, 4 * 3600, 86_400]))
    n = draw(st.integers(6, 160))
    n_out = draw(st.integers(0, min(2, n // 6)))
    outages = set(draw(st.lists(st.integers(0, n - 2), min_size=n_out, max_size=n_out, unique=True)))
    window = DAYS * 86_400 * S
    steps = []
    for i in range(n - 1):
        base = cadence * S * draw(st.floats(0.7, 1.3))
        if i in outages:  # far beyond any gap limit: 10 cadences and 2 hours at least
            base = max(10 * cadence, 7200) * S * draw(st.floats(1.0, 3.0))
        steps.append(max(1, int(base)))
    span = sum(steps)
    if span >= window:  # too long for the window: keep what fits
        keep = 0
        while keep < len(steps) and sum(steps[: keep + 1]) < window:
            keep += 1
        steps = steps[:keep]
        span = sum(steps)
    offset = draw(st.integers(0, window - span - 1))
    ts = [int(DAY0.timestamp()) * S + offset]
    for d in steps:
        ts.append(ts[-1] + d)
    rate = draw(st.floats(0.5, 50.0))  # units per hour, changing now and then
    value = [draw(st.floats(0, 1e5))]
    for d in steps:
        if draw(st.booleans()):
            rate = draw(st.floats(0.5, 50.0))
        value.append(value[-1] + rate * d / (3600 * S))
    return Series(ts, value, [i in outages for i in range(len(steps))])


def oracle(series: Series, a: int, b: int) -> tuple[Fraction | None, Fraction]:
    """Consumption in [a, b) and the covered fraction, from the steps that are not outages."""
    total, covered = Fraction(0), Fraction(0)
    for i, out in enumerate(series.outage):
        t0, t1 = series.ts[i], series.ts[i + 1]
        lo, hi = max(a, t0), min(b, t1)
        if out or hi <= lo:
            continue
        slope = (Fraction(series.value[i + 1]) - Fraction(series.value[i])) / (t1 - t0)
        total += slope * (hi - lo)
        covered += Fraction(hi - lo, b - a)
    return (total if covered > 0 else None), covered


def write_csv(path: Path, data: dict[str, Series]) -> Path:
    lines = ["ts,meter,quantity,value"]
    for meter, s in data.items():
        lines += [f"{t},{meter},{METERS[meter][1]},{v!r}" for t, v in zip(s.ts, s.value, strict=True)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def close(got: float | None, want: Fraction | None, what: str) -> None:
    if want is None:
        assert got is None, f"{what}: no data, but analyze says {got}"
        return
    assert got is not None, f"{what}: {float(want)} expected, analyze says null"
    assert got == pytest.approx(float(want), rel=1e-9, abs=1e-9), what


@pytest.mark.slow  # ~20 s: 30 runs of the CLI
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(data=st.fixed_dictionaries({m: meter_series() for m in METERS}))
def test_default_analyze_equals_the_oracle(tmp_path: Path, data: dict[str, Series]) -> None:
    site = tmp_path / "site.toml"
    site.write_text(SITE, encoding="utf-8")
    csv = write_csv(tmp_path / "readings.csv", data)
    last = DAY0 + timedelta(days=DAYS - 1)
    result = CliRunner().invoke(app, ["analyze", str(csv), "--config", str(site), "--period", "day",
                                      "--from", DAY0.date().isoformat(), "--to", last.date().isoformat(),
                                      "--json"])
    assert result.exit_code == 0, result.output
    rows = {(r["level"], r["id"], r["period"]): r for r in json.loads(result.output)["rows"]}
    for day in range(DAYS):
        a = int((DAY0 + timedelta(days=day)).timestamp()) * S
        b = a + 86_400 * S
        label = (DAY0 + timedelta(days=day)).date().isoformat()
        want = {m: oracle(s, a, b) for m, s in data.items()}
        fleet_kgce, fleet_area = Fraction(0), 0
        for building, area in AREA.items():
            row = rows[("building", building, label)]
            mine = [m for m in METERS if METERS[m][0] == building]
            elec = next(m for m in mine if m.startswith("E"))
            kwh = want[elec][0]
            kgce = None if kwh is None else kwh * KGCE_PER_KWH
            close(row["electricity_kwh"], kwh, f"{building} {label} kWh")
            close(row["energy_kgce"], kgce, f"{building} {label} kgce")
            close(row["kgce_per_m2"], None if kgce is None else kgce / area, f"{building} kgce/m²")
            if kgce is None:
                assert "no electricity readings" in row["no_data"]["kgce_per_m2"]
            else:
                fleet_kgce += kgce
                fleet_area += area
            water = want["W01"][0] if building == "B-1" else None
            close(row["water_m3_per_person"], None if water is None else water / PEOPLE[building],
                  f"{building} {label} m³/person")
            if building == "B-2":
                assert row["no_data"]["water_m3_per_person"] == "no water meter in the site config"
            cov = sum(want[m][1] for m in mine) / len(mine)
            assert row["coverage"] == pytest.approx(float(cov), abs=1e-9)
        fleet = rows[("fleet", "all", label)]
        close(fleet["kgce_per_m2"], fleet_kgce / fleet_area if fleet_area else None, f"fleet {label}")
        for r in (rows[(lvl, key, label)] for lvl, key in (("building", "B-1"), ("building", "B-2"),
                                                          ("fleet", "all"))):
            # rates are positive: a 0 anywhere is a missing value turned into 0
            assert all(v != 0 for k, v in r.items() if isinstance(v, float) and k != "coverage")


def test_upper_case_ids_from_the_gateway_outbox(tmp_path: Path) -> None:
    """The gateway's outbox keeps `E01` as written, and analyze finds it in the site config."""
    from core.reading import Quality
    from drivers.reader import Reading
    from gateway.outbox import Outbox

    site = tmp_path / "site.toml"
    site.write_text(SITE, encoding="utf-8")
    box = tmp_path / "outbox.sqlite"
    t0 = DAY0.timestamp()
    with Outbox(box) as ob:
        for h in range(25):
            ob.append("E01", t0 + h * 3600, [Reading("energy_active_import", 100.0 + 2 * h, "kWh",
                                                     Quality.OK, t0 + h * 3600)])
    result = CliRunner().invoke(app, ["analyze", str(box), "--config", str(site), "--period", "day",
                                      "--json"])
    assert result.exit_code == 0, result.output
    rows = {(r["level"], r["id"]): r for r in json.loads(result.output)["rows"]}
    assert rows[("building", "B-1")]["electricity_kwh"] == pytest.approx(48.0)
    assert rows[("building", "B-2")]["energy_kgce"] is None  # E02 sent nothing
    assert "E02" in rows[("building", "B-2")]["no_data"]["energy_kgce"]
