"""The wheel works outside the checkout (issue 14): built from the repository, installed into a fresh
virtual environment in a temporary folder, run from another folder with a clean environment.

The wheel is built offline (`pip wheel . --no-deps --no-build-isolation`). The fresh environment gets
the wheel alone (`--no-deps --no-index`); its third-party dependencies come from the test's own
environment through a .pth line naming that site-packages folder — a plain path entry, so the
editable install living there (which maps `gateway` onto the checkout) is not activated. Each test
checks that the code and data it ran came from the fresh environment, never from the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.alerts.sites import readings, site_toml, write_csv

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "gateway", "drivers", "analytics", "simulators", "reports")


@dataclass
class Installed:
    wheel: Path
    venv: Path
    site_packages: Path
    work: Path  # an empty folder outside the checkout, the commands' working directory

    @property
    def data(self) -> Path:
        return self.site_packages / "metergate_data"

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.venv / "bin" / "metergate"), *args], cwd=self.work,
                              env=_clean_env(self.work), capture_output=True, text=True, timeout=timeout,
                              check=False)


def _clean_env(home: Path) -> dict[str, str]:
    """No PYTHONPATH, no virtualenv of ours, nothing that points into the checkout."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", "COLUMNS": "160"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    # built from a copy: setuptools' build/ in the checkout may hold modules of an older layout,
    # which would end up in the wheel, and is shared by concurrent builds
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", ".cache", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "-q", "-w", str(dist)], check=True, timeout=300,
                   cwd=base)
    (wheel,) = dist.glob("metergate-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index",
                    "--disable-pip-version-check", "-q", str(wheel)], check=True, timeout=300)
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    site_packages = Path(purelib)
    ours = Path(sysconfig.get_paths()["purelib"])
    (site_packages / "zz-test-dependencies.pth").write_text(f"{ours}\n", encoding="utf-8")
    work = base / "elsewhere"
    work.mkdir()
    yield Installed(wheel, venv, site_packages, work)


def test_the_wheel_carries_every_package_and_every_data_file(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for top in PACKAGES:
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.relative_to(ROOT).as_posix()
            assert rel in names, f"{rel} is not in the wheel: add its package to pyproject.toml"
    for folder in ("profiles", "factors", "quotas", "examples"):
        for f in (ROOT / "config" / folder).rglob("*"):
            if f.is_file():
                rel = f"metergate_data/{f.relative_to(ROOT / 'config').as_posix()}"
                assert rel in names, f"{rel} is not in the wheel"
    for unit in (ROOT / "systemd").glob("*.service"):
        assert f"metergate_data/systemd/{unit.name}" in names
    schemas = sorted((ROOT / "core" / "contract" / "schemas").glob("*.json"))
    assert schemas
    for schema in schemas:
        assert f"core/contract/schemas/{schema.name}" in names
    templates = sorted((ROOT / "reports" / "templates").iterdir())
    assert templates
    for t in templates:
        assert f"reports/templates/{t.name}" in names, f"{t.name} is not in the wheel: package-data"
    web = ROOT / "services" / "analytics" / "web"
    assets = sorted([*(web / "templates").iterdir(), *(web / "static").iterdir()])
    assert assets  # the dashboard's templates and stylesheet: it needs no CDN, so they must ship
    for a in assets:
        rel = a.relative_to(ROOT).as_posix()
        assert rel in names, f"{rel} is not in the wheel: package-data"


def test_code_and_data_come_from_the_fresh_environment(installed: Installed) -> None:
    probe = ("import cli, core, gateway, drivers, analytics, services, simulators, site_config, "
             "metergate_data, sys, json; "
             "print(json.dumps({'files': [m.__file__ for m in (cli, core, gateway, drivers, analytics, "
             "services, simulators, site_config, "
             "metergate_data)], 'path': sys.path}))")
    out = subprocess.run([str(installed.venv / "bin" / "python"), "-c", probe], cwd=installed.work,
                         env=_clean_env(installed.work), capture_output=True, text=True, check=True)
    seen = json.loads(out.stdout)
    assert all(f.startswith(str(installed.site_packages)) for f in seen["files"]), seen["files"]
    assert not [p for p in seen["path"] if p and Path(p).resolve() == ROOT], seen["path"]
    version = installed.run("--version")
    assert version.returncode == 0, version.stderr
    assert f"profiles: {installed.data / 'profiles'}" in version.stdout
    assert f"factors:  {installed.data / 'factors'}" in version.stdout
    assert str(ROOT) not in version.stdout


def test_validate_an_example_config(installed: Installed) -> None:
    out = installed.run("validate", str(installed.data / "examples" / "campus.toml"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("ok: ") and "15 meter(s)" in out.stdout


def test_probe_a_simulated_meter(installed: Installed) -> None:
    sim = subprocess.Popen([str(installed.venv / "bin" / "metergate"), "simulate", "--meter",
                            "1=chint-dtsu666", "--tcp", "127.0.0.1:0", "--json", "--duration", "60"],
                           cwd=installed.work, env=_clean_env(installed.work), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        assert sim.stdout is not None
        started = json.loads(sim.stdout.readline())
        port = started["transports"][0]["port"]
        deadline = time.monotonic() + 10
        while True:
            out = installed.run("probe", "--tcp", f"127.0.0.1:{port}", "--unit", "1", "--profile",
                                "chint-dtsu666", "--json")
            if out.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert out.returncode == 0, out.stdout + out.stderr
        found = json.loads(out.stdout)
        text = json.dumps(found)
        assert "energy_active_import" in text and "voltage" in text, text[:500]
    finally:
        sim.terminate()
        sim.wait(timeout=10)


def test_analyze_the_dongying_example(installed: Installed) -> None:
    folder = installed.data / "examples" / "dongying-2023"
    out = installed.run("analyze", "--config", str(folder / "site.toml"), "--basis",
                        str(folder / "basis.toml"), "--records", str(folder / "records.csv"),
                        "--period", "year", "--carbon-series", "enterprise-2022", "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    for figure in ("8.82", "218.92", "21.17", "38.95"):
        assert figure in text, figure


def test_alerts_from_a_readings_file(installed: Installed) -> None:
    site = site_toml(installed.work)
    csv_path = write_csv(readings(12, step_s=900, leak_m3_per_h=0.3, leak_from_day=8),
                         installed.work / "readings.csv")
    out = installed.run("alerts", "--from", str(csv_path), "--config", str(site), "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    alerts = json.loads(out.stdout)["alerts"]
    assert ("water_leak", "gov-water") in {(a["kind"], a["subject"]) for a in alerts}


def test_report_renders_with_the_templates_of_the_wheel(installed: Installed) -> None:
    from tests.reports.site import write_site

    site, csv_path = write_site(installed.work)
    out = installed.run("report", "--from", str(csv_path), "--config", str(site), "--period", "2024-06",
                        "--no-alerts", "-o", str(installed.work / "r.html"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "单位建筑面积能耗" in (installed.work / "r.html").read_text(encoding="utf-8")


def test_the_checkout_is_not_needed_even_by_name(installed: Installed) -> None:
    """Nothing in the installed code names a path of this checkout (a build that baked one in)."""
    for f in installed.site_packages.rglob("*.py"):
        if f.parent.name.startswith("__editable__") or "dist-info" in str(f):
            continue
        assert str(ROOT) not in f.read_text(encoding="utf-8", errors="replace"), f
    assert os.path.isdir(installed.data / "profiles")
