"""`metergate probe / read / scan / simulate --protocol dlt645|cjt188` against simulated meters on
pseudo-terminals, at 2400 8E1 and 9600 8N1: values as numbers with quantity and unit, the exit codes
and messages a technician acts on."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from drivers.di_profiles import resolve_di_variant
from drivers.profiles import SerialSettings
from simulators.di_meter import DiMeter, DiMeterOptions
from simulators.frame_sim import FrameSimulator

LINES = {"2400 8E1": SerialSettings(2400, "E", 1, 8), "9600 8N1": SerialSettings(9600, "N", 1, 8)}
A, B = "000012345678", "000012345679"
WATER = "12345678901234"


def run(*argv: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(argv))
    return result.exit_code, result.output


def _line_args(settings: SerialSettings) -> list[str]:
    return ["--baud", str(settings.baud), "--parity", settings.parity]


@pytest.fixture(params=sorted(LINES))
def dlt_line(request: pytest.FixtureRequest) -> Iterator[tuple[FrameSimulator, list[str]]]:
    settings = LINES[request.param]
    meters = [DiMeter(resolve_di_variant("dlt645-2007", "dlt645"), A,
                      options=DiMeterOptions(line=settings, preamble_varies=True)),
              DiMeter(resolve_di_variant("chint-dtsu666", "dlt645"), B,
                      options=DiMeterOptions(line=settings))]
    sim = FrameSimulator("dlt645", meters)
    sim.add_pty()
    with sim:
        yield sim, ["--serial", sim.pty_endpoint.device, *_line_args(settings)]


def test_probe_json_gives_numbers_with_quantity_and_unit(dlt_line: tuple[FrameSimulator, list[str]]) -> None:
    sim, line = dlt_line
    sim.meter(A).set("voltage_l1", 231.7)
    sim.meter(A).set("energy_active_import", 12345.67)
    code, out = run("probe", *line, "--protocol", "dlt645", "--address", A, "--profile",
                    "dlt645-2007", "--json")
    assert code == 0, out
    doc = json.loads(out)
    assert (doc["protocol"], doc["address"], doc["profile"]) == ("dlt645", A, "dlt645-2007")
    points = {p["quantity"]: p for p in doc["points"]}
    assert points["voltage_l1"]["value"] == pytest.approx(231.7)
    assert (points["voltage_l1"]["unit"], points["voltage_l1"]["di"]) == ("V", "02010100")
    assert points["energy_active_import"]["value"] == pytest.approx(12345.67)
    assert points["energy_active_import"]["unit"] == "kWh"
    assert doc["summary"]["comm_error"] == 0
    # every DI is one request
    assert doc["requests"] == len({p["di"] for p in doc["points"]})


def test_read_one_di_decodes_it(dlt_line: tuple[FrameSimulator, list[str]]) -> None:
    sim, line = dlt_line
    sim.meter(B).set("voltage_l1", 219.9)
    code, out = run("read", *line, "--protocol", "dlt645", "--address", B, "--di", "02010100",
                    "--json")
    assert code == 0, out
    doc = json.loads(out)
    assert doc["data"] == "99 21"  # BCD 219.9, 0x33 removed, low byte first
    assert {d["quantity"] for d in doc["decoded"]} == {"voltage_l1"}
    assert doc["decoded"][0]["value"] == pytest.approx(219.9)


def test_scan_two_meters_names_why_the_wildcard_fails_and_probes_given_addresses(
        dlt_line: tuple[FrameSimulator, list[str]], tmp_path: Path) -> None:
    _, line = dlt_line
    code, out = run("scan", *line, "--protocol", "dlt645", "--timeout", "0.5")
    assert code == 1
    assert "no bus-wide search" in out and "--address" in out
    listed = tmp_path / "addresses.txt"
    listed.write_text(f"# floor 2\n{B}\n000000000001\n", encoding="utf-8")
    code, out = run("scan", *line, "--protocol", "dlt645", "--address", A, "--address-file",
                    str(listed), "--timeout", "0.5", "--json")
    assert code == 0, out
    found = {m["address"]: m["answers"] for m in json.loads(out)["meters"]}
    assert found == {A: True, B: True, "000000000001": False}


def test_scan_reads_the_address_of_a_meter_alone_on_the_line() -> None:
    meter = DiMeter(resolve_di_variant("cjt188-water", "cjt188"), WATER)
    sim = FrameSimulator("cjt188", [meter])
    sim.add_pty()
    with sim:
        code, out = run("scan", "--serial", sim.pty_endpoint.device, "--protocol", "cjt188",
                        "--json")
    assert code == 0, out
    assert json.loads(out)["meters"][0]["address"] == WATER


def test_cjt188_probe_reads_water_volume_and_status() -> None:
    meter = DiMeter(resolve_di_variant("cjt188-water", "cjt188"), WATER)
    meter.set("water_volume", 321.09)
    sim = FrameSimulator("cjt188", [meter])
    sim.add_pty()
    with sim:
        code, out = run("probe", "--serial", sim.pty_endpoint.device, "--protocol", "cjt188",
                        "--address", WATER, "--profile", "cjt188-water", "--json")
    assert code == 0, out
    points = {p["quantity"]: p for p in json.loads(out)["points"]}
    assert points["water_volume"]["value"] == pytest.approx(321.09)
    assert points["water_volume"]["unit"] == "m³" and points["water_volume"]["di"] == "901F"


def test_a_silent_address_exits_1_with_what_to_check(dlt_line: tuple[FrameSimulator, list[str]]) -> None:
    _, line = dlt_line
    code, out = run("probe", *line, "--protocol", "dlt645", "--address", "999999999999",
                    "--profile", "dlt645-2007", "--timeout", "0.3")
    assert code == 1
    assert "no answer from DL/T 645-2007 address 999999999999" in out and "2400 8E1" in out


@pytest.mark.parametrize("argv, hint", [
    (["probe", "--protocol", "dlt645", "--address", "12AB", "--profile", "dlt645-2007"], "--address"),
    (["probe", "--protocol", "dlt645", "--profile", "dlt645-2007"], "--address"),
    (["probe", "--protocol", "dlt645", "--address", "1", "--profile", "eastron-sdm630"], "eastron"),
    (["read", "--protocol", "dlt645", "--address", "1", "--di", "0201"], "--di"),
    (["read", "--protocol", "cjt188", "--address", "1"], "--di"),
    (["probe", "--protocol", "mbus", "--address", "1", "--profile", "x"], "--protocol"),
    (["scan", "--address", "000012345678"], "--address"),
])
def test_bad_options_exit_2_naming_the_option(argv: list[str], hint: str) -> None:
    code, out = run(*argv, "--serial", "/dev/null")
    assert code == 2, out
    assert hint in out


def test_simulate_protocol_serves_meters_a_probe_reads(tmp_path: Path) -> None:
    link = tmp_path / "dlt"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "simulate", "--protocol", "dlt645", "--meter",
         f"{A}=chint-dtsu666", "--meter", f"{B}=dlt645-2007", "--rtu-link", str(link),
         "--preamble-varies", "--fault", f"{B}:offline", "--json", "--duration", "60"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        facts = json.loads(proc.stdout.readline())
        assert {m["address"] for m in facts["meters"]} == {A, B}
        deadline = time.monotonic() + 5
        while not link.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        code, out = run("read", "--serial", str(link), "--protocol", "dlt645", "--address", A,
                        "--di", "00010000", "--json")
        assert code == 0, out
        assert json.loads(out)["decoded"][0]["quantity"] == "energy_active_import"
        assert facts["faults"] == [{"address": B, "fault": facts["faults"][0]["fault"]}]
        code, out = run("read", "--serial", str(link), "--protocol", "dlt645", "--address", B,
                        "--di", "00010000", "--timeout", "0.5")
        assert code == 1 and f"no answer from DL/T 645-2007 address {B}" in out  # offline
    finally:
        proc.terminate()
        proc.wait(10)
