"""A real mosquitto for tests: a pytest plugin, registered in tests/conftest.py.

    def test_publishes(mosquitto):
        broker = mosquitto()                                   # plain, anonymous, persistence on
        broker = mosquitto(users={"gw": "secret"})             # password file, anonymous refused
        broker = mosquitto(tls=make_pki(tmp_path))             # TLS; client certificates required
        broker.stop(); broker.start()                          # down and up again on the SAME port
        broker.kill(); broker.pause(); broker.resume()         # SIGKILL, SIGSTOP, SIGCONT

    def test_receives(mosquitto, mqtt_recorder):
        rec = mqtt_recorder(broker, "metergate/#")             # paho subscriber, QoS 1, persistent
        rec.wait_for(lambda msgs: len(msgs) >= 10, timeout=5); rec.snapshot()

Each broker listens on a free loopback port with a config written into its own temporary folder
(its log is `broker.log_text()`, shown in the failure message when it does not start); persistence
is on by default, so a stop/start keeps retained messages and persistent sessions, as a production
broker does. Every broker and recorder started by the fixtures is stopped at teardown.
`make_pki(folder)` (or the session fixture `test_pki`) makes a throwaway CA, a server certificate for
127.0.0.1/localhost, a client certificate and an unrelated second CA with openssl.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.support.server_process import ServerProcess

BINARY_CANDIDATES = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/bin/mosquitto")


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next((p for p in BINARY_CANDIDATES if os.access(p, os.X_OK)),
                                             None)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Pki:
    """Throwaway certificates (PEM files) for a TLS test."""

    ca_file: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca_file: Path  # a valid CA that signed neither certificate


def make_pki(folder: Path) -> Pki:
    """A CA, a server certificate for 127.0.0.1 and localhost, a client certificate, another CA."""
    folder.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        run = subprocess.run(["openssl", *args], cwd=folder, capture_output=True, text=True, check=False)
        if run.returncode:
            raise RuntimeError(f"openssl {' '.join(args)} failed: {run.stderr}")

    def ca(name: str) -> None:
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                f"/CN=metergate test {name}", "-keyout", f"{name}.key", "-out", f"{name}.pem")

    def leaf(name: str, cn: str, ext: str) -> None:
        (folder / f"{name}.ext").write_text(ext)
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}", "-keyout", f"{name}.key",
                "-out", f"{name}.csr")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-out", f"{name}.pem", "-extfile", f"{name}.ext")

    ca("ca")
    ca("other-ca")
    leaf("server", "localhost", "subjectAltName = IP:127.0.0.1, DNS:localhost\n"
                                "extendedKeyUsage = serverAuth\n")
    leaf("client", "metergate-gateway", "extendedKeyUsage = clientAuth\n")
    return Pki(folder / "ca.pem", folder / "server.pem", folder / "server.key", folder / "client.pem",
               folder / "client.key", folder / "other-ca.pem")


class Mosquitto(ServerProcess):
    """One mosquitto process on a fixed loopback port; start/stop/kill/restart keep the port."""

    host = "127.0.0.1"
    stop_timeout = 10.0  # stop(): SIGTERM, mosquitto saves its persistence file

    def __init__(self, folder: Path, *, users: Mapping[str, str] | None = None, tls: Pki | None = None,
                 require_certificate: bool = True, persistence: bool = True,
                 max_queued_messages: int = 0, extra: str = "") -> None:
        binary = mosquitto_binary()
        if binary is None:
            raise RuntimeError("mosquitto is not installed (apt-get install mosquitto)")
        self.binary = binary
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.users = dict(users or {})
        self.tls = tls
        self.log_file = folder / "mosquitto.log"
        self.config_file = folder / "mosquitto.conf"
        self.proc: subprocess.Popen[bytes] | None = None
        self._write_config(require_certificate, persistence, max_queued_messages, extra)

    # -- config ---------------------------------------------------------------------------------

    def _write_config(self, require_certificate: bool, persistence: bool, max_queued: int,
                      extra: str) -> None:
        lines = [
            f"user {getpass.getuser()}",  # as root mosquitto would switch to 'mosquitto' otherwise
            f"listener {self.port} {self.host}",
            f"log_dest file {self.log_file}",
            "log_type error", "log_type warning", "log_type notice", "log_type information",
            "connection_messages true",
            f"max_queued_messages {max_queued}",  # 0: no limit, so a slow test subscriber loses nothing
        ]
        if persistence:
            lines += ["persistence true", f"persistence_location {self.folder}/", "autosave_interval 1"]
        if self.users:
            passwd = self.folder / "passwd"
            passwd.write_text("")
            passwd.chmod(0o600)
            tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
            for user, password in self.users.items():
                subprocess.run([tool, "-b", str(passwd), user, password], check=True, capture_output=True)
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        if self.tls is not None:
            lines += [f"cafile {self.tls.ca_file}", f"certfile {self.tls.server_cert}",
                      f"keyfile {self.tls.server_key}",
                      f"require_certificate {'true' if require_certificate else 'false'}"]
        self.config_file.write_text("\n".join(lines) + "\n" + extra)

    # -- life cycle -----------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> Mosquitto:
        if self.running:
            return self
        self._spawn([self.binary, "-c", str(self.config_file)])

        def listening() -> bool:
            with socket.create_connection((self.host, self.port), timeout=0.2):
                return True

        self._wait_ready(listening, timeout, "mosquitto", f"listen on {self.host}:{self.port}", 0.02)
        return self

    def restart(self) -> Mosquitto:
        self.stop()
        return self.start()

    def pause(self) -> None:
        """SIGSTOP: connections stay open but nothing is answered (no CONNACK, PUBACK, PINGRESP)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def _before_signal(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGCONT)  # a paused broker cannot act on SIGTERM

    def __repr__(self) -> str:
        return f"<mosquitto {self.host}:{self.port} {'running' if self.running else 'stopped'}>"


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    qos: int
    at: float  # time.monotonic() on arrival


class Recorder:
    """A paho test client that subscribes and keeps every message it receives, in order.

    With `persistent=True` its session (subscription and queued QoS 1 messages) outlives its
    connection and, on a broker with persistence, a broker restart; it reconnects by itself.
    """

    def __init__(self, broker: Mosquitto, topic_filter: str = "#", *, client_id: str = "recorder",
                 protocol: str = "5", qos: int = 1, persistent: bool = True, username: str | None = None,
                 password: str | None = None, tls: Pki | None = None) -> None:
        self.broker, self.topic_filter, self.qos = broker, topic_filter, qos
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        v5 = protocol == "5"
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=None if v5 else not persistent,
                                  protocol=paho.MQTTv5 if v5 else paho.MQTTv311)
        self.client.reconnect_delay_set(0.05, 0.3)  # type: ignore[arg-type]
        if username is not None:
            self.client.username_pw_set(username, password)
        if tls is not None:
            ctx = ssl.create_default_context(cafile=str(tls.ca_file))
            ctx.load_cert_chain(str(tls.client_cert), str(tls.client_key))
            self.client.tls_set_context(ctx)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        props = None
        if v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600 if persistent else 0
        kwargs: dict[str, Any] = {"clean_start": not persistent, "properties": props} if v5 else {}
        self.client.connect(broker.host, broker.port, 30, **kwargs)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError(f"recorder could not subscribe to {topic_filter} on {broker}")

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if not reason.is_failure:
            client.subscribe(self.topic_filter, self.qos)

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain), msg.qos,
                                          time.monotonic()))

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.messages)

    def on(self, suffix: str) -> list[Received]:
        """Messages whose topic ends with `suffix`."""
        return [m for m in self.snapshot() if m.topic.endswith(suffix)]

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.snapshot()):
                return True
            time.sleep(0.02)
        return predicate(self.snapshot())

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


MosquittoFactory = Callable[..., Mosquitto]
RecorderFactory = Callable[..., Recorder]


@pytest.fixture
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoFactory]:
    """start(*, users=None, tls=None, require_certificate=True, persistence=True, extra="")
    -> a running Mosquitto on a free loopback port; every one is stopped at teardown."""
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed")
    brokers: list[Mosquitto] = []

    def start(**options: object) -> Mosquitto:
        folder = tmp_path_factory.mktemp("mosquitto")
        broker = Mosquitto(folder, **options)  # type: ignore[arg-type]
        brokers.append(broker)
        return broker.start()

    yield start
    for broker in brokers:
        broker.stop()


@pytest.fixture
def mqtt_recorder() -> Iterator[RecorderFactory]:
    """start(broker, topic_filter="#", *, client_id="recorder", protocol="5", qos=1, persistent=True,
    username=None, password=None, tls=None) -> a subscribed Recorder; all closed at teardown."""
    recorders: list[Recorder] = []

    def start(broker: Mosquitto, topic_filter: str = "#", **options: Any) -> Recorder:
        recorder = Recorder(broker, topic_filter, **options)
        recorders.append(recorder)
        return recorder

    yield start
    for recorder in recorders:
        recorder.close()


@pytest.fixture(scope="session")
def test_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """One throwaway PKI for the session (making RSA keys takes a moment)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    return make_pki(tmp_path_factory.mktemp("pki"))
