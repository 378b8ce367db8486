"""TLS (CA and client certificate) and user/password against a real mosquitto; clear errors, no secrets.

Certificates are throwaway ones made with openssl for the test session (tests/support/mosquitto.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.contract.schema import check_message
from core.contract.topics import readings_filter
from core.mqtt_config import TlsFiles
from core.reading import Quality
from drivers.reader import Reading
from gateway.mqtt.publisher import MqttOptions, Publisher
from gateway.outbox import Outbox
from tests.support.mosquitto import Mosquitto, MosquittoFactory, Pki, RecorderFactory

PASSWORD = "correct-horse-battery-staple"
WRONG = "Tr0ub4dor&3-wrong"


class FileSecret:
    """Like site_config.Secret: read the password when the connection needs it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def reveal(self) -> str:
        return self.path.read_text().strip()

    def __repr__(self) -> str:
        return f"<secret from file {self.path}>"


def options(broker: Mosquitto, **overrides: Any) -> MqttOptions:
    base: dict[str, Any] = {"host": broker.host, "port": broker.port, "site": "campus", "gateway": "gw1",
                            "reconnect_min": 0.05, "reconnect_max": 0.2, "connect_timeout": 3.0}
    return MqttOptions(**{**base, **overrides})


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    with Outbox(tmp_path / "outbox.sqlite", max_bytes=8 << 20) as box:
        yield box


@pytest.fixture
def publishers() -> Iterator[Callable[..., Publisher]]:
    started: list[Publisher] = []

    def start(opts: MqttOptions, box: Outbox) -> Publisher:
        pub = Publisher(opts, box)
        pub.start()
        started.append(pub)
        return pub

    yield start
    for pub in started:
        pub.stop(1.0)


def append(box: Outbox, n: int = 5) -> list[int]:
    now = time.time()
    return [box.append("m1", now + i, [Reading("energy_active_import", 10.0 + i, "kWh", Quality.OK, now + i)])
            for i in range(n)]


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def all_logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_tls_with_a_ca_and_a_client_certificate(protocol: str, test_pki: Pki, mosquitto: MosquittoFactory,
                                                mqtt_recorder: RecorderFactory, outbox: Outbox,
                                                publishers: Callable[..., Publisher]) -> None:
    broker = mosquitto(tls=test_pki)
    rec = mqtt_recorder(broker, readings_filter(), tls=test_pki)
    seqs = append(outbox)
    tls = TlsFiles(test_pki.ca_file, test_pki.client_cert, test_pki.client_key)
    pub = publishers(options(broker, protocol=protocol, tls=tls), outbox)
    assert wait_until(lambda: outbox.depth() == 0, 10), pub.stats()
    assert rec.wait_for(lambda ms: len(ms) == len(seqs), 5)
    assert [check_message(m.topic, m.payload).doc["seq"] for m in rec.snapshot()] == seqs


def test_a_wrong_ca_file_is_named_once_and_the_pump_keeps_retrying(
        test_pki: Pki, mosquitto: MosquittoFactory, outbox: Outbox,
        publishers: Callable[..., Publisher], caplog: pytest.LogCaptureFixture) -> None:
    broker = mosquitto(tls=test_pki)
    append(outbox)
    tls = TlsFiles(test_pki.other_ca_file, test_pki.client_cert, test_pki.client_key)
    pub = publishers(options(broker, tls=tls), outbox)
    assert wait_until(lambda: pub.stats().attempts >= 5, 10)
    found = errors(caplog)
    assert len(found) == 1, found
    assert str(test_pki.other_ca_file) in found[0] and "not trusted" in found[0]
    assert f"{broker.host}:{broker.port}" in found[0]
    attempts = pub.stats().attempts
    assert wait_until(lambda: pub.stats().attempts > attempts, 5)  # still retrying
    assert outbox.depth() == 5 and not pub.stats().connected
    assert "not trusted" in (pub.stats().last_error or "")


@pytest.mark.parametrize(("change", "expected"), [
    ({"ca_file": "missing-ca.pem"}, "CA file {tmp}/missing-ca.pem does not exist"),
    ({"ca_file": "garbage.pem"}, "CA file {tmp}/garbage.pem cannot be used"),
    ({"cert_file": "garbage.pem"}, "client certificate {tmp}/garbage.pem"),
    ({"cert_file": None, "key_file": None}, "requires a client certificate and none is set"),
])
def test_unusable_tls_files_are_named(change: dict[str, Any], expected: str, test_pki: Pki,
                                      mosquitto: MosquittoFactory, outbox: Outbox, tmp_path: Path,
                                      publishers: Callable[..., Publisher],
                                      caplog: pytest.LogCaptureFixture) -> None:
    broker = mosquitto(tls=test_pki)
    (tmp_path / "garbage.pem").write_text("not a certificate\n")
    files: dict[str, Any] = {"ca_file": test_pki.ca_file, "cert_file": test_pki.client_cert,
                             "key_file": test_pki.client_key}
    for key, value in change.items():
        files[key] = None if value is None else tmp_path / value
    pub = publishers(options(broker, tls=TlsFiles(**files)), outbox)
    assert wait_until(lambda: pub.stats().attempts >= 3, 10)
    found = errors(caplog)
    assert len(found) == 1, found
    assert expected.format(tmp=tmp_path) in found[0], found[0]


def test_plain_mqtt_to_a_tls_listener_and_tls_to_a_plain_one_fail_clearly(
        test_pki: Pki, mosquitto: MosquittoFactory, outbox: Outbox,
        publishers: Callable[..., Publisher], caplog: pytest.LogCaptureFixture) -> None:
    plain = mosquitto()
    pub = publishers(options(plain, tls=TlsFiles(test_pki.ca_file)), outbox)
    assert wait_until(lambda: pub.stats().attempts >= 3, 10)
    found = errors(caplog)
    assert len(found) == 1 and "a TLS listener?" in found[0], found


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_user_and_password_from_a_file(protocol: str, mosquitto: MosquittoFactory,
                                       mqtt_recorder: RecorderFactory, outbox: Outbox, tmp_path: Path,
                                       publishers: Callable[..., Publisher],
                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    broker = mosquitto(users={"gw1": PASSWORD, "ingest": "ingest-pw"})
    rec = mqtt_recorder(broker, readings_filter(), username="ingest", password="ingest-pw")
    secret = tmp_path / "mqtt-password"
    secret.write_text(PASSWORD + "\n")
    seqs = append(outbox)
    opts = options(broker, protocol=protocol, username="gw1", password=FileSecret(secret))
    publishers(opts, outbox)
    assert wait_until(lambda: outbox.depth() == 0, 10)
    assert rec.wait_for(lambda ms: len(ms) == len(seqs), 5)
    assert PASSWORD not in all_logged(caplog) and PASSWORD not in repr(opts)


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_wrong_credentials_log_not_authorised_once(protocol: str, mosquitto: MosquittoFactory,
                                                   outbox: Outbox, publishers: Callable[..., Publisher],
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    broker = mosquitto(users={"gw1": PASSWORD})
    append(outbox)
    pub = publishers(options(broker, protocol=protocol, username="gw1", password=lambda: WRONG), outbox)
    assert wait_until(lambda: pub.stats().attempts >= 5, 10)
    found = errors(caplog)
    assert len(found) == 1, found
    assert "not authorised" in found[0] and "'gw1'" in found[0]
    assert f"{broker.host}:{broker.port}" in found[0]
    assert WRONG not in all_logged(caplog) and PASSWORD not in all_logged(caplog)
    assert outbox.depth() == 5 and not pub.stats().connected


def test_anonymous_to_a_broker_that_wants_a_password(mosquitto: MosquittoFactory, outbox: Outbox,
                                                     publishers: Callable[..., Publisher],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    broker = mosquitto(users={"gw1": PASSWORD})
    pub = publishers(options(broker), outbox)
    assert wait_until(lambda: pub.stats().attempts >= 3, 10)
    found = errors(caplog)
    assert len(found) == 1 and "not authorised" in found[0] and "anonymous" in found[0]


def test_an_unreadable_password_file_is_reported_without_crashing(
        mosquitto: MosquittoFactory, outbox: Outbox, tmp_path: Path,
        publishers: Callable[..., Publisher], caplog: pytest.LogCaptureFixture) -> None:
    broker = mosquitto(users={"gw1": PASSWORD})
    secret = tmp_path / "missing-password"
    pub = publishers(options(broker, username="gw1", password=FileSecret(secret)), outbox)
    assert wait_until(lambda: pub.stats().attempts >= 3, 10)
    found = errors(caplog)
    assert len(found) == 1 and "cannot read the MQTT password" in found[0] and str(secret) in found[0]
    secret.write_text(PASSWORD)  # fixed while running: the next attempt reads it
    assert wait_until(lambda: pub.stats().connected, 5)
