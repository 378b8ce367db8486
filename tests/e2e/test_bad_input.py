"""Acceptance, bad input: invalid config, unreachable broker, wrong TLS files, a full disk for the
outbox — clear errors, the gateway keeps polling whatever it can, nothing accepted is lost."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.runtime import Gateway, RuntimeOptions
from site_config import load_site_config
from tests.e2e.site import site_toml


def _polls(gateway: Gateway) -> int:
    return sum(v.polls - v.failed for v in gateway.live.snapshot())


def test_invalid_config_exits_2_naming_file_line_and_key(tmp_path: Path) -> None:
    config = site_toml(tmp_path, tcp_port=1502, units=range(1, 3))
    config.write_text(config.read_text().replace('profile = "eastron-sdm120"',
                                                 'profile = "eastron-sdm12"', 1))
    out = subprocess.run([sys.executable, "-m", "cli.main", "run", str(config)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 2
    assert f"{config}:" in out.stderr and "meters[0] (id 'm01').profile" in out.stderr
    assert "eastron-sdm120" in out.stderr  # the close name is suggested


def test_unreachable_broker_keeps_polling_and_delivers_later(
        tmp_path: Path, mosquitto, mqtt_recorder, modbus_simulator, caplog) -> None:  # type: ignore[no-untyped-def]
    sim = modbus_simulator(["1=eastron-sdm120", "2=eastron-sdm120"], tcp=True)
    broker = mosquitto()
    broker.stop()  # down before the gateway starts
    config = load_site_config(site_toml(tmp_path, tcp_port=sim.tcp_endpoint.port,
                                        units=range(1, 3), mqtt_port=broker.port))
    gateway = Gateway(config, RuntimeOptions(serve_metrics=False))
    gateway.start()
    try:
        time.sleep(3)
        stats = gateway.publisher.stats()  # type: ignore[union-attr]
        assert not stats.connected and stats.last_error and "refused" in stats.last_error
        assert f"127.0.0.1:{broker.port}" in caplog.text  # the log names the broker
        assert _polls(gateway) >= 4 and gateway.outbox.depth() >= 4
        broker.start()
        recorder = mqtt_recorder(broker, "metergate/v1/+/+/meters/+/readings")
        deadline = time.monotonic() + 30
        while gateway.outbox.depth() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert gateway.outbox.depth() <= 2  # the backlog is delivered (new polls keep coming)
        assert recorder.wait_for(lambda m: len(m) >= 4, timeout=10)
    finally:
        gateway.stop()


def test_wrong_tls_ca_is_reported_and_polling_goes_on(
        tmp_path: Path, mosquitto, test_pki, modbus_simulator) -> None:  # type: ignore[no-untyped-def]
    sim = modbus_simulator(["1=eastron-sdm120"], tcp=True)
    broker = mosquitto(tls=test_pki)
    path = site_toml(tmp_path, tcp_port=sim.tcp_endpoint.port, units=range(1, 2),
                     mqtt_port=broker.port)
    path.write_text(path.read_text() + "\n".join([
        "", "[mqtt.tls]", f'ca_file = "{test_pki.other_ca_file}"',  # a CA that signed nothing
        f'cert_file = "{test_pki.client_cert}"', f'key_file = "{test_pki.client_key}"', ""]))
    gateway = Gateway(load_site_config(path), RuntimeOptions(serve_metrics=False))
    gateway.start()
    try:
        time.sleep(3)
        stats = gateway.publisher.stats()  # type: ignore[union-attr]
        assert not stats.connected
        assert stats.last_error and "certificate" in stats.last_error.lower()
        assert _polls(gateway) >= 2 and gateway.outbox.depth() >= 2
    finally:
        gateway.stop()


@pytest.fixture
def small_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_keeps_polling_and_loses_nothing_accepted(
        tmp_path: Path, small_disk: Path, modbus_simulator) -> None:  # type: ignore[no-untyped-def]
    sim = modbus_simulator([f"{u}=eastron-sdm120" for u in range(1, 11)], tcp=True)
    config = load_site_config(site_toml(tmp_path, tcp_port=sim.tcp_endpoint.port,
                                        units=range(1, 11), outbox=small_disk / "outbox.sqlite"))
    gateway = Gateway(config, RuntimeOptions(serve_metrics=False, publish=False))
    gateway.start()
    filler = small_disk / "filler"
    try:
        time.sleep(2.5)
        accepted = gateway.outbox.pending(limit=10_000)
        assert accepted
        with filler.open("wb") as f:  # fill the disk to the last byte
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        before = _polls(gateway)
        deadline = time.monotonic() + 30  # the last free bytes of the file's pages fill first
        while gateway.metrics.outbox_errors.value == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert gateway.metrics.outbox_errors.value > 0, "a full disk must be reported"
        refused_at = _polls(gateway)
        time.sleep(2)
        assert _polls(gateway) >= refused_at + 10, "polling must go on while the disk is full"
        assert _polls(gateway) > before
        assert any("outbox" in text for _, text in gateway.live.errors)
        filler.unlink()
        time.sleep(2)
        after = {m.seq for m in gateway.outbox.pending(limit=100_000)}
        assert {m.seq for m in accepted} <= after, "nothing accepted may be lost to a full disk"
        assert gateway.outbox.stats().evicted_total == 0
        assert max(after) > max(m.seq for m in accepted), "storing resumes once there is room"
    finally:
        gateway.stop()
