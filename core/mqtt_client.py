"""The one module that imports paho-mqtt: an MQTT connection that reconnects for ever.

A `Link` is driven by one thread (the publisher's). `poll(timeout)` makes a connection attempt when
one is due, or runs paho's network loop for up to `timeout`; paho's callbacks run inside `poll` and
reach the `LinkListener` as our own types (`Connected`, `Ack`, a reason string). Every attempt uses
a fresh paho client with a clean session, so nothing paho held in memory outlives a connection: the
caller decides what to send again (the publisher re-sends from its outbox).

Attempts follow exponential backoff with jitter between `reconnect_min` and `reconnect_max`, for
ever, whether the broker was never reached or went away later. The backoff is reset only once a
connection has stayed up for `stable_after` seconds, so a broker that accepts and then drops us is
not hammered. A failure is logged at ERROR once per distinct reason, naming the host, port and what
to check (a TLS file, the credentials); repeats go to DEBUG. The password is read from its source at
each attempt and never logged; `LinkSettings` keeps it out of its repr.
"""

from __future__ import annotations

import logging
import random
import re
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from core.backoff import Backoff, RetryPolicy
from core.tls_files import TlsFiles

log = logging.getLogger(__name__)

ProtocolVersion = Literal["5", "3.1.1"]
PROTOCOLS: tuple[ProtocolVersion, ...] = ("5", "3.1.1")
_NOT_AUTHORISED = {0x86, 0x87, 0x8C}  # bad user name or password, not authorized, bad auth method
# CONNACK return codes of MQTT 3.1.1 that paho maps onto MQTT 5 reason codes
_V3_NOT_AUTHORISED = {4, 5}


class SecretLike(Protocol):
    """site_config.Secret: a reference whose `reveal()` reads the value now."""

    def reveal(self) -> str: ...


PasswordSource = str | Callable[[], str] | SecretLike | None


def password_now(source: PasswordSource) -> str | None:
    """The password as its source gives it now (a secret file or variable is read at this call)."""
    if source is None or isinstance(source, str):
        return source
    reveal = getattr(source, "reveal", None)
    if callable(reveal):
        return str(reveal())
    if callable(source):
        return str(source())
    raise TypeError(f"password must be a str, a callable or an object with reveal(), not "
                    f"{type(source).__name__}")


class TlsFileError(ValueError):
    """A TLS file that cannot be used; the message names it."""


class PasswordUnavailable(RuntimeError):
    """The password's source (file, variable, callable) cannot give it now; never holds the value."""


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True)
class LinkSettings:
    host: str
    port: int = 1883
    protocol: ProtocolVersion = "5"
    client_id: str = ""
    username: str | None = None
    password: PasswordSource = field(default=None, repr=False, compare=False)
    tls: TlsFiles | None = None
    keepalive: int = 60
    connect_timeout: float = 10.0  # TCP connect, TLS handshake and CONNACK, each
    reconnect_min: float = 1.0
    reconnect_max: float = 30.0
    stable_after: float = 30.0  # a connection up this long resets the backoff

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, not {self.protocol!r}")
        if not 0 < self.port < 65536:
            raise ValueError(f"port {self.port} is not a TCP port")
        if not 0 < self.reconnect_min <= self.reconnect_max:
            raise ValueError("need 0 < reconnect_min <= reconnect_max")

    @property
    def endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def describe(self) -> str:
        extras = [f"MQTT {self.protocol}"] + (["TLS"] if self.tls else []) + \
            ([f"user {self.username!r}"] if self.username else [])
        return f"{self.endpoint} ({', '.join(extras)})"


@dataclass(frozen=True, slots=True)
class Connected:
    session_present: bool
    receive_maximum: int | None  # MQTT 5: how many QoS 1 messages the broker takes in flight
    failed_attempts: int  # attempts that failed before this one


@dataclass(frozen=True, slots=True)
class Ack:
    token: int  # what publish() returned
    ok: bool  # False: the broker answered with a failure reason code (MQTT 5)
    reason: str


class LinkListener(Protocol):
    def link_up(self, info: Connected) -> None: ...
    def link_down(self, reason: str) -> None: ...  # a connection that was up is gone
    def link_ack(self, ack: Ack) -> None: ...


class LinkDown(RuntimeError):
    """publish() while there is no connection."""


def tls_context(tls: TlsFiles) -> ssl.SSLContext:
    """A client context verifying the broker against `ca_file` (or the system store)."""
    ca = Path(tls.ca_file) if tls.ca_file is not None else None
    cert = Path(tls.cert_file) if tls.cert_file is not None else None
    key = Path(tls.key_file) if tls.key_file is not None else None
    for what, path in (("CA file", ca), ("client certificate", cert), ("client key", key)):
        if path is not None and not path.is_file():
            raise TlsFileError(f"TLS {what} {path} does not exist or is not a file")
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)  # verifies the chain and host name
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca is not None:
        try:
            ctx.load_verify_locations(cafile=str(ca))
        except (ssl.SSLError, OSError) as exc:
            raise TlsFileError(f"TLS CA file {ca} cannot be used: {_ssl_reason(exc)}; it must hold the "
                               "PEM certificate of the CA that signed the broker's certificate") from None
    if cert is not None:
        try:
            ctx.load_cert_chain(str(cert), str(key) if key is not None else None, password=_no_password)
        except (ssl.SSLError, OSError) as exc:
            raise TlsFileError(f"TLS client certificate {cert}"
                               f"{f' with key {key}' if key else ''} cannot be used: {_ssl_reason(exc)}; "
                               "give the PEM certificate and its unencrypted private key") from None
    if tls.insecure:
        ctx.check_hostname = False
    return ctx


def _no_password() -> str:
    raise TlsFileError("the private key is encrypted; the gateway needs an unencrypted key file")


def _ssl_reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):  # "[SSL: CODE] words (_ssl.c:1234)" without the source line
        return re.sub(r"\s*\(_ssl\.c:\d+\)$", "", str(exc.strerror or exc)) or type(exc).__name__
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


def describe_failure(exc: BaseException, settings: LinkSettings) -> str:
    """Why a connection attempt failed, in words, with what to check."""
    tls = settings.tls
    if isinstance(exc, TlsFileError | PasswordUnavailable):
        return str(exc)
    if isinstance(exc, ssl.SSLCertVerificationError):
        trust = f"the CA file {tls.ca_file}" if tls and tls.ca_file else "the system's CA store"
        msg = exc.verify_message or _ssl_reason(exc)
        if "hostname" in str(msg).lower() or "ip address mismatch" in str(msg).lower():
            return (f"TLS: the broker's certificate does not name {settings.host} ({msg}); connect by "
                    "a name the certificate holds, or set insecure to skip the host name check")
        return (f"TLS: the broker's certificate is not trusted ({msg}); it must be signed by a CA in "
                f"{trust}")
    if tls is not None and isinstance(exc, ConnectionResetError | BrokenPipeError | ssl.SSLEOFError):
        return (f"TLS handshake failed: the broker closed the connection ({_ssl_reason(exc)}); is "
                f"{settings.endpoint} a TLS listener?")
    if isinstance(exc, ssl.SSLError):
        reason = _ssl_reason(exc)
        if "wrong_version_number" in reason.lower() or "wrong version number" in reason.lower():
            return f"TLS handshake failed ({reason}): is {settings.endpoint} a TLS listener?"
        return tls_alert(reason, settings) or f"TLS handshake failed: {reason}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused: nothing listens there (is the broker running?)"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name {settings.host!r}: {exc.strerror or exc}"
    if isinstance(exc, TimeoutError):
        return f"no answer within {settings.connect_timeout:g} s"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


_CLIENT_CERT_ALERTS = ("certificate_required", "certificate required", "unknown_ca", "unknown ca",
                       "bad_certificate", "bad certificate", "certificate_unknown", "certificate unknown")


def tls_alert(text: str, settings: LinkSettings) -> str | None:
    """The broker's TLS alert about our client certificate, in words; None for other text."""
    if not any(a in text.lower() for a in _CLIENT_CERT_ALERTS):
        return None
    tls = settings.tls
    cert = f"the client certificate {tls.cert_file}" if tls and tls.cert_file else \
        "no client certificate (set cert_file and key_file)"
    return f"TLS: the broker refused our client certificate ({text}); it was offered {cert}"


def describe_refusal(reason: ReasonCode, settings: LinkSettings) -> str:
    """A CONNACK with a failure code, in words."""
    code = reason.value
    text = reason.getName() if hasattr(reason, "getName") else str(reason)
    if code in _NOT_AUTHORISED or (settings.protocol == "3.1.1" and code in _V3_NOT_AUTHORISED):
        who = f"user {settings.username!r}" if settings.username else "no user name (anonymous)"
        return (f"the broker refused the connection: not authorised ({text}); check the user name "
                f"and password ({who})")
    if code in (0x85, 0x02):  # client identifier not valid
        return (f"the broker refused the connection: client id {settings.client_id!r} not accepted "
                f"({text})")
    return f"the broker refused the connection: {text} (reason code {code})"


_State = Literal["down", "connecting", "up"]


class Link:
    """One MQTT connection, re-established for ever; driven by `poll()` from a single thread."""

    def __init__(self, settings: LinkSettings, listener: LinkListener, *,
                 will: Callable[[], Will | None] | None = None, clock: Callable[[], float] = time.monotonic,
                 rng: Callable[[], float] = random.random) -> None:
        self.settings = settings
        self.listener = listener
        self.will = will
        self.clock = clock
        self.backoff = Backoff(RetryPolicy(settings.reconnect_min, settings.reconnect_max), rng)
        self.state: _State = "down"
        self.attempts = 0  # connection attempts made
        self.connections = 0  # attempts that got a CONNACK with success
        self.failed_in_a_row = 0
        self.last_error: str | None = None
        self._client: paho.Client | None = None
        self._next_attempt = clock()  # the first attempt is due at once
        self._since = 0.0  # when the current state began
        self._problems: set[str] = set()  # reasons logged at ERROR since the last connection
        self._refusal: str | None = None  # a CONNACK failure seen in on_connect
        self._down_reason: str | None = None  # set by on_disconnect for a DISCONNECT from the broker
        self._down_seen = False  # set by on_disconnect when the socket failed
        self._paho_error: str | None = None  # paho's last error log line (e.g. a TLS alert)
        self._paho_log = _error_logger(self)
        self._lost_logged: set[str] = set()  # losses logged at WARNING since the last stable connection

    # -- driving ----------------------------------------------------------------------------------

    @property
    def up(self) -> bool:
        return self.state == "up"

    def wait_hint(self) -> float:
        """Seconds until the next attempt while down; 0 while connecting or up."""
        return max(0.0, self._next_attempt - self.clock()) if self.state == "down" else 0.0

    def poll(self, timeout: float) -> None:
        """Attempt a connection if one is due, else process network I/O for up to `timeout`."""
        if self.state == "down":
            if self.clock() >= self._next_attempt:
                self._attempt()
            return
        client = self._client
        assert client is not None
        try:
            rc = client.loop(timeout)
        except Exception as exc:  # paho handles socket errors itself; anything else ends this connection
            reason = f"network loop failed: {describe_failure(exc, self.settings)}"
            if self.state == "connecting":
                self._failed(reason)
            else:
                self._lost(reason)
            return
        gone = rc != MQTTErrorCode.MQTT_ERR_SUCCESS or self._down_seen or self._down_reason is not None
        if self.state == "connecting":
            if self._refusal is not None:
                self._failed(self._refusal)
            elif gone:
                self._failed(self._down_reason or self._closed_before_connack())
            elif self.clock() - self._since > self.settings.connect_timeout:
                self._failed(f"no CONNACK within {self.settings.connect_timeout:g} s")
        elif self.state == "up" and gone:
            self._lost(self._down_reason or _rc_text(rc, "connection lost"))

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        """Send one message; returns the token its Ack will carry. LinkDown without a connection."""
        client = self._client
        if self.state != "up" or client is None:
            raise LinkDown(f"not connected to {self.settings.endpoint}")
        info = client.publish(topic, payload, qos=qos, retain=retain)
        failed = info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_AGAIN)
        if failed or self._down_seen or self._down_reason is not None or client.socket() is None:
            # the write found the connection gone (paho closed the socket and told on_disconnect)
            reason = self._down_reason or _rc_text(info.rc if failed else MQTTErrorCode.MQTT_ERR_CONN_LOST,
                                                   "connection lost")
            self._lost(reason)
            raise LinkDown(f"publish to {self.settings.endpoint} failed: {reason}")
        return int(info.mid)

    def drop(self, reason: str) -> None:
        """Close the connection as failed (e.g. the broker refused a message); reconnect later."""
        if self.state == "down":
            return
        was_up = self.state == "up"
        self._close_socket()
        if was_up:
            self._lost(reason, closed=True)
        else:
            self._failed(reason)

    def close(self, timeout: float = 1.0) -> None:
        """Disconnect cleanly (the broker discards the will); no reconnect follows."""
        client, self._client = self._client, None
        state, self.state = self.state, "down"
        self._next_attempt = float("inf")
        if client is None:
            return
        try:
            if state == "up":
                client.disconnect()
                end = self.clock() + timeout
                while client.socket() is not None and self.clock() < end:
                    client.loop(0.05)
        finally:
            _close_quietly(client)

    # -- attempts ---------------------------------------------------------------------------------

    def _attempt(self) -> None:
        self.attempts += 1
        self._refusal = self._down_reason = self._paho_error = None
        self._down_seen = False
        try:
            client = self._new_client()
            self._client = client
            s = self.settings
            if s.protocol == "5":
                client.connect(s.host, s.port, s.keepalive, clean_start=True)
            else:
                client.connect(s.host, s.port, s.keepalive)
        except Exception as exc:  # every failure is retried; the reason is logged once
            self._failed(describe_failure(exc, self.settings))
            return
        self.state = "connecting"
        self._since = self.clock()

    def _new_client(self) -> paho.Client:
        s = self.settings
        v5 = s.protocol == "5"
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=s.client_id,
                             clean_session=None if v5 else True,
                             protocol=paho.MQTTv5 if v5 else paho.MQTTv311, reconnect_on_failure=False)
        client.connect_timeout = s.connect_timeout
        client.max_inflight_messages_set(0)  # the publisher keeps the window; paho must not queue
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.enable_logger(self._paho_log)
        if s.tls is not None:
            client.tls_set_context(tls_context(s.tls))
            client.tls_insecure_set(s.tls.insecure)
        if s.username is not None or s.password is not None:
            try:
                password = password_now(s.password)
            except Exception as exc:  # the secret's own message names its file or variable
                raise PasswordUnavailable(f"cannot read the MQTT password: {exc}") from None
            client.username_pw_set(s.username, password)
        will = self.will() if self.will is not None else None
        if will is not None:
            client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        return client

    def _closed_before_connack(self) -> str:
        """Why the broker hung up before CONNACK, worded the same whether or not paho saw the alert.

        With TLS 1.3 a broker refuses a client certificate after the client's side of the handshake
        is done, so the refusal shows up as a connection closed before CONNACK."""
        if self._paho_error:
            log.debug("MQTT broker %s: %s", self.settings.describe(), self._paho_error)
        tls = self.settings.tls
        if tls is None:
            return "the broker closed the connection before answering CONNECT"
        if tls.cert_file is None:
            return ("TLS: the broker closed the connection before answering CONNECT; it probably "
                    "requires a client certificate and none is set (set cert_file and key_file)")
        return (f"TLS: the broker closed the connection before answering CONNECT; if it requires "
                f"client certificates, it refused {tls.cert_file}")

    def _failed(self, reason: str) -> None:
        """An attempt did not give a connection: log once per reason, schedule the next."""
        self._close_socket()
        self.state = "down"
        self.failed_in_a_row += 1
        self.last_error = reason
        delay = self.backoff.next()
        self._next_attempt = self.clock() + delay
        if reason not in self._problems:
            self._problems.add(reason)
            log.error("MQTT broker %s: %s; retrying for ever with backoff up to %g s (logged once until "
                      "a connection succeeds)", self.settings.describe(), reason,
                      self.settings.reconnect_max)
        else:
            log.debug("MQTT broker %s: %s (attempt %d); next attempt in %.1f s",
                      self.settings.describe(), reason, self.failed_in_a_row, delay)

    def _lost(self, reason: str, *, closed: bool = False) -> None:
        """A connection that was up is gone."""
        if not closed:
            self._close_socket()
        up_for = self.clock() - self._since
        self.state = "down"
        self.last_error = reason
        if up_for >= self.settings.stable_after:  # a stable connection: try again at once
            self.backoff.reset()
            self._lost_logged.clear()
            delay = 0.0
        else:  # up only briefly: keep backing off, or a broker that drops us is hammered
            delay = self.backoff.next()
        self._next_attempt = self.clock() + delay
        if reason not in self._lost_logged:  # a connection that keeps failing: say each way once
            self._lost_logged.add(reason)
            log.warning("MQTT connection to %s lost after %.0f s: %s; reconnecting",
                        self.settings.describe(), up_for, reason)
        else:
            log.debug("MQTT connection to %s lost again after %.1f s: %s; next attempt in %.1f s",
                      self.settings.describe(), up_for, reason, delay)
        self.listener.link_down(reason)

    def _close_socket(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            _close_quietly(client)

    # -- paho callbacks (run inside poll) ---------------------------------------------------------

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode,
                    properties: Any) -> None:
        if client is not self._client:
            return
        if reason.is_failure:
            self._refusal = describe_refusal(reason, self.settings)
            return
        receive_max = getattr(properties, "ReceiveMaximum", None) if properties is not None else None
        failed, self.failed_in_a_row = self.failed_in_a_row, 0
        self.state = "up"
        self._since = self.clock()
        self.connections += 1
        self._problems.clear()
        log.info("MQTT connected to %s%s", self.settings.describe(),
                 f" after {failed} failed attempt(s)" if failed else "")
        self.listener.link_up(Connected(bool(getattr(flags, "session_present", False)),
                                        int(receive_max) if receive_max is not None else None, failed))

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode,
                       properties: Any) -> None:
        if client is not self._client:
            return
        if getattr(flags, "is_disconnect_packet_from_server", False):
            text = reason.getName() if hasattr(reason, "getName") else str(reason)
            self._down_reason = f"the broker disconnected us: {text}"
        else:  # the socket failed or closed: poll() words it from paho's return code
            self._down_seen = True

    def paho_error(self, text: str) -> None:
        self._paho_error = text

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int, reason: ReasonCode,
                    properties: Any) -> None:
        if client is not self._client:
            return
        text = reason.getName() if hasattr(reason, "getName") else str(reason)
        self.listener.link_ack(Ack(int(mid), not reason.is_failure, text))


class _LastError(logging.Handler):
    def __init__(self, link: Link) -> None:
        super().__init__(logging.ERROR)
        self.link = link

    def emit(self, record: logging.LogRecord) -> None:
        self.link.paho_error(record.getMessage())


def _error_logger(link: Link) -> logging.Logger:
    """A logger of its own for paho's messages, passing on only errors (e.g. a TLS alert) to the
    Link. Not paho's on_log callback: with one set, paho formats a debug line for every packet,
    a few microseconds per message sent and per acknowledgement. Not registered with logging, so
    a Link leaves nothing behind."""
    logger = logging.Logger(f"{__name__}.paho", logging.ERROR)
    logger.propagate = False
    logger.addHandler(_LastError(link))
    return logger


_RC_WORDS = {
    MQTTErrorCode.MQTT_ERR_CONN_LOST: "the connection closed (broker stopped or network failure)",
    MQTTErrorCode.MQTT_ERR_KEEPALIVE: "no answer from the broker within the keepalive time",
    MQTTErrorCode.MQTT_ERR_NO_CONN: "not connected",
}


def _rc_text(rc: MQTTErrorCode | int, default: str) -> str:
    if rc in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_AGAIN):
        return default
    words = _RC_WORDS.get(rc) or paho.error_string(rc).rstrip(".")  # type: ignore[call-overload]
    return f"{default}: {words}"


def _close_quietly(client: paho.Client) -> None:
    sock = client.socket()
    try:
        if sock is not None:
            sock.close()
    except OSError:
        pass
