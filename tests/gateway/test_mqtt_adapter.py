"""The paho adapter without a broker: backoff, error wording, TLS files, secrets, a silent server."""

from __future__ import annotations

import logging
import socket
import ssl
import time
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from core.backoff import Backoff, RetryPolicy
from core.mqtt_client import (
    Ack,
    Connected,
    Link,
    LinkDown,
    LinkSettings,
    TlsFileError,
    TlsFiles,
    describe_failure,
    describe_refusal,
    password_now,
    tls_context,
)
from tests.support.mosquitto import Pki, free_port


class Listener:
    def __init__(self) -> None:
        self.events: list[Connected | Ack | str] = []

    def link_up(self, info: Connected) -> None:
        self.events.append(info)

    def link_down(self, reason: str) -> None:
        self.events.append(reason)

    def link_ack(self, ack: Ack) -> None:
        self.events.append(ack)


def test_backoff_doubles_up_to_the_maximum_with_jitter() -> None:
    low = Backoff(RetryPolicy(1.0, 30.0), rng=lambda: 0.0)
    assert [low.next() for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0]
    high = Backoff(RetryPolicy(1.0, 30.0), rng=lambda: 1.0)
    assert [high.next() for _ in range(7)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    high.reset()
    assert high.next() == 1.0
    real = Backoff(RetryPolicy(0.5, 4.0))
    delays = [real.next() for _ in range(50)]
    assert all(0.25 <= d <= 4.0 for d in delays) and len(set(delays)) > 10


def test_passwords_come_from_strings_callables_and_secrets() -> None:
    class Secret:
        def reveal(self) -> str:
            return "from-secret"

    assert password_now(None) is None
    assert password_now("plain") == "plain"
    assert password_now(lambda: "from-callable") == "from-callable"
    assert password_now(Secret()) == "from-secret"
    with pytest.raises(TypeError):
        password_now(42)  # type: ignore[arg-type]
    settings = LinkSettings("h", password="hunter2")
    assert "hunter2" not in repr(settings) and "hunter2" not in settings.describe()


def test_failures_are_worded_with_what_to_check() -> None:
    s = LinkSettings("broker.example", 8883, tls=TlsFiles("/etc/ca.pem", "/etc/c.pem", "/etc/c.key"))
    assert "is the broker running" in describe_failure(ConnectionRefusedError(111, "refused"), s)
    assert "within 10 s" in describe_failure(TimeoutError(), s)
    assert "broker.example" in describe_failure(socket.gaierror(-2, "Name or service not known"), s)
    verify = ssl.SSLCertVerificationError(1, "certificate verify failed")
    verify.verify_message = "unable to get local issuer certificate"
    assert "/etc/ca.pem" in describe_failure(verify, s) and "not trusted" in describe_failure(verify, s)
    mismatch = ssl.SSLCertVerificationError(1, "x")
    mismatch.verify_message = "Hostname mismatch, certificate is not valid for 'broker.example'."
    assert "does not name broker.example" in describe_failure(mismatch, s)
    alert = ssl.SSLError(1, "[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca")
    assert "/etc/c.pem" in describe_failure(alert, s)
    assert "TLS listener" in describe_failure(ConnectionResetError(104, "Connection reset by peer"), s)


@pytest.mark.parametrize(("protocol", "code", "words"), [
    ("5", 0x86, "not authorised"), ("5", 0x87, "not authorised"), ("5", 0x85, "client id"),
    ("5", 0x88, "reason code 136"),
])
def test_refusals_are_worded(protocol: str, code: int, words: str) -> None:
    s = LinkSettings("h", protocol=protocol, username="gw1", client_id="c1")  # type: ignore[arg-type]
    assert words in describe_refusal(ReasonCode(PacketTypes.CONNACK, identifier=code), s)


def test_tls_context_names_each_unusable_file(test_pki: Pki, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("junk\n")
    with pytest.raises(TlsFileError, match=r"CA file .*missing\.pem does not exist"):
        tls_context(TlsFiles(tmp_path / "missing.pem"))
    with pytest.raises(TlsFileError, match=r"CA file .*garbage\.pem cannot be used"):
        tls_context(TlsFiles(garbage))
    with pytest.raises(TlsFileError, match=r"client key .*missing\.key does not exist"):
        tls_context(TlsFiles(test_pki.ca_file, test_pki.client_cert, tmp_path / "missing.key"))
    with pytest.raises(TlsFileError, match=r"client certificate .*client\.pem with key .*server\.key"):
        tls_context(TlsFiles(test_pki.ca_file, test_pki.client_cert, test_pki.server_key))
    ctx = tls_context(TlsFiles(test_pki.ca_file, test_pki.client_cert, test_pki.client_key, insecure=True))
    assert ctx.verify_mode == ssl.CERT_REQUIRED and not ctx.check_hostname


def test_a_server_that_never_answers_connect_times_out_and_is_retried(
        caplog: pytest.LogCaptureFixture) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)  # accepts TCP (the kernel does) but never says a word
    try:
        port = server.getsockname()[1]
        listener = Listener()
        link = Link(LinkSettings("127.0.0.1", port, connect_timeout=0.3, reconnect_min=0.05,
                                 reconnect_max=0.1), listener)
        deadline = time.monotonic() + 5
        while link.attempts < 3 and time.monotonic() < deadline:
            link.poll(0.05)
        assert link.attempts >= 3 and not link.up and listener.events == []
        found = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(found) == 1 and "no CONNACK within 0.3 s" in found[0]
        with pytest.raises(LinkDown):
            link.publish("t", b"x")
        link.close()
        assert link.wait_hint() == float("inf") or link.state == "down"
    finally:
        server.close()


def test_nothing_listening_is_retried_with_backoff(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    link = Link(LinkSettings("127.0.0.1", port, reconnect_min=0.05, reconnect_max=0.2), Listener())
    started = time.monotonic()
    while time.monotonic() - started < 1.0:
        link.poll(0.0)
        time.sleep(min(link.wait_hint(), 0.05))
    assert 4 <= link.attempts <= 25  # backed off, not spinning
    assert [r.levelno for r in caplog.records].count(logging.ERROR) == 1
    assert "refused" in (link.last_error or "")


def test_paho_errors_reach_the_link_and_its_debug_lines_are_never_formatted(
        caplog: pytest.LogCaptureFixture) -> None:
    link = Link(LinkSettings("127.0.0.1", free_port()), Listener())
    client = link._new_client()
    assert client.on_log is None  # an on_log callback would have paho format every packet's line

    class Loud:
        def __str__(self) -> str:
            raise AssertionError("a debug line was formatted")

    caplog.set_level(logging.DEBUG)
    client._easy_log(16, "Sending PUBLISH %s", Loud())  # MQTT_LOG_DEBUG
    client._easy_log(8, "ssl alert: %s", "certificate required")  # MQTT_LOG_ERR
    assert link._paho_error == "ssl alert: certificate required"
    assert not caplog.records  # kept for the Link's own wording, not logged as it is
