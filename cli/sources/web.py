"""HTTP GET/POST to a source with its credentials, every failure turned into a SourceError that
names the source and says what to check (the standard library: no client library needed)."""

from __future__ import annotations

import base64
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from http.client import HTTPResponse

from cli.sources.errors import SourceError
from cli.sources.spec import Source
from core.secrets import SecretUnavailable


def headers(source: Source) -> dict[str, str]:
    """Basic auth for a username + password, `Token` for a token (read now, never kept)."""
    try:
        if source.username and source.password is not None:
            pair = f"{source.username}:{source.password.reveal()}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        if source.token is not None:
            return {"Authorization": "Token " + source.token.reveal()}
    except SecretUnavailable as exc:
        raise SourceError(source.name, f"the credentials: {exc}") from None
    return {}


def _context(source: Source) -> ssl.SSLContext | None:
    if not source.url.startswith("https"):
        return None
    context = ssl.create_default_context(cafile=source.ca_file)
    if not source.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def request(source: Source, path: str, params: Mapping[str, str] | list[tuple[str, str]], *,
            what: str, data: bytes | None = None, content_type: str | None = None) -> HTTPResponse:
    """The open response (read or iterate it; close it). `what` says what was asked, for messages."""
    query = urllib.parse.urlencode(params)
    req = urllib.request.Request(f"{source.url}{path}?{query}", data=data, headers=headers(source))
    if content_type:
        req.add_header("Content-Type", content_type)
    try:
        response: HTTPResponse = urllib.request.urlopen(req, timeout=source.timeout,
                                                        context=_context(source))
        return response
    except urllib.error.HTTPError as exc:
        body = exc.read(500).decode("utf-8", "replace").strip()
        exc.close()
        if len(body) > 300:
            body = body[:300] + "…"
        if exc.code == 401:
            why = "authentication failed: check username and password (or the token)"
        elif exc.code == 403:
            why = ("not authorised: the user may not read this database or bucket (or it does not "
                   "exist)")
        elif exc.code == 404:
            why = "not found (is this the right server, database or bucket?)"
        else:
            why = f"HTTP {exc.code}"
        raise SourceError(source.name, f"{what}: {why}" + (f": {body}" if body else "")) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SourceError(source.name, f"{what}: cannot reach {source.url}: {reason} "
                                       "(is the server running, and the host and port right?)") from None


__all__ = ["headers", "request"]
