"""Real receivers for the notification tests, on free loopback ports: an SMTP server (aiosmtpd, with
STARTTLS on a throwaway certificate and AUTH) and an HTTP server (http.server in a thread). Each
records what it received, can refuse its first N messages (SMTP 451, HTTP 500) and can hang."""

from __future__ import annotations

import email
import email.policy
import json
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.mosquitto import Pki, free_port


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: EmailMessage
    login: str | None  # the user the client logged in as
    tls: bool  # the session had switched to TLS (STARTTLS) before DATA
    at: float


class _SmtpHandler:
    def __init__(self, owner: SmtpReceiver) -> None:
        self.owner = owner

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        o = self.owner
        with o.lock:
            o.attempts.append(time.monotonic())
            if o.refuse > 0:
                o.refuse -= 1
                return "451 4.3.0 mailbox busy, try again later"
            msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
            data = session.auth_data
            login = data.login.decode() if session.authenticated and hasattr(data, "login") else None
            o.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), msg,  # type: ignore[arg-type]
                                login, session.ssl is not None, time.monotonic()))
        return "250 OK"


class SmtpReceiver:
    """aiosmtpd on 127.0.0.1 that requires STARTTLS and a login (user/password) before mail."""

    host = "127.0.0.1"

    def __init__(self, pki: Pki, user: str = "metergate", password: str = "s3cret-pw") -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        self.user, self.password = user, password
        self.mails: list[Mail] = []
        self.attempts: list[float] = []
        self.logins: list[tuple[str, bool]] = []  # (user, accepted)
        self.refuse = 0
        self.lock = threading.Lock()
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(pki.server_cert, pki.server_key)

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = (isinstance(data, LoginPassword) and data.login.decode() == self.user
                  and data.password.decode() == self.password)
            self.logins.append((data.login.decode() if isinstance(data, LoginPassword) else "?", ok))
            return AuthResult(success=ok, handled=False, auth_data=data)

        self.port = free_port()
        self.controller = Controller(_SmtpHandler(self), hostname=self.host, port=self.port,
                                     tls_context=ctx, require_starttls=True, auth_required=True,
                                     auth_require_tls=True, authenticator=authenticate)
        self.controller.start()

    def wait(self, n: int, timeout: float = 20.0) -> list[Mail]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.mails) >= n:
                    return list(self.mails)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.mails)} mail(s) received, expected {n}")

    def close(self) -> None:
        self.controller.stop()


@dataclass
class Post:
    path: str
    headers: dict[str, str]
    body: Any  # the JSON document
    at: float


@dataclass
class HttpReceiver:
    """POSTs recorded as JSON; `fail` answers the next N with HTTP 500; `hang` holds every answer
    until released (or the server closes)."""

    server: ThreadingHTTPServer
    posts: list[Post] = field(default_factory=list)
    attempts: list[float] = field(default_factory=list)
    fail: int = 0
    status: int = 500
    answer: bytes = b'{"errcode": 0, "errmsg": "ok"}'
    hang: threading.Event = field(default_factory=threading.Event)  # set: hang
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait(self, n: int, timeout: float = 20.0) -> list[Post]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.posts) >= n:
                    return list(self.posts)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.posts)} POST(s) received, expected {n}")

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def http_receiver() -> HttpReceiver:
    holder: list[HttpReceiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            r = holder[0]
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with r.lock:
                r.attempts.append(time.monotonic())
                failing = r.fail > 0
                if failing:
                    r.fail -= 1
            if r.hang.is_set():
                r.release.wait(60)
                return
            if failing:
                self.send_response(r.status)
                self.end_headers()
                return
            with r.lock:
                r.posts.append(Post(self.path, dict(self.headers), json.loads(body), time.monotonic()))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(r.answer)))
            self.end_headers()
            self.wfile.write(r.answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = HttpReceiver(server)
    holder.append(receiver)
    threading.Thread(target=server.serve_forever, name="http-receiver", daemon=True).start()
    return receiver


@pytest.fixture
def webhook() -> Iterator[HttpReceiver]:
    r = http_receiver()
    yield r
    r.close()


@pytest.fixture
def smtp(test_pki: Pki) -> Iterator[SmtpReceiver]:
    r = SmtpReceiver(test_pki)
    yield r
    r.close()
