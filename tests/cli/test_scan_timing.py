"""Scan waits for the turnaround the profiles declare and reports devices that answered late.

Real RTU on a pseudo-terminal with the simulator's wire timing (request, gap, turnaround, answer),
and Modbus TCP with a late-answer fault; and the demo's commissioning tour, which must find all four
meters on its bus (a TUF-2000M with a 100 ms turnaround among them).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from drivers.scan import ProbeTiming, profile_variants
from gateway.demo_foundation import RTU_METERS

runner = CliRunner()


def test_the_default_probe_timeout_covers_the_slowest_bundled_profile() -> None:
    variants, _ = profile_variants()
    slowest = max(v.device.turnaround_ms for v in variants)
    timing = ProbeTiming.for_variants("tcp", variants)
    assert timing.turnaround_s * 1000 == slowest == 100
    at_max = {v.key for v in variants if v.device.turnaround_ms == slowest}
    assert "tuf-2000m:default" in at_max and timing.slowest in at_max
    assert timing.probe_timeout(None) >= timing.turnaround_s


@pytest.mark.rtu
def test_scan_over_rtu_finds_a_slow_meter_and_reports_one_slower_than_its_profile(
        modbus_simulator: Any) -> None:
    # unit 3 answers in its profile's 100 ms turnaround; unit 5 is a DTSU666 (profile: 30 ms, so
    # an answer within 133 ms) that takes 130 ms: found, and reported answered late
    sim = modbus_simulator(["1=chint-dtsu666,stopbits=1", "3=tuf-2000m",
                            "5=chint-dtsu666,stopbits=1,turnaround=130"], tcp=False, rtu=True)
    device = sim.rtu_endpoint.device
    result = runner.invoke(app, ["scan", "--serial", device, "--baud", "9600", "--parity", "N",
                                 "--units", "1-6", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    found = {d["unit"]: d for d in data["devices"]}
    assert sorted(found) == [1, 3, 5]
    assert found[3]["profile"] == "tuf-2000m" and not found[3]["late"]
    assert found[1]["profile"] == "chint-dtsu666" and not found[1]["late"]
    assert found[5]["profile"] == "chint-dtsu666" and found[5]["late"]
    assert found[5]["response_ms"] > found[5]["expected_ms"]
    assert found[3]["response_ms"] > 100  # a real 100 ms turnaround was waited for
    assert data["late"] == [5]
    assert data["probe_timeout_ms"]["9600 8N1"] == pytest.approx(203, abs=1)
    assert "found unit 5 at 9600 8N1: Chint DTSU666 (chint-dtsu666:native) (answered late" \
        in result.stderr
    assert "declares the slowest turnaround, 100 ms" in result.stderr


@pytest.mark.rtu
def test_the_old_80_ms_window_would_have_missed_the_tuf(modbus_simulator: Any) -> None:
    # the same bus probed with the former window (wire time + 80 ms = 103 ms at 9600 8N1): the TUF
    # answers after it, so a scan relies on the garbled-answer retry; with nothing probed after it
    # the TUF is not found at all. The default timeout finds it (previous test).
    sim = modbus_simulator(["3=tuf-2000m"], tcp=False, rtu=True)
    result = runner.invoke(app, ["scan", "--serial", sim.rtu_endpoint.device, "--baud", "9600",
                                 "--parity", "N", "--units", "3", "--timeout", "0.103", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["devices"] == []


def test_scan_over_tcp_reports_a_late_answer(modbus_simulator: Any) -> None:
    # unit 1 is left empty: the first probe of a process also pays pymodbus's first-use cost
    sim = modbus_simulator(["2=chint-dtsu666", "5=chint-dtsu666"])
    # the presence probe of unit 5 is answered 145 ms late: after its profile's window (30 ms
    # turnaround + 100 ms), before the scan's timeout (100 ms + 100 ms)
    sim.meters[5].inject("late:delay=0.145,count=1")
    ep = sim.tcp_endpoint
    result = runner.invoke(app, ["scan", "--tcp", f"{ep.host}:{ep.port}", "--units", "1-6",
                                 "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    found = {d["unit"]: d for d in data["devices"]}
    assert sorted(found) == [2, 5]
    assert not found[2]["late"]
    assert found[5]["late"] and found[5]["expected_ms"] == 130
    assert found[5]["response_ms"] >= 145
    assert data["probe_timeout_ms"]["tcp"] == 200
    table = runner.invoke(app, ["scan", "--tcp", f"{ep.host}:{ep.port}", "--units", "5"])
    assert "late" not in table.stdout  # the fault was one answer only: no longer late


@pytest.mark.rtu
def test_the_demo_commissioning_tours_scan_finds_all_four_meters(modbus_simulator: Any) -> None:
    # the tour's own bus (gateway/demo_foundation.py: four meters at 9600 8N1 on a pty, a TUF-2000M
    # with its 100 ms turnaround among them) and the tour's own scan command
    # with the line the tour gives them (`metergate simulate ... --baud 9600 --parity N`)
    sim = modbus_simulator([f"{m},baud=9600,parity=N" for m in RTU_METERS], tcp=False, rtu=True,
                           seed=7)
    result = runner.invoke(app, ["scan", "--serial", sim.rtu_endpoint.device, "--baud", "9600",
                                 "--parity", "N", "--units", "1-6"])
    assert result.exit_code == 0, result.output
    text = result.stdout + result.stderr
    assert "4 device(s) in" in text, text
    for unit, model in ((1, "chint-dtsu666"), (2, "eastron-sdm120"), (3, "tuf-2000m"),
                        (4, "kamstrup-multical")):
        assert f"found unit {unit} at 9600 8N1" in text
        assert f"--unit {unit} --profile {model}" in text
