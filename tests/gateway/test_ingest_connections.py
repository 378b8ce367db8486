"""Ingest's broker connection: TLS with a client certificate and a password from a file; wrong
credentials and a broker that is not there yet are errors that name the cause, and nothing is lost
once they are fixed."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from services.ingest.config import load_ingest_config
from services.ingest.service import IngestService
from tests.support.ingest import Publisher, ingest_toml, readings_payload, start_ingest, topic_for
from tests.support.mosquitto import Mosquitto, MosquittoFactory, Pki
from tests.support.victoria import VictoriaFactory


def _send(broker: Mosquitto, n: int, username: str | None = None, password: str | None = None) -> None:
    pub = Publisher(broker.host, broker.port, username=username, password=password)
    now = time.time()
    for seq in range(1, n + 1):
        pub.send(topic_for("m1"), readings_payload("m1", seq=seq, ts=round(now - 10 + seq / 100, 3),
                                                   values={"power_active": float(seq)}))
    assert pub.flush(10)
    pub.close()


def test_tls_client_certificate_and_password_file(tmp_path: Path, mosquitto: MosquittoFactory,
                                                  victoria: VictoriaFactory, test_pki: Pki,
                                                  services: list[IngestService]) -> None:
    broker = mosquitto(users={"ingest": "mqtt-pw"}, tls=test_pki)
    vm = victoria()
    (tmp_path / "mqtt-pw").write_text("mqtt-pw\n")
    config = ingest_toml(tmp_path, broker.port, influx_url=vm.url, extra="")
    text = config.read_text().replace('receive_maximum', 'username = "ingest"\npassword_file = "mqtt-pw"\n'
                                                          'receive_maximum')
    text += (f'\n[mqtt.tls]\nca_file = "{test_pki.ca_file}"\ncert_file = "{test_pki.client_cert}"\n'
             f'key_file = "{test_pki.client_key}"\n')
    config.write_text(text)
    start_ingest(config, services)
    # a publisher on the same TLS listener
    import ssl

    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    pub = paho.Client(CallbackAPIVersion.VERSION2, client_id="tls-pub", protocol=paho.MQTTv5)
    ctx = ssl.create_default_context(cafile=str(test_pki.ca_file))
    ctx.load_cert_chain(str(test_pki.client_cert), str(test_pki.client_key))
    pub.tls_set_context(ctx)
    pub.username_pw_set("ingest", "mqtt-pw")
    pub.connect(broker.host, broker.port)
    pub.loop_start()
    info = pub.publish(topic_for("m1"), readings_payload("m1", seq=1, ts=round(time.time() - 1, 3),
                                                         values={"power_active": 7.5}), qos=1)
    info.wait_for_publish(10)
    pub.disconnect()
    pub.loop_stop()
    assert vm.wait_count('{__name__="power_active_value"}', 1, timeout=20) == 1


def test_wrong_password_is_named_and_fixing_it_loses_nothing(
        tmp_path: Path, mosquitto: MosquittoFactory, victoria: VictoriaFactory,
        services: list[IngestService], caplog: pytest.LogCaptureFixture) -> None:
    broker = mosquitto(users={"ingest": "right", "gw": "gw-pw"})
    vm = victoria()
    # the session exists (ingest ran before with the right password) ...
    (tmp_path / "pw").write_text("right\n")
    config = ingest_toml(tmp_path, broker.port, influx_url=vm.url)
    config.write_text(config.read_text().replace(
        "receive_maximum", 'username = "ingest"\npassword_file = "pw"\nreceive_maximum'))
    first = IngestService(load_ingest_config(config))
    first.start()
    assert first.consumer.wait_subscribed(10)
    first.stop()
    # ... then the password file is rotated wrongly, and readings keep coming
    (tmp_path / "pw").write_text("wrong\n")
    with caplog.at_level(logging.ERROR, logger="services.shared.consumer"):
        second = start_ingest(config, services, subscribed=False)
        _send(broker, 30, username="gw", password="gw-pw")
        time.sleep(1.0)
    assert not second.consumer.connected and second.metrics.n_messages == 0
    assert "not authorised" in (second.consumer.last_error or "")
    assert "check the user name and password (user 'ingest')" in caplog.text
    assert "wrong" not in caplog.text  # never the password
    # fixing the file is enough: the password is read again before each reconnection
    (tmp_path / "pw").write_text("right\n")
    assert vm.wait_count('{__name__="power_active_value"}', 30, timeout=40) == 30


def test_broker_not_there_at_start(tmp_path: Path, mosquitto: MosquittoFactory, victoria: VictoriaFactory,
                                   services: list[IngestService]) -> None:
    broker = mosquitto()
    vm = victoria()
    broker.stop()
    service = start_ingest(ingest_toml(tmp_path, broker.port, influx_url=vm.url), services,
                           subscribed=False)
    time.sleep(1.5)
    assert not service.consumer.connected
    broker.start()
    assert service.consumer.wait_subscribed(15)
    _send(broker, 20)
    assert vm.wait_count('{__name__="power_active_value"}', 20, timeout=20) == 20
