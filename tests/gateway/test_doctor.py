"""`metergate doctor` on real parts: a pseudo-terminal as the serial port, loopback TCP listeners,
real mosquitto brokers with a password and with TLS client certificates, outbox folders on this
machine's disk."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from gateway.doctor import TIME_ERROR, bytes_per_day, clock_check, kernel_clock_state, service_checks
from site_config import load_site_config
from tests.support.mosquitto import Pki

runner = CliRunner()


@pytest.fixture
def pty_device() -> Iterator[str]:
    master, slave = os.openpty()
    try:
        yield os.ttyname(slave)
    finally:
        os.close(master)
        os.close(slave)


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def site(folder: Path, *, device: str, tcp_port: int, mqtt: str = "", outbox: Path | None = None,
         max_bytes: str = "1GiB") -> Path:
    text = f"""
[site]
id = "doc-site"
name = "Doctor test"
gateway_id = "doc-gw"

[[buildings]]
id = "b1"
name = "B1"
category = "office"
floor_area_m2 = 1000
occupants = 10

[[buses]]
id = "line-1"
type = "serial"
device = "{device}"
baud = 9600

[[buses]]
id = "tcp-1"
type = "tcp"
host = "127.0.0.1"
port = {tcp_port}

[[meters]]
id = "e1"
profile = "chint-dtsu666"
unit = 1
bus = "line-1"
building = "b1"
subitem = "total"

[[meters]]
id = "e2"
profile = "chint-dtsu666"
unit = 1
bus = "tcp-1"
building = "b1"
subitem = "total"

[outbox]
path = "{outbox or folder / 'outbox.sqlite'}"
max_bytes = "{max_bytes}"
{mqtt}
"""
    path = folder / "site.toml"
    path.write_text(text, encoding="utf-8")
    return path


def doctor(path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    out = runner.invoke(app, ["doctor", str(path), "--json", "--timeout", "2", *args])
    assert out.exit_code in (0, 1), out.output
    return out.exit_code, json.loads(out.stdout)


def of(report: dict[str, Any], area: str) -> list[dict[str, str]]:
    return [c for c in report["checks"] if c["area"] == area]


def test_serial_ports_tcp_devices_and_the_outbox(tmp_path: Path, pty_device: str, listening: int) -> None:
    path = site(tmp_path, device=pty_device, tcp_port=listening)
    code, report = doctor(path, "--user", "root")
    (serial,) = of(report, "serial")
    assert serial["status"] == "ok" and pty_device in serial["subject"]
    (tcp,) = of(report, "tcp")
    assert tcp["status"] == "ok"
    (outbox,) = of(report, "outbox")
    assert outbox["status"] == "ok" and "days" in outbox["message"] and "free" in outbox["message"]
    assert of(report, "mqtt")[0]["status"] == "skip"  # no [mqtt]: readings stay in the outbox
    failed = [c for c in report["checks"] if c["status"] == "fail"]
    assert code == (1 if failed else 0) and report["ok"] is (not failed)
    assert not os.listdir(tmp_path / "outbox.sqlite") if (tmp_path / "outbox.sqlite").is_dir() else True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site.toml"]  # the probe file is gone


def test_a_user_outside_the_ports_group_and_a_missing_port_are_fails_with_the_fix(
        tmp_path: Path, pty_device: str) -> None:
    path = site(tmp_path, device=pty_device, tcp_port=closed_port())
    code, report = doctor(path, "--user", "nobody")
    (serial,) = of(report, "serial")
    assert serial["status"] == "fail" and "nobody cannot open it" in serial["message"]
    mode = os.stat(pty_device).st_mode
    if mode & 0o060 == 0o060:  # the group may read and write: join it
        assert serial["fix"].startswith("sudo usermod -aG "), serial
    else:  # the node itself must change
        assert "udev rule" in serial["fix"] and "MODE=\"0660\"" in serial["fix"], serial
    (tcp,) = of(report, "tcp")
    assert tcp["status"] == "fail" and "refused" in tcp["message"].lower()
    assert code == 1 and report["ok"] is False
    missing = site(tmp_path, device="/dev/ttyUSB-not-here", tcp_port=closed_port())
    _, report = doctor(missing, "--user", "root")
    (serial,) = of(report, "serial")
    assert serial["status"] == "fail" and "does not exist" in serial["message"]
    assert "/dev/serial/by-id" in serial["fix"]


def test_the_outbox_folder_and_its_room(tmp_path: Path, pty_device: str, listening: int) -> None:
    afile = tmp_path / "a-file"
    afile.write_text("x")
    _, report = doctor(site(tmp_path, device=pty_device, tcp_port=listening,
                            outbox=afile / "outbox.sqlite"), "--user", "root")
    assert of(report, "outbox")[0]["status"] == "fail"
    _, report = doctor(site(tmp_path, device=pty_device, tcp_port=listening,
                            outbox=tmp_path / "missing" / "outbox.sqlite"), "--user", "root")
    (outbox,) = of(report, "outbox")
    assert outbox["status"] == "fail" and "does not exist" in outbox["message"]
    assert "install -d" in outbox["fix"]
    # a budget too small for 30 days of these polls: a warning naming the size to set
    _, report = doctor(site(tmp_path, device=pty_device, tcp_port=listening, max_bytes="256KiB"),
                       "--user", "root")
    (outbox,) = of(report, "outbox")
    assert outbox["status"] == "warn" and "raise outbox.max_bytes" in outbox["fix"], outbox
    # a budget larger than the disk, and more days than the disk can hold: new polls would be refused
    _, report = doctor(site(tmp_path, device=pty_device, tcp_port=listening, max_bytes="1000TiB"),
                       "--user", "root", "--days", "1e9")
    (outbox,) = of(report, "outbox")
    assert outbox["status"] == "fail" and "the disk holds less" in outbox["message"], outbox


def test_bytes_per_day_follows_the_polls(tmp_path: Path, pty_device: str) -> None:
    path = site(tmp_path, device=pty_device, tcp_port=closed_port())
    one = bytes_per_day(load_site_config(path))
    path.write_text(path.read_text() + '\n[defaults]\npoll_interval = "5s"\n')
    assert 0 < one < bytes_per_day(load_site_config(path))


def _mqtt(port: int, **extra: str) -> str:
    lines = ["[mqtt]", 'host = "127.0.0.1"', f"port = {port}",
             *(f"{k} = {v}" for k, v in extra.items())]
    return "\n".join(lines) + "\n"


def test_the_broker_with_its_password(tmp_path: Path, pty_device: str, listening: int,
                                      mosquitto: Any) -> None:
    broker = mosquitto(users={"doc-gw": "right"})
    (tmp_path / "pw").write_text("right\n")
    (tmp_path / "bad").write_text("wrong\n")
    os.chmod(tmp_path / "pw", 0o600)
    os.chmod(tmp_path / "bad", 0o600)
    good = site(tmp_path, device=pty_device, tcp_port=listening,
                mqtt=_mqtt(broker.port, username='"doc-gw"', password_file='"pw"'))
    (check,) = of(doctor(good, "--user", "root")[1], "mqtt")
    assert check["status"] == "ok", check
    bad = site(tmp_path, device=pty_device, tcp_port=listening,
               mqtt=_mqtt(broker.port, username='"doc-gw"', password_file='"bad"'))
    (check,) = of(doctor(bad, "--user", "root")[1], "mqtt")
    assert check["status"] == "fail" and ("password" in check["message"].lower()
                                          or "not authori" in check["message"].lower()), check
    down = site(tmp_path, device=pty_device, tcp_port=listening, mqtt=_mqtt(closed_port()))
    (check,) = of(doctor(down, "--user", "root")[1], "mqtt")
    assert check["status"] == "fail" and "refused" in check["message"].lower(), check


def test_the_broker_with_tls_client_certificates(tmp_path: Path, pty_device: str, listening: int,
                                                 mosquitto: Any, test_pki: Pki) -> None:
    broker = mosquitto(tls=test_pki)
    tls = (f'{{ ca_file = "{test_pki.ca_file}", cert_file = "{test_pki.client_cert}", '
           f'key_file = "{test_pki.client_key}" }}')
    ok = site(tmp_path, device=pty_device, tcp_port=listening, mqtt=_mqtt(broker.port, tls=tls))
    (check,) = of(doctor(ok, "--user", "root")[1], "mqtt")
    assert check["status"] == "ok", check
    wrong_ca = tls.replace(str(test_pki.ca_file), str(test_pki.other_ca_file))
    bad = site(tmp_path, device=pty_device, tcp_port=listening, mqtt=_mqtt(broker.port, tls=wrong_ca))
    (check,) = of(doctor(bad, "--user", "root")[1], "mqtt")
    assert check["status"] == "fail" and "not trusted" in check["message"], check


def test_the_clock_check_reads_the_kernels_state() -> None:
    state = kernel_clock_state()
    assert state is None or 0 <= state <= TIME_ERROR
    real = clock_check()
    assert real.status in ("ok", "fail", "warn")
    assert (real.status == "fail") == (state == TIME_ERROR)
    assert clock_check(lambda: TIME_ERROR).fix.startswith("enable time sync")
    assert clock_check(lambda: 0).status == "ok"


def test_services_are_skipped_without_systemd() -> None:
    checks = service_checks()
    if not Path("/run/systemd/system").is_dir():
        assert [(c.status, c.area) for c in checks] == [("skip", "service")]
    else:
        assert all(c.area == "service" for c in checks)


def test_a_config_that_does_not_load_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "site.toml"
    bad.write_text("[site]\nid = 3\n")
    out = runner.invoke(app, ["doctor", str(bad)])
    assert out.exit_code == 2 and "metergate validate" in out.output
