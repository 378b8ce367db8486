"""`LineWriter`: line protocol to InfluxDB, synchronously, under our own bounded retry loop.

This is the one module that imports influxdb-client. It is used in synchronous mode only: its
batching mode drops a batch once its retries run out and its `flush()` does nothing, so batching,
retries and acknowledgement are ours (services/ingest/service.py). `write_lines()` returns only once
the server has accepted every line; otherwise it raises `WriteError`:

- `permanent=True`: the server refused the data itself (HTTP 400 bad line or field type conflict,
  413 too large, 422 unprocessable). Retrying cannot help; the caller splits the batch to find the
  poison point (ingest dead-letters its message).
- `permanent=False`: retries were exhausted (only with `RetryPolicy.max_attempts`) or the writer was
  closed while waiting. Everything else is retried with exponential backoff: no connection,
  timeouts, 5xx, 429, and also 401/403/404 (wrong credentials, missing bucket or database): those
  are configuration faults an operator fixes while the broker keeps the data, so they are logged
  loudly (once per distinct reason) but never turn into data loss.

Two wire paths:
- api "v2": influxdb-client's WriteService.post_write (POST /api/v2/write, precision ns). We gzip
  the body ourselves at level 1: the client's own `enable_gzip` compresses at level 9, which costs
  several times the CPU for a few per cent smaller bodies.
- api "v1": InfluxDB before 1.8 has no /api/v2/write, and influxdb-client speaks only the v2 API,
  so a small http.client POST to /write?db=..&rp=..&precision=ns (gzip, HTTP basic auth) does it.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit

from core.backoff import Backoff, RetryPolicy
from core.secrets import SecretUnavailable
from services.shared.lineproto import line
from services.shared.target import InfluxTarget

log = logging.getLogger(__name__)

PERMANENT_STATUS = frozenset((400, 413, 422))
GZIP_LEVEL = 1

__all__ = ["InfluxTarget", "LineWriter", "RetryPolicy", "WriteError", "line"]


class WriteError(Exception):
    """A write that did not happen. `permanent`: the server refused the data (do not retry it as
    is); else retries ran out or the writer was closed. `status` is the HTTP status, if any."""

    def __init__(self, message: str, *, permanent: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.status = status


class _Attempt(Exception):
    """One failed attempt (internal): the reason in words, the status, whether retrying may help."""

    def __init__(self, reason: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


AttemptHook = Callable[[bool, float, str | None], None]  # (ok, seconds, error) after every attempt


class LineWriter:
    """Writes lines to one target. Thread-safe: one write at a time (a lock)."""

    def __init__(self, target: InfluxTarget, retry: RetryPolicy | None = None, *,
                 on_attempt: AttemptHook | None = None) -> None:
        self.target = target
        self.retry = retry or RetryPolicy()
        self.on_attempt = on_attempt
        self.attempts = 0  # every POST, also failed ones
        self.retries = 0  # attempts after a failure
        self.last_error: str | None = None
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._logged: set[str] = set()
        self._wire: _Wire | None = None

    # -- public ----------------------------------------------------------------------------------

    def write_lines(self, lines: Sequence[str]) -> None:
        """Write every line (retrying as the policy says) or raise WriteError."""
        if not lines:
            return
        body = "\n".join(lines).encode("utf-8")
        with self._lock:
            self._write_body(body, len(lines))

    def close(self) -> None:
        """Stop: a write waiting to retry raises WriteError(permanent=False) at once."""
        self._closed.set()
        with self._lock:
            if self._wire is not None:
                self._wire.close()
                self._wire = None

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    # -- the retry loop --------------------------------------------------------------------------

    def _write_body(self, body: bytes, count: int) -> None:
        backoff = Backoff(self.retry)
        attempts = 0
        payload = gzip.compress(body, GZIP_LEVEL) if self.target.gzip else body
        while True:
            if self._closed.is_set():
                raise WriteError(f"writer closed before {count} line(s) were written to "
                                 f"{self.target.describe()}", permanent=False)
            attempts += 1
            self.attempts += 1
            if attempts > 1:
                self.retries += 1
            started = time.monotonic()
            try:
                self._wire_now().post(payload, self.target.gzip)
            except _Attempt as exc:
                elapsed = time.monotonic() - started
                self.last_error = exc.reason
                if self.on_attempt is not None:
                    self.on_attempt(False, elapsed, exc.reason)
                if exc.status in PERMANENT_STATUS:
                    raise WriteError(f"{self.target.describe()} refused the data: {exc.reason}",
                                     permanent=True, status=exc.status) from None
                if exc.status in (401, 403) or exc.status is None:
                    self._drop_wire()  # a new connection re-reads the credentials
                if backoff.exhausted(attempts):
                    raise WriteError(f"{count} line(s) not written to {self.target.describe()} after "
                                     f"{attempts} attempt(s): {exc.reason}", permanent=False,
                                     status=exc.status) from None
                delay = backoff.next()
                if exc.retry_after is not None:
                    delay = min(max(delay, exc.retry_after), self.retry.maximum)
                self._log_once(exc.reason, delay)
                self._closed.wait(delay)  # close() cuts the wait short; the loop's head raises
                continue
            elapsed = time.monotonic() - started
            if attempts > 1:
                log.warning("writing to %s works again after %d attempt(s)", self.target.describe(),
                            attempts)
                self._logged.clear()
            self.last_error = None
            if self.on_attempt is not None:
                self.on_attempt(True, elapsed, None)
            return

    def _log_once(self, reason: str, delay: float) -> None:
        if reason in self._logged:
            log.debug("write to %s failed again: %s; retry in %.1f s", self.target.describe(), reason,
                      delay)
            return
        self._logged.add(reason)
        log.error("write to %s failed: %s; retrying with backoff (the data waits, nothing is lost)",
                  self.target.describe(), reason)

    def _wire_now(self) -> _Wire:
        if self._wire is None:
            try:
                self._wire = _V2Wire(self.target) if self.target.api == "v2" else _V1Wire(self.target)
            except SecretUnavailable as exc:
                raise _Attempt(f"credentials unavailable: {exc}") from None
        return self._wire

    def _drop_wire(self) -> None:
        if self._wire is not None:
            self._wire.close()
            self._wire = None


# -- wire paths ------------------------------------------------------------------------------------


class _Wire:
    def post(self, payload: bytes, gzipped: bool) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


def _status_reason(status: int, message: str, target: InfluxTarget) -> str:
    text = message.strip() or http.client.responses.get(status, "")
    if status in (401, 403):
        return (f"HTTP {status}: not authorised ({text}); check the credentials "
                f"({'token' if target.api == 'v2' else 'username/password'}) and their permissions")
    if status == 404:
        what = f"bucket {target.bucket!r}" if target.api == "v2" else f"database {target.database!r}"
        return f"HTTP 404: {text}; does the {what} exist, and is {target.url} the right server/API?"
    return f"HTTP {status}: {text}"


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


class _V2Wire(_Wire):
    """influxdb-client's generated WriteService, synchronous, without its own retries."""

    def __init__(self, target: InfluxTarget) -> None:
        from influxdb_client import InfluxDBClient
        from influxdb_client.service.write_service import WriteService

        self.target = target
        token_secret, password = target.token(), target.password()
        if token_secret is not None:
            token: str | None = token_secret.reveal()
        elif password is not None:
            token = f"{target.username}:{password.reveal()}"  # InfluxDB 1.8's v2 compatibility
        else:
            token = None  # VictoriaMetrics, or a server without authentication
        options: dict[str, Any] = {"url": target.url, "token": token, "org": target.org or None,
                                   "timeout": int(target.timeout_s * 1000), "enable_gzip": False,
                                   "retries": False, "verify_ssl": target.verify_tls}
        if target.ca_file:
            options["ssl_ca_cert"] = target.ca_file
        self.client = InfluxDBClient(**options)
        self.service = WriteService(self.client.api_client)

    def post(self, payload: bytes, gzipped: bool) -> None:
        from influxdb_client.rest import ApiException
        from urllib3.exceptions import HTTPError as Urllib3Error

        extra = {"content_encoding": "gzip"} if gzipped else {}
        try:
            self.service.post_write(org=self.target.org or "-", bucket=self.target.bucket, body=payload,
                                    precision="ns", content_type="text/plain; charset=utf-8", **extra)
        except ApiException as exc:
            status = int(exc.status or 0)
            message = _body_message(exc.body)
            raise _Attempt(_status_reason(status, message or str(exc.reason or ""), self.target),
                           status, _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
                           ) from None
        except (Urllib3Error, OSError) as exc:
            raise _Attempt(_connection_reason(exc, self.target)) from None

    def close(self) -> None:
        self.client.close()


class _V1Wire(_Wire):
    """POST /write of InfluxDB 1.x over one kept-alive http.client connection."""

    def __init__(self, target: InfluxTarget) -> None:
        self.target = target
        parts = urlsplit(target.url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.https else 80)
        query = {"db": target.database or "", "precision": "ns"}
        if target.retention_policy:
            query["rp"] = target.retention_policy
        self.path = f"{parts.path.rstrip('/')}/write?{urlencode(query)}"
        self.headers = {"Content-Type": "text/plain; charset=utf-8"}
        password = target.password()
        if password is not None:
            pair = f"{target.username}:{password.reveal()}".encode()
            self.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        self.conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            timeout = self.target.timeout_s
            if self.https:
                ctx = ssl.create_default_context(cafile=self.target.ca_file)
                if not self.target.verify_tls:
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                self.conn = http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=ctx)
            else:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        return self.conn

    def post(self, payload: bytes, gzipped: bool) -> None:
        headers = dict(self.headers)
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        try:
            conn = self._connection()
            conn.request("POST", self.path, body=payload, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise _Attempt(_connection_reason(exc, self.target)) from None
        if response.status in (200, 204):
            return
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        raise _Attempt(_status_reason(response.status, _body_message(data), self.target),
                       response.status, _retry_after(response.getheader("Retry-After")))

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _body_message(body: object) -> str:
    """The error text of an InfluxDB answer: {"error": ...} (1.x), {"message": ...} (2.x), or text."""
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str):
        return ""
    try:
        doc = json.loads(body)
    except ValueError:
        return body.strip()[:500]
    if isinstance(doc, dict):
        for key in ("error", "message"):
            if isinstance(doc.get(key), str):
                return str(doc[key])[:500]
    return body.strip()[:500]


def _connection_reason(exc: BaseException, target: InfluxTarget) -> str:
    text = str(exc)
    root: BaseException | None = exc
    while root is not None:  # urllib3 wraps the socket error
        if isinstance(root, ConnectionRefusedError) or "Connection refused" in str(root):
            return f"connection refused: nothing listens at {target.url} (is the database running?)"
        if isinstance(root, TimeoutError) or "timed out" in str(root).lower():
            return f"no answer within {target.timeout_s:g} s"
        root = root.__cause__ or root.__context__
    if "Max retries" in text or "NewConnectionError" in text:
        return f"cannot connect to {target.url}: {text}"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
