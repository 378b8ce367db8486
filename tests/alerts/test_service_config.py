"""The analytics service config: the example is usable; every problem is reported with file, line
and key, including those of the site configs it names and the detector overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from services.analytics.config import AnalyticsConfigError, load_analytics_config
from tests.alerts.sites import site_toml

ROOT = Path(__file__).resolve().parents[2]


def test_the_example_config_checks() -> None:
    r = CliRunner().invoke(app, ["analytics", str(ROOT / "config/examples/analytics.toml"), "--check"])
    assert r.exit_code == 0, r.output
    assert "hillside-college" in r.output and "share group 'analytics'" in r.output


def test_problems_name_file_line_and_key(tmp_path: Path) -> None:
    site_toml(tmp_path)
    text = """sites = ["site.toml", "missing.toml"]

[mqtt]
host = "127.0.0.1"
protocol = "3.1.1"
share_group = "a/b"

[engine]
interval = "7m"
raise_after = 0

[detectors]
leak_k = 3.0
leak_nights = "two"
"""
    cfg = tmp_path / "analytics.toml"
    cfg.write_text(text, encoding="utf-8")
    with pytest.raises(AnalyticsConfigError) as e:
        load_analytics_config(cfg)
    found = {p.key: (p.line, p.message) for p in e.value.problems}
    lines = text.splitlines()
    assert found["mqtt.protocol"][0] == lines.index('protocol = "3.1.1"') + 1
    assert found["mqtt.share_group"][0] == lines.index('share_group = "a/b"') + 1
    assert found["engine.raise_after"][0] == lines.index("raise_after = 0") + 1
    r = CliRunner().invoke(app, ["analytics", str(cfg), "--check"])
    assert r.exit_code == 2 and f"{cfg}:" in r.output
    # once the shape is right, the meaning: a missing site config, an interval, a detector setting
    cfg.write_text(text.replace('protocol = "3.1.1"\n', "").replace('share_group = "a/b"\n', "")
                   .replace("raise_after = 0\n", ""), encoding="utf-8")
    with pytest.raises(AnalyticsConfigError) as e:
        load_analytics_config(cfg)
    text2 = cfg.read_text()
    found = {p.key: (p.line, p.message) for p in e.value.problems}
    assert "missing.toml" in found["sites[1]"][1]
    assert "must divide a day" in found["engine.interval"][1]
    assert any(k.startswith("detectors") for k in found), found
    assert found["sites[1]"][0] == text2.splitlines().index('sites = ["site.toml", "missing.toml"]') + 1
