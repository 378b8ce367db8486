"""The [report] section of the analytics config: defaults, every problem by file:line:key with the
rest of the config's, the commented example valid once uncommented, and reserved ids."""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path

import pytest

from services.analytics.config import AnalyticsConfigError, load_analytics_config
from tests.alerts.sites import site_toml

ROOT = Path(__file__).resolve().parents[2]
HEAD = """sites = ["site.toml"]

[mqtt]
host = "127.0.0.1"
"""


def _load(tmp_path: Path, text: str) -> tuple[Path, str]:
    site_toml(tmp_path)
    cfg = tmp_path / "analytics.toml"
    cfg.write_text(HEAD + text, encoding="utf-8")
    return cfg, HEAD + text


def test_off_by_default_and_the_defaults(tmp_path: Path) -> None:
    cfg, _ = _load(tmp_path, "")
    assert load_analytics_config(cfg).report is None
    cfg, _ = _load(tmp_path, '\n[report]\nfolder = "reports"\n')
    r = load_analytics_config(cfg).report
    assert r is not None
    assert (r.folder, r.formats, r.lang, r.day, r.at, dict(r.institutions), r.alerts) == (
        tmp_path / "reports", ("pdf", "xlsx"), "zh", 1, time(6, 0), {}, True)
    cfg, _ = _load(tmp_path, '\n[report]\nenabled = false\nfolder = "reports"\n')
    assert load_analytics_config(cfg).report is None


def test_problems_name_file_line_and_key(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    cfg, text = _load(tmp_path, """
[report]
folder = "a-file"
formats = ["pdf", "docx"]
lang = "fr"
day = 31
at = "6 am"
institutions = ["Nowhere College"]
colour = "blue"
""")
    with pytest.raises(AnalyticsConfigError) as e:
        load_analytics_config(cfg)
    found = {p.key: (p.line, p.message) for p in e.value.problems}
    lines = text.splitlines()
    for key, line in (("report.formats[1]", 'formats = ["pdf", "docx"]'), ("report.lang", 'lang = "fr"'),
                      ("report.day", "day = 31"), ("report.colour", 'colour = "blue"')):
        assert found[key][0] == lines.index(line) + 1, (key, found)
    assert all(p.file == str(cfg) for p in e.value.problems)
    # once the shape is right, the meaning
    cfg.write_text(text.replace('formats = ["pdf", "docx"]\n', 'formats = ["pdf", "pdf"]\n')
                   .replace('lang = "fr"\n', "").replace("day = 31\n", "").replace('colour = "blue"\n', ""),
                   encoding="utf-8")
    with pytest.raises(AnalyticsConfigError) as e:
        load_analytics_config(cfg)
    found = {p.key: (p.line, p.message) for p in e.value.problems}
    assert "HH:MM" in found["report.at"][1]
    assert "not a folder" in found["report.folder"][1]
    assert "twice" in found["report.formats"][1]
    assert "'Nowhere College'" in found["report.institutions[0]"][1]


def test_a_gateway_called_reports_is_refused(tmp_path: Path) -> None:
    cfg, _ = _load(tmp_path, "")
    site = tmp_path / "site.toml"
    site.write_text(site.read_text().replace('[site]\n', '[site]\ngateway_id = "reports"\n'))
    with pytest.raises(AnalyticsConfigError, match="'reports' is reserved"):
        load_analytics_config(cfg)


def test_the_commented_example_is_valid_once_uncommented(tmp_path: Path) -> None:
    text = (ROOT / "config/examples/analytics.toml").read_text(encoding="utf-8")
    block = re.search(r"^# --- report ---\n(.*?)^# --- end of report ---$", text, re.MULTILINE | re.DOTALL)
    assert block, "the example has no report block"
    active = "\n".join(re.sub(r"^# ?", "", ln) for ln in block.group(1).splitlines())
    folder = ROOT / "config/examples"
    cfg = folder / f".uncommented-{tmp_path.name}.toml"  # beside the example: its sites resolve
    cfg.write_text(text.replace(block.group(0), active), encoding="utf-8")
    try:
        loaded = load_analytics_config(cfg)
    finally:
        cfg.unlink()
    assert loaded.report is not None
    assert loaded.report.institutions == {"hillside-college": ("Hillside Vocational College",)}
