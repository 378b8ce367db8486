"""The ingest config: every problem at once with file:line: key; `metergate ingest --check`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from services.ingest.config import IngestConfigError, load_ingest_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "examples" / "ingest.toml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ingest.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METERGATE_MQTT_PASSWORD", "x")
    monkeypatch.setenv("METERGATE_INFLUX_TOKEN", "y")
    cfg = load_ingest_config(EXAMPLE)
    assert cfg.mqtt.subscription == "$share/ingest/metergate/v1/+/+/meters/+/readings"
    assert cfg.mqtt.port == 8883 and cfg.mqtt.tls is not None and cfg.mqtt.client_id == "ingest-1"
    assert cfg.influx.api == "v2" and cfg.influx.bucket == "metering" and cfg.influx.timeout_s == 10
    assert (cfg.max_points, cfg.max_delay) == (10000, 0.2)
    assert (cfg.retry.initial, cfg.retry.maximum, cfg.retry.max_attempts) == (0.5, 30.0, None)
    assert cfg.max_payload_bytes == 256 * 1024 and cfg.max_future == 300 and cfg.min_timestamp == 946684800
    assert cfg.prometheus == ("127.0.0.1", 9109) and cfg.health_interval == 10
    assert cfg.stall_after == 120
    assert cfg.warnings == ()


def test_defaults_of_a_minimal_config(tmp_path: Path) -> None:
    cfg = load_ingest_config(_write(tmp_path, '[mqtt]\nhost = "b"\nclient_id = "i1"\n'
                                              '[influx]\nurl = "http://db:8428"\nbucket = "x"\n'))
    assert cfg.dead_letter_topic == "metergate/ingest/dead-letter"
    assert cfg.health_topic == "metergate/ingest/i1/health"
    assert cfg.mqtt.session_expiry == 86400 and cfg.mqtt.receive_maximum == 10_000
    assert cfg.influx.gzip is True
    assert cfg.stall_after == 120


def test_every_problem_with_file_line_and_key(tmp_path: Path) -> None:
    path = _write(tmp_path, """
[mqtt]
host = "broker"
port = 70000
share_group = "a/b"
password = "hunter2"
sesion_expiry = "1d"

[influx]
api = "v3"
url = "http://db:8086"
bucket = "b"

[batching]
max_points = 0
max_delay = "soon"

[limits]
min_timestamp = "yesterday"

[dead_letter]
topic = "metergate/v1/s/g/meters/m/readings"

[extra]
""")
    with pytest.raises(IngestConfigError) as err:
        load_ingest_config(path)
    text = str(err.value)
    expected = [
        f"{path}:4: mqtt.port:", f"{path}:5: mqtt.share_group:", f"{path}:6: mqtt.password: never write",
        f"{path}:7: mqtt.sesion_expiry: unknown key; did you mean 'session_expiry'?",
        f"{path}:10: influx.api:", f"{path}:15: batching.max_points:",
        f"{path}:16: batching.max_delay: 'soon' is not a duration",
        f"{path}:19: limits.min_timestamp: 'yesterday' is not an instant",
        f"{path}:24: extra: unknown table",
    ]
    for line in expected:
        assert line in text, f"{line!r} not in\n{text}"
    assert "ingest config" in text and "hunter2" not in text


def test_dead_letter_topic_inside_the_subscription_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, '[mqtt]\nhost = "b"\nclient_id = "i"\n[influx]\nurl = "http://d"\n'
                            'bucket = "x"\n[dead_letter]\ntopic = "metergate/v1/s/g/meters/m/readings"\n')
    with pytest.raises(IngestConfigError, match=r":8: dead_letter.topic: .* matches the readings"):
        load_ingest_config(path)


def test_missing_tables_and_secret_files(tmp_path: Path) -> None:
    path = _write(tmp_path, '[influx]\nurl = "http://d"\nbucket = "x"\ntoken_file = "nope"\n')
    with pytest.raises(IngestConfigError) as err:
        load_ingest_config(path)
    text = str(err.value)
    assert "mqtt: required table is missing" in text
    assert f"{path}:4: influx.token_file: {tmp_path / 'nope'} does not exist" in text


def test_broken_toml_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, '[mqtt]\nhost = "b\n')
    with pytest.raises(IngestConfigError, match=rf"{path}:2: not valid TOML"):
        load_ingest_config(path)


def test_check_command_exit_codes(tmp_path: Path) -> None:
    good = _write(tmp_path, '[mqtt]\nhost = "b"\nclient_id = "i"\n[influx]\napi = "v1"\n'
                            'url = "http://d:8086"\ndatabase = "energy"\n')
    run = subprocess.run([sys.executable, "-m", "cli.main", "ingest", "--check", str(good)],
                         capture_output=True, text=True, cwd=ROOT, check=False)
    assert run.returncode == 0, run.stderr
    assert "database 'energy'" in run.stdout and "$share/ingest/" in run.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[mqtt]\nhost = 5\n')
    run = subprocess.run([sys.executable, "-m", "cli.main", "ingest", "--check", str(bad)],
                         capture_output=True, text=True, cwd=ROOT, check=False)
    assert run.returncode == 2
    assert f"{bad}:2: mqtt.host:" in run.stderr and "influx: required table is missing" in run.stderr


def test_a_busy_prometheus_port_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = _write(tmp_path, f'[mqtt]\nhost = "127.0.0.1"\nport = 9\nclient_id = "i"\n[influx]\n'
                                  f'url = "http://127.0.0.1:9"\nbucket = "x"\n[health]\n'
                                  f'prometheus_port = {port}\n')
        run = subprocess.run([sys.executable, "-m", "cli.main", "ingest", str(config)],
                             capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)
    assert run.returncode == 1
    assert f"cannot serve Prometheus metrics on 127.0.0.1:{port}" in run.stderr
    assert "prometheus_port" in run.stderr and "Traceback" not in run.stderr


def test_an_unusable_tls_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    config = _write(tmp_path, '[mqtt]\nhost = "127.0.0.1"\nclient_id = "i"\n[mqtt.tls]\nca_file = "ca.pem"\n'
                              '[influx]\nurl = "http://127.0.0.1:9"\nbucket = "x"\n[health]\n'
                              'prometheus_port = 0\n')
    run = subprocess.run([sys.executable, "-m", "cli.main", "ingest", str(config)],
                         capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)
    assert run.returncode == 1
    assert f"[mqtt.tls]: TLS CA file {tmp_path / 'ca.pem'} cannot be used" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr


def test_credentials_in_the_influx_url_are_a_config_error_that_hides_them(tmp_path: Path) -> None:
    path = _write(tmp_path, '[mqtt]\nhost = "b"\nclient_id = "i"\n[influx]\napi = "v1"\n'
                            'url = "http://admin:s3cret@127.0.0.1:8086"\ndatabase = "m"\n')
    with pytest.raises(IngestConfigError) as caught:
        load_ingest_config(path)
    text = str(caught.value)
    assert "influx.url" in text and "password_file" in text and "s3cret" not in text
    run = subprocess.run([sys.executable, "-m", "cli.main", "ingest", "--check", str(path)],
                         capture_output=True, text=True, cwd=ROOT, check=False)
    assert run.returncode == 2 and "influx.url" in run.stderr
    assert "s3cret" not in run.stderr + run.stdout


@pytest.mark.parametrize(("value", "expected"), [("0", 0.0), ('"90s"', 90.0), ("5", 5.0)])
def test_the_stall_watch_threshold(tmp_path: Path, value: str, expected: float) -> None:
    text = f'[mqtt]\nhost = "b"\nclient_id = "i"\n[influx]\nurl = "http://d"\nbucket = "x"\n' \
           f'[health]\nstall_after = {value}\n'
    cfg = load_ingest_config(_write(tmp_path, text))
    assert cfg.stall_after == expected


@pytest.mark.parametrize("value", ["-1", '"soon"', "true"])
def test_a_bad_stall_watch_threshold_names_the_line_and_key(tmp_path: Path, value: str) -> None:
    path = _write(tmp_path, '[mqtt]\nhost = "b"\nclient_id = "i"\n[influx]\nurl = "http://d"\n'
                            f'bucket = "x"\n[health]\nstall_after = {value}\n')
    with pytest.raises(IngestConfigError, match=r":8: health.stall_after: .*0 to turn it off"):
        load_ingest_config(path)


def test_a_client_id_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, '[mqtt]\nhost = "b"\nclient_id = "i1\\n"\n[influx]\nurl = "http://d"\n'
                            'bucket = "x"\n')
    with pytest.raises(IngestConfigError, match=r":3: mqtt.client_id: .* is not a client id"):
        load_ingest_config(path)
