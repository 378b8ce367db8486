"""One gateway process per outbox: the lock names its holder, `run` and `watch` are refused with
one line, and `watch` never borrows the service's MQTT client id."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.commands.watch import watch_client_id
from cli.main import app
from gateway.outbox_lock import OutboxBusyError, OutboxLock
from gateway.runtime import Gateway, RuntimeOptions
from site_config import load_site_config
from tests.e2e.site import site_toml


def _site(tmp_path: Path, **kw) -> Path:  # type: ignore[no-untyped-def]
    return site_toml(tmp_path, tcp_port=1, units=range(1, 2), **kw)


def test_a_second_gateway_on_one_outbox_is_refused_naming_the_first(tmp_path: Path) -> None:
    cfg = load_site_config(_site(tmp_path))
    first = Gateway(cfg, RuntimeOptions(publish=False, serve_metrics=False, command="watch"))
    first.start()
    try:
        with pytest.raises(OutboxBusyError, match=r"in use by metergate watch \(pid \d+, since"):
            Gateway(cfg, RuntimeOptions(publish=False, serve_metrics=False))
        result = CliRunner().invoke(app, ["run", str(cfg.path)])
        assert result.exit_code == 1
        assert "in use by metergate watch" in result.output and "stop that one first" in result.output
        assert result.output.strip().count("\n") == 0  # one line
    finally:
        first.stop()
    second = Gateway(cfg, RuntimeOptions(publish=False, serve_metrics=False))  # released by stop
    second.start()
    second.stop()


def test_watch_is_refused_beside_run_and_says_what_to_do(tmp_path: Path) -> None:
    path = _site(tmp_path)
    lock = OutboxLock(tmp_path / "outbox.sqlite", "run")
    lock.acquire()
    try:
        result = CliRunner().invoke(app, ["watch", str(path), "--duration", "1"])
    finally:
        lock.release()
    assert result.exit_code == 1
    line = result.output.strip()
    assert "\n" not in line and line.startswith("metergate watch: not started: metergate run (pid")
    assert f"metergate watch --follow {path}" in line and "systemctl stop" in line


def test_watch_has_its_own_client_id(tmp_path: Path) -> None:
    cfg = load_site_config(_site(tmp_path, mqtt_port=1883))
    assert cfg.mqtt is not None and watch_client_id(cfg) == f"{cfg.mqtt.client_id}-watch"
    long_id = tmp_path / "long"
    long_id.mkdir()
    path = _site(long_id, mqtt_port=1883)
    path.write_text(path.read_text().replace('port = 1883', 'port = 1883\nprotocol = "3.1.1"\n'
                                             'client_id = "gw-twenty-three-chars-x"'))
    cfg = load_site_config(path)
    client_id = watch_client_id(cfg)
    assert client_id is not None and len(client_id) <= 23 and client_id.endswith("-watch")
    assert client_id != cfg.mqtt.client_id  # type: ignore[union-attr]
