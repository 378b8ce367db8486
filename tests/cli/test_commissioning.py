"""`metergate read`, `scan` and `probe` against the real simulators (TCP, and RTU on a pty).

Runs the typer app in-process with CliRunner; the simulators serve from their own thread. Unit ranges
and line settings are kept narrow so the file runs in seconds.
"""

from __future__ import annotations

import errno
import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import serial
from typer.testing import CliRunner, Result

from cli.main import app
from drivers.codec import Order

runner = CliRunner()


def run(*args: str) -> Result:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def tcp(sim: Any) -> list[str]:
    ep = sim.tcp_endpoint
    return ["--tcp", f"{ep.host}:{ep.port}"]


# ---------------------------------------------------------------------------------------------------
# read


def test_read_shows_raw_registers_and_the_decoded_value(modbus_simulator: Any) -> None:
    sim = modbus_simulator(["1=chint-dtsu666"])
    volts = sim.meters[1].true_values()["voltage_l1"]
    result = run("read", *tcp(sim), "--unit", "1", "--address", "0x2006", "--type", "float32")
    assert result.exit_code == 0, result.output
    assert "8198 (0x2006)" in result.stdout
    assert f"float32 ABCD: {volts * 10:.6g}"[:20] in result.stdout


def test_read_json_in_every_order_and_with_a_one_based_number(modbus_simulator: Any) -> None:
    sim = modbus_simulator(["1=chint-dtsu666"])
    volts = sim.meters[1].true_values()["voltage_l1"]
    result = run("read", *tcp(sim), "--address", "8199", "--base", "1", "--type", "f32",
                 "--all-orders", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["address"] == 0x2006 and data["register_1based"] == 0x2007
    assert len(data["hex"]) == 2 and data["hex"][0].startswith("0x")
    assert data["values"][0] == pytest.approx(volts * 10, rel=1e-6)
    assert set(data["all_orders"]) == {"ABCD", "CDAB", "BADC", "DCBA"}


def test_read_without_a_type_shows_raw_registers_only(modbus_simulator: Any) -> None:
    sim = modbus_simulator(["1=chint-dtsu666"])
    result = run("read", *tcp(sim), "--address", "2006h", "--count", "3", "--json")
    data = json.loads(result.stdout)
    assert data["values"] is None and len(data["registers"]) == 3


def test_read_of_an_address_the_meter_refuses(modbus_simulator: Any) -> None:
    sim = modbus_simulator(["1=acrel-adw300"])
    sim.meters[1].inject("exception:code=2,start=0,end=10")
    result = run("read", *tcp(sim), "--address", "0", "--count", "4")
    assert result.exit_code == 1
    assert "exception 2 (illegal data address)" in result.stderr
    assert "check --base and --function" in result.stderr


# ---------------------------------------------------------------------------------------------------
# probe


def test_probe_of_a_dtsu666_is_all_ok(modbus_simulator: Any) -> None:
    sim = modbus_simulator(["1=chint-dtsu666"])
    result = run("probe", *tcp(sim), "--unit", "1", "--profile", "chint-dtsu666")
    assert result.exit_code == 0, result.output
    assert "33 ok / 0 out of range / 0 invalid / 0 comm errors" in result.stdout
    assert "voltage_l1" in result.stdout


def test_probe_json_carries_quantity_value_unit_quality(modbus_simulator: Any) -> None:
    sim = modbus_simulator(["3=chint-dtsu666:huawei"])
    result = run("probe", *tcp(sim), "--unit", "3", "--profile", "chint-dtsu666:huawei", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["profile"], data["variant"], data["unit"]) == ("chint-dtsu666", "huawei", 3)
    true = sim.meters[3].true_values()
    for point in data["points"]:
        assert {"quantity", "value", "unit", "quality"} <= set(point)
        assert point["quality"] == "ok"
        assert point["value"] == pytest.approx(true[point["quantity"]], rel=1e-6)
    assert data["summary"]["ok"] == len(data["points"])


def test_probe_json_value_is_null_when_invalid(modbus_simulator: Any) -> None:
    sim = modbus_simulator(["1=chint-dtsu666"])
    sim.meters[1].inject("nan:quantity=voltage_l1")
    data = json.loads(run("probe", *tcp(sim), "--profile", "chint-dtsu666", "--json").stdout)
    point = next(p for p in data["points"] if p["quantity"] == "voltage_l1")
    assert point["value"] is None and point["quality"] == "invalid"


@pytest.mark.parametrize("order", list(Order))
def test_probe_guess_names_the_order_the_meter_uses(modbus_simulator: Any, order: Order) -> None:
    sim = modbus_simulator([f"1=chint-dtsu666,order={order.value}"])
    result = run("probe", *tcp(sim), "--profile", "chint-dtsu666", "--guess", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["winner"]["order"] == order.value
    assert data["winner"]["address_label"] == "as profile"
    assert data["profile_fits"] == (order is Order.ABCD)
    if order is not Order.ABCD:
        assert data["advice"] == [f'set order = "{order.value}" in [variants.native.defaults]']
    assert all(p["quality"] == "ok" for p in data["points"])  # the winner's reading


def test_probe_guess_names_a_one_off_numbering_and_the_fix(modbus_simulator: Any) -> None:
    # a TUF-2000M whose registers sit one lower than the 1-based profile says: 0-based after all
    sim = modbus_simulator(["1=tuf-2000m,shift=1"])
    result = run("probe", *tcp(sim), "--profile", "tuf-2000m", "--guess")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "likely winner: order CDAB, addresses register + 1" in out
    assert "set address_base = 0 in [defaults]" in out


def test_probe_guess_on_a_word_swapped_meter_from_a_one_based_manual(
        modbus_simulator: Any) -> None:
    sim = modbus_simulator(["5=chint-dtsu666,shift=-1,order=CDAB"])
    data = json.loads(run("probe", *tcp(sim), "--unit", "5", "--profile", "chint-dtsu666",
                          "--guess", "--json").stdout)
    assert (data["winner"]["order"], data["winner"]["shift"]) == ("CDAB", -1)
    assert data["advice"] == [
        'set order = "CDAB" in [variants.native.defaults]',
        "set address_base = 1 in [variants.native.defaults] (the manual numbers registers from 1)",
        "fingerprint register checks give wire addresses: move them by -1 as well",
    ]


def test_probe_of_a_silent_unit(modbus_simulator: Any) -> None:
    sim = modbus_simulator(["1=chint-dtsu666"])
    result = run("probe", *tcp(sim), "--unit", "9", "--profile", "chint-dtsu666")
    assert result.exit_code == 1
    assert "no answer from unit 9" in result.stderr
    assert "check unit id" in result.stderr


# ---------------------------------------------------------------------------------------------------
# scan


def test_scan_over_tcp_finds_and_identifies_units(modbus_simulator: Any) -> None:
    sim = modbus_simulator(["1=chint-dtsu666", "2=chint-dtsu666:huawei", "5=eastron-sdm630"])
    result = run("scan", *tcp(sim), "--units", "1-8", "--json")
    assert result.exit_code == 0, result.output
    found = {(d["unit"], d["profile"], d["variant"]) for d in json.loads(result.stdout)["devices"]}
    assert found == {(1, "chint-dtsu666", "native"), (2, "chint-dtsu666", "huawei"),
                     (5, "eastron-sdm630", "default")}
    assert "found unit 5" in result.stderr  # emitted as found, before the final document


def test_scan_reports_an_unknown_device_honestly(modbus_simulator: Any) -> None:
    sim = modbus_simulator(["4=eastron-sdm630,order=DCBA"])
    result = run("scan", *tcp(sim), "--units", "4")
    assert result.exit_code == 0, result.output
    assert "unknown" in result.stdout
    # the hint is a complete command: connection, unit, the nearest profile and --guess
    ep = sim.tcp_endpoint
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith("unit 4: check order"))
    command = shlex.split(line.partition(": metergate ")[2])
    assert command[:4] == ["probe", "--tcp", f"{ep.host}:{ep.port}", "--unit"]
    assert command[-1] == "--guess"
    # copied as printed with the model on the label as profile, it runs and finds the order
    command[command.index("--profile") + 1] = "eastron-sdm630"
    guessed = run(*command, "--json")
    assert guessed.exit_code == 0, guessed.output
    assert json.loads(guessed.stdout)["winner"]["order"] == "DCBA"


def test_scan_finding_nothing_exits_1(modbus_simulator: Any) -> None:
    sim = modbus_simulator(["1=chint-dtsu666"])
    result = run("scan", *tcp(sim), "--units", "2-4")
    assert result.exit_code == 1
    assert "no device answered" in result.stdout


@pytest.mark.rtu
def test_scan_of_a_serial_bus_finds_units_at_their_baud_rate(modbus_simulator: Any) -> None:
    # Parity cannot be told apart on a pty (Linux ptys drop PARENB), so the bus differs from the
    # other settings tried by its baud rate; parity is covered by tests/drivers/test_scan.py.
    meters = [f"{u}={p},baud=19200,parity=N,stopbits=1" for u, p in
              ((1, "chint-dtsu666"), (2, "chint-dtsu666:huawei"), (5, "eastron-sdm630"))]
    sim = modbus_simulator(meters, tcp=False, rtu=True)
    device = sim.rtu_endpoint.device
    result = run("scan", "--serial", device, "--units", "1-6", "--baud", "9600", "--baud",
                 "19200", "--parity", "N", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    found = {(d["unit"], d["line"]["baud"], d["line"]["parity"], d["profile"], d["variant"])
             for d in data["devices"]}
    assert found == {(1, 19200, "N", "chint-dtsu666", "native"),
                     (2, 19200, "N", "chint-dtsu666", "huawei"),
                     (5, 19200, "N", "eastron-sdm630", "default")}
    assert data["settings_scanned"] == ["9600 8N1", "19200 8N1"]
    text = run("scan", "--serial", device, "--units", "5", "--baud", "19200", "--parity", "N")
    assert (f"unit 5: read it through its profile: metergate probe --serial {device} --baud 19200 "
            "--parity N --stopbits 1 --unit 5 --profile eastron-sdm630:default") in text.stdout


def test_scan_and_probe_through_a_serial_to_ethernet_converter(modbus_simulator: Any) -> None:
    sim = modbus_simulator(["2=eastron-sdm120"], tcp=False, rtu_over_tcp=True)
    ep = next(e for e in sim.endpoints if str(e).startswith("rtu-over-tcp"))
    where = ["--rtu-over-tcp", f"{ep.host}:{ep.port}"]
    scan = run("scan", *where, "--units", "1-3", "--json")
    assert scan.exit_code == 0, scan.output
    assert [(d["unit"], d["profile"]) for d in json.loads(scan.stdout)["devices"]] == [
        (2, "eastron-sdm120")]
    probe = run("probe", *where, "--unit", "2", "--profile", "eastron-sdm120")
    assert probe.exit_code == 0, probe.output
    assert "0 out of range / 0 invalid / 0 comm errors" in probe.stdout


@pytest.mark.rtu
def test_probe_over_rtu_uses_the_profiles_line_settings(modbus_simulator: Any) -> None:
    sim = modbus_simulator(["1=chint-dtsu666"], tcp=False, rtu=True)  # the profile's 9600 8N2
    result = run("probe", "--serial", sim.rtu_endpoint.device, "--profile", "chint-dtsu666")
    assert result.exit_code == 0, result.output
    assert "33 ok / 0 out of range" in result.stdout
    assert "(9600 8N2)" in result.stdout


# ---------------------------------------------------------------------------------------------------
# errors: a message naming the problem, the right exit code, no traceback


@pytest.mark.parametrize(("args", "option"), [
    (["read", "--tcp", "127.0.0.1:1", "--address", "zz"], "--address"),
    (["read", "--tcp", "127.0.0.1:1", "--address", "0", "--base", "1"], "--address"),
    (["read", "--tcp", "127.0.0.1:1", "--address", "1", "--function", "6"], "--function"),
    (["read", "--tcp", "127.0.0.1:1", "--address", "1", "--type", "float"  + "24"], "--type"),
    (["read", "--tcp", "127.0.0.1:1", "--address", "1", "--order", "XYZW"], "--order"),
    (["read", "--tcp", "127.0.0.1:1", "--address", "1", "--type", "f32", "--count", "3"],
     "--count"),
    (["scan", "--tcp", "127.0.0.1:1", "--units", "5-1"], "--units"),
    (["scan", "--serial", "/dev/null", "--parity", "X"], "--parity"),
    (["scan", "--tcp", "127.0.0.1:1", "--baud", "9600"], "--baud"),
    (["probe", "--tcp", "127.0.0.1:x", "--profile", "chint-dtsu666"], "--tcp"),
    (["probe", "--profile", "chint-dtsu666"], "connection"),
])
def test_bad_options_exit_2_naming_the_option(args: list[str], option: str) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert option in result.output


def test_missing_serial_port_names_the_port(tmp_path: Path) -> None:
    port = str(tmp_path / "ttyUSB7")
    for args in (["probe", "--profile", "chint-dtsu666"], ["scan", "--units", "1"],
                 ["read", "--address", "0"]):
        result = run(*args, "--serial", port)
        assert result.exit_code == 2, result.output
        assert f"serial port {port} does not exist" in result.stderr


def test_serial_port_without_permission_names_the_dialout_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = tmp_path / "ttyUSB0"
    port.touch()

    def denied(*args: object, **kwargs: object) -> None:
        raise serial.SerialException(errno.EACCES, f"could not open port {port}: Permission denied")

    monkeypatch.setattr(serial, "Serial", denied)
    result = run("probe", "--serial", str(port), "--profile", "chint-dtsu666")
    assert result.exit_code == 1
    assert f"permission denied on serial port {port}" in result.stderr
    assert "dialout" in result.stderr


def test_unknown_profile_exits_2(modbus_simulator: Any) -> None:
    result = run("probe", "--tcp", "127.0.0.1:1", "--profile", "chint-dtsu66")
    assert result.exit_code == 2
    assert "no profile named 'chint-dtsu66'" in result.stderr
    assert "did you mean chint-dtsu666" in result.stderr


def test_malformed_profile_exits_2_naming_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('manufacturer = "X"\nmodel = "Y"\nkind = "electricity"\n'
                    'points = [{ quantity = "voltage_l1", adress = 3, range = [0, 500] }]\n'
                    "[variants.default]\n", encoding="utf-8")
    result = run("probe", "--tcp", "127.0.0.1:1", "--profile", str(path))
    assert result.exit_code == 2
    assert str(path) in result.stderr
    assert "adress" in result.stderr and "points[0]" in result.stderr


def test_connection_refused_exits_1() -> None:
    result = run("probe", "--tcp", "127.0.0.1:1", "--profile", "chint-dtsu666")
    assert result.exit_code == 1
    assert "cannot connect to 127.0.0.1:1" in result.stderr
