"""`metergate report` on a year of hourly readings, in all three formats, read back with independent
tools (pdftotext and pdffonts of poppler-utils, openpyxl, the HTML's own table cells): every number
equals `metergate analyze --json` (run as its own process) for the same days, a number without data
is "—" or an empty cell, the charts are there and the PDF embeds a CJK font for its 中文."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from reports.formatting import CHANGE, FORMATS, fmt
from tests.reports.site import INSTITUTION, TZ, write_site

pytest.importorskip("weasyprint")
pytest.importorskip("openpyxl")
REPO = Path(__file__).resolve().parents[2]
HEADLINE = ("kgce_per_m2", "kgce_per_person", "water_m3_per_person", "kgco2_per_m2")
ZH = {"kgce_per_m2": "单位建筑面积能耗", "kgce_per_person": "人均综合能耗",
      "water_m3_per_person": "人均用水量", "kgco2_per_m2": "单位建筑面积碳排放",
      "energy_kgce": "综合能耗", "co2_kg": "碳排放"}
AMOUNTS = {"electricity": "electricity_kwh", "heat": "heat_kwh", "natural_gas": "natural_gas_m3",
           "water": "water_m3"}


def metergate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, timeout=300, check=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_site(tmp_path_factory.mktemp("report"))


def analyze(files: tuple[Path, Path], first: str, last: str, period: str) -> list[dict[str, Any]]:
    site, readings = files
    out = metergate("analyze", readings, "--config", site, "--from", first, "--to", last, "--period",
                    period, "--json")
    assert out.returncode == 0, out.stderr
    return list(json.loads(out.stdout)["rows"])


@pytest.fixture(scope="module")
def expected(files: tuple[Path, Path]) -> dict[str, Any]:
    """analyze --json for 2024: the year with the year before (for the change), and its months."""
    rows = analyze(files, "2023-01-01", "2024-12-31", "year")
    months = analyze(files, "2024-01-01", "2024-12-31", "month")
    return {level: {"year": next(r for r in rows
                                 if (r["level"], r["id"], r["period"]) == (level, key, "2024")),
                    "months": [r for r in months if (r["level"], r["id"]) == (level, key)]}
            for level, key in (("fleet", "all"), ("institution", INSTITUTION))}


def stored(value: float | None) -> float | None:
    """A number as a workbook holds it: openpyxl writes 16 significant digits (Excel shows 15)."""
    return None if value is None else float(f"{value:.16g}")


def report(files: tuple[Path, Path], out: Path, *extra: str) -> None:
    site, readings = files
    done = metergate("report", "--from", readings, "--config", site, "--period", "2024", "-o", out, *extra)
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 0


def test_the_example_data_has_what_the_report_must_show(expected: dict[str, Any]) -> None:
    year = expected["institution"]["year"]
    assert all(year[f"{k}_yoy"] is not None for k in HEADLINE if year[k] is not None)
    july = next(m for m in expected["institution"]["months"] if m["period"] == "2024-07")
    assert july["water_m3"] is None  # the water meter sent nothing in July: no data, not 0
    assert july["electricity_kwh"] is not None


def _html_rows(text: str, section: str, table: str) -> dict[str, list[str]]:
    body = text.split(f'id="{section}"', 1)[1].split("</section>", 1)[0]
    part = body.split(f'<table class="{table}">', 1)[1].split("</table>", 1)[0]
    rows = {}
    for key, cells in re.findall(r'<tr data-key="([^"]+)">(.*?)</tr>', part, re.S):
        rows[key] = [html.unescape(c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", cells, re.S)]
    return rows


def test_html_numbers_are_analyze_numbers(files: tuple[Path, Path], expected: dict[str, Any],
                                          tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    report(files, out, "--no-alerts")
    text = out.read_text(encoding="utf-8")
    for level, key in (("fleet", "all"), ("institution", INSTITUTION)):
        want = expected[level]["year"]
        rows = _html_rows(text, f"{level}-{key}", "indicators")
        for name, label in ZH.items():
            assert rows[name][0] == label
            assert rows[name][2] == fmt(want[name], FORMATS[name]), name
        for name in HEADLINE:
            assert rows[name][3] == fmt(want[f"{name}_yoy"], CHANGE), name
        carriers = _html_rows(text, f"{level}-{key}", "carriers")
        for carrier, amount in AMOUNTS.items():
            assert carriers[carrier][2] == fmt(want[amount]), carrier
        # no gas meter: "—", with its reason in the report's language (zh)
        assert carriers["natural_gas"][2] == "—" and carriers["natural_gas"][3] == "无此能源品种的表计"
    # the months table: July's water is "—", never 0
    months = text.split(f'id="institution-{INSTITUTION}"', 1)[1].split('<table class="months">', 1)[1]
    july = re.search(r"<tr><td>2024-07</td>(.*?)</tr>", months, re.S)
    assert july and re.findall(r"<td[^>]*>(.*?)</td>", july.group(1))[2] == "—"
    assert text.count("<svg") >= 4  # a monthly and a daily chart per section
    style = text.split("<style>", 1)[1].split("</style>", 1)[0]
    assert 'font-family: "' in style and "&#34;" not in style  # the CSS as written, not escaped
    assert "电能 energy (kWh)" in text or "kWh" in text


def test_subitems_by_code_with_unclassified(files: tuple[Path, Path], expected: dict[str, Any],
                                            tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    report(files, out, "--no-alerts", "--institution", INSTITUTION)
    rows = _html_rows(out.read_text(encoding="utf-8"), f"institution-{INSTITUTION}", "subitems")
    assert rows["hvac"][:2] == ["空调用电", "01B00"] and rows["lighting_sockets"][1] == "01A00"
    assert rows["unclassified"][0] == "未分项"
    assert "power" not in rows and "special" not in rows  # sub-items without a meter: not listed
    total = expected["institution"]["year"]["electricity_kwh"]
    parts = [float(rows[k][3].replace(",", "")) for k in ("hvac", "lighting_sockets", "unclassified")]
    assert sum(parts) == pytest.approx(total, abs=0.3)  # the sub-items and the rest make the total
    assert parts[2] > 0.5 * total  # the hall has no sub-item meter: all of it is unclassified


def test_xlsx_cells_are_analyze_values(files: tuple[Path, Path], expected: dict[str, Any],
                                       tmp_path: Path) -> None:
    from openpyxl import load_workbook

    out = tmp_path / "r.xlsx"
    report(files, out, "--no-alerts", "--lang", "en")
    book = load_workbook(out)
    sheet = {ws.title: [dict(zip([c.value for c in ws[1]], r, strict=True))
                        for r in ws.iter_rows(min_row=2, values_only=True)] for ws in book.worksheets}
    for level, section in (("fleet", "fleet"), ("institution", INSTITUTION)):
        want = expected[level]["year"]
        got = {r["indicator"]: r for r in sheet["Indicators"] if r["section"] == section}
        for name in [*ZH, "heating_kgce_per_m2"]:
            assert got[name]["value"] == stored(want[name]), name  # not rounded to what is shown
        for name in HEADLINE:
            assert got[name]["yoy"] == stored(want[f"{name}_yoy"]), name
        carriers = {r["carrier"]: r["value"] for r in sheet["By carrier"] if r["section"] == section}
        assert carriers == {c: stored(want[a]) for c, a in AMOUNTS.items()}
        assert carriers["natural_gas"] is None  # an empty cell, not 0
        months = [r for r in sheet["By month"] if r["section"] == section]
        assert [(r["month"], r["electricity_kwh"], r["energy_kgce"], r["water_m3"]) for r in months] == [
            (m["period"], stored(m["electricity_kwh"]), stored(m["energy_kgce"]), stored(m["water_m3"]))
            for m in expected[level]["months"]]
    # each month's sub-items and the unclassified rest add up to that month's electricity
    for m in expected["institution"]["months"]:
        parts = [r["kwh"] for r in sheet["Sub-items by month"]
                 if (r["section"], r["month"]) == (INSTITUTION, m["period"])]
        assert len(parts) == 3 and sum(parts) == pytest.approx(m["electricity_kwh"], rel=1e-12)
    meters = {r["meter"]: r for r in sheet["Data coverage per meter"] if r["section"] == INSTITUTION}
    assert meters["office-main"]["coverage"] == 1.0 and meters["office-main"]["missing"] is None
    assert meters["office-water"]["coverage"] < 0.95 and "2024-07-01" in meters["office-water"]["missing"]
    assert "2024-05-10" in meters["office-light"]["missing"] and meters["office-light"]["reason"]
    assert len([r for r in sheet["Electricity by day"] if r["section"] == INSTITUTION]) == 366


@pytest.mark.skipif(not shutil.which("pdftotext") or not shutil.which("pdffonts"),
                    reason="poppler-utils (pdftotext, pdffonts) not installed: scripts/test installs it")
def test_pdf_text_is_analyze_numbers_with_an_embedded_cjk_font(files: tuple[Path, Path],
                                                              expected: dict[str, Any],
                                                              tmp_path: Path) -> None:
    out = tmp_path / "r.pdf"
    report(files, out, "--no-alerts", "--institution", INSTITUTION, "--format", "pdf")
    text = subprocess.run(["pdftotext", "-layout", out, "-"], capture_output=True, text=True,
                          check=True).stdout
    want = expected["institution"]["year"]
    lines = {line.split()[0]: line.split() for line in text.splitlines() if line.split()}
    assert "能耗报告" in text and "未分项" in text and INSTITUTION in text
    for name, label in ZH.items():
        assert lines[label][2] == fmt(want[name], FORMATS[name]), (label, lines[label])
    for name in HEADLINE:
        assert lines[ZH[name]][3] == fmt(want[f"{name}_yoy"], CHANGE), name
    for m in expected["institution"]["months"]:
        assert lines[m["period"]][1:] == [fmt(m["electricity_kwh"]), fmt(m["energy_kgce"], ",.0f"),
                                          fmt(m["water_m3"])], m["period"]
    fonts = subprocess.run(["pdffonts", out], capture_output=True, text=True, check=True).stdout
    cjk = [line for line in fonts.splitlines()[2:]
           if re.search(r"CJK|WenQuanYi|Han|Hei|Song|Ming", line, re.I)]
    assert cjk and all(line.split()[-5] == "yes" for line in cjk), fonts  # emb = yes
    assert "Serif" not in fonts, fonts  # the page's font is the CJK one, no fallback to a default serif
    images = subprocess.run(["pdfimages", "-list", out], capture_output=True, text=True, check=True).stdout
    assert len([x for x in images.splitlines()[2:] if " image " in x]) >= 2  # the two charts


@pytest.mark.slow  # two detector batches over 15 months (about 10 s)
def test_quota_status_and_reduction_target_are_alerts_from_up_to_the_end(tmp_path: Path) -> None:
    """With the batch of `alerts --from`: the quota status, and a reduction target's (last year's use
    less 2 %), in the report of March 2024 are what `alerts --from --json` gives for the readings up to
    the end of March (and its first hour of April, so that 31 March is a complete day)."""
    site, readings = write_site(tmp_path, datetime(2023, 1, 1, tzinfo=TZ), datetime(2024, 4, 3, tzinfo=TZ))
    upto = tmp_path / "upto.csv"
    lines = readings.read_text(encoding="utf-8").splitlines()
    upto.write_text("\n".join([lines[0], *(x for x in lines[1:] if x[:19] <= "2024-04-01T01:05:00")]) + "\n",
                    encoding="utf-8")
    done = metergate("alerts", "--from", upto, "--config", site, "--reduction", "-0.02", "--json")
    assert done.returncode == 0, done.stderr
    want = json.loads(done.stdout)["quota_status"]
    out = tmp_path / "m.xlsx"
    done = metergate("report", "--from", readings, "--config", site, "--period", "2024-03", "-o", out,
                     "--reduction", "-0.02")
    assert done.returncode == 0, done.stderr
    from openpyxl import load_workbook

    ws = load_workbook(out)["定额状态"]
    got = [dict(zip([c.value for c in ws[1]], r, strict=True))
           for r in ws.iter_rows(min_row=2, values_only=True)]
    got = [q for q in got if q["section"] == "fleet"]
    assert want and len(got) == len(want)
    for q, w in zip(got, want, strict=True):
        assert (q["building"], q["scope"], q["day"], q["tier"]) == (w["building"], w["scope"], "2024-03-31",
                                                                    w["tier"])
        assert (q["ytd"], q["projected"]) == (stored(w["ytd"]), stored(w["projected"]))
        assert q["target"] == (stored(w["tiers"]["target"]) if w["scope"].startswith("reduction:") else None)
        # the reduction target's progress: the year-end projection as a share of the target's year value
        assert q["projected_of_target"] == (None if q["target"] is None else
                                            pytest.approx(q["projected"] / q["target"], rel=1e-15))
    assert any(q["scope"].startswith("reduction:") and q["target"] for q in got)  # last year's use − 2 %


@pytest.mark.parametrize(("args", "needle"), [
    (("--period", "2024-13"), "month 13"),
    (("--period", "24"), "expected a year"),
    (("--period", "2024", "--institution", "nobody"), "'nobody': no such institution"),
    (("--period", "2024", "--format", "docx"), "--format 'docx'"),
    (("--period", "2024", "--lang", "fr"), "--lang 'fr'"),
])
def test_bad_input_names_what_and_where(files: tuple[Path, Path], tmp_path: Path, args: tuple[str, ...],
                                        needle: str) -> None:
    site, readings = files
    done = metergate("report", "--from", readings, "--config", site, "-o", tmp_path / "r.html", "--no-alerts",
                     *args)
    assert done.returncode == 2 and needle in done.stderr, done.stderr


def test_unwritable_output_and_empty_period(files: tuple[Path, Path], tmp_path: Path) -> None:
    site, readings = files
    done = metergate("report", "--from", readings, "--config", site, "--period", "2024", "--no-alerts",
                     "-o", tmp_path / "no-such-folder" / "r.pdf")
    assert done.returncode == 2 and "no-such-folder" in done.stderr and "does not exist" in done.stderr
    done = metergate("report", "--from", readings, "--config", site, "--period", "2022", "--no-alerts",
                     "-o", tmp_path / "r.html")
    assert done.returncode == 1 and "no readings in 2022-01-01" in done.stderr, done.stderr


BASIS = """
[[institutions]]
id = "JG-01"
name = "机关一"
category = "office"
buildings = ["office"]
basis = [{ year = 2023, floor_area_m2 = 3000, occupants = 120 },
         { year = 2024, floor_area_m2 = 3100, occupants = 125 }]

[[institutions]]
id = "CG-02"
name = "场馆二"
category = "venue"
buildings = ["hall"]
basis = [{ year = 2023, floor_area_m2 = 2000, occupants = 40 },
         { year = 2024, floor_area_m2 = 2000, occupants = 40 }]
"""


def test_fleet_of_institutions_from_a_basis_and_a_quarter(files: tuple[Path, Path], tmp_path: Path) -> None:
    """--basis: the fleet and each institution (one section each); a quarter is analyze's year row cut to
    its days, and its change is against the same quarter of the year before."""
    from openpyxl import load_workbook

    site, readings = files
    basis = tmp_path / "basis.toml"
    basis.write_text(BASIS, encoding="utf-8")
    out = tmp_path / "q.xlsx"
    done = metergate("report", "--from", readings, "--config", site, "--basis", basis, "--period", "2024-Q4",
                     "--no-alerts", "-o", out)
    assert done.returncode == 0, done.stderr
    ws = load_workbook(out)["能耗指标"]
    got = {(r[0], r[1]): (r[4], r[5]) for r in ws.iter_rows(min_row=2, values_only=True)}
    assert {s for s, _ in got} == {"fleet", "JG-01", "CG-02"}

    def rows(first: str, last: str) -> dict[tuple[str, str], dict[str, Any]]:
        done = metergate("analyze", readings, "--config", site, "--basis", basis, "--from", first,
                         "--to", last, "--period", "year", "--json")
        assert done.returncode == 0, done.stderr
        return {(r["level"], r["id"]): r for r in json.loads(done.stdout)["rows"]}

    now, before = rows("2024-10-01", "2024-12-31"), rows("2023-10-01", "2023-12-31")
    for section, key in (("fleet", ("fleet", "all")), ("JG-01", ("institution", "JG-01")),
                         ("CG-02", ("institution", "CG-02"))):
        for name in ("kgce_per_m2", "kgce_per_person", "energy_kgce"):
            assert got[(section, name)][0] == stored(now[key][name]), (section, name)
        # the change, written out: against 2023-Q4 (of which only December has readings)
        then = before[key]["kgce_per_m2"]
        assert got[(section, "kgce_per_m2")][1] == stored(now[key]["kgce_per_m2"] / then - 1.0), section


def test_reasons_are_in_the_reports_language(files: tuple[Path, Path], tmp_path: Path) -> None:
    """Every "no data" reason of a Chinese workbook is Chinese (a phrasing the translation does not
    know would stay English and fail here); the English workbook keeps the analytics' own words."""
    from openpyxl import load_workbook

    from reports.reasons import reason

    def reasons(lang: str) -> list[str]:
        out = tmp_path / f"r-{lang}.xlsx"
        report(files, out, "--no-alerts", "--lang", lang, "--period", "2024-07")
        book = load_workbook(out)
        found = []
        for ws in book.worksheets:
            header = [c.value for c in ws[1]]
            if "reason" in header:
                col = header.index("reason")
                found += [r[col] for r in ws.iter_rows(min_row=2, values_only=True) if r[col]]
        return found

    zh, en = reasons("zh"), reasons("en")
    # July: the water meter's month without readings, carriers without meters
    assert zh and len(zh) == len(en)
    assert all(re.search(r"[\u4e00-\u9fff]", text) for text in zh), zh
    assert zh == [reason(text, "zh") for text in en]
    assert not any(re.search(r"[\u4e00-\u9fff]", text) for text in en)
