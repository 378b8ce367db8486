"""The webhook channel: one JSON POST per notification (stdlib urllib). A robot template (WeCom,
DingTalk) also reads the robot's answer, which is HTTP 200 with {"errcode": N} when it refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request

from core.secrets import Secret, SecretUnavailable
from services.analytics.notify.config import WebhookChannel
from services.analytics.notify.errors import DeliveryFailed
from services.analytics.notify.message import Notification, webhook_body

USER_AGENT = "metergate-analytics"
# 408 (timeout) and 429 (rate limit) are worth another try; other 4xx answers are not
_RETRYABLE_4XX = {408, 425, 429}


def post_webhook(ch: WebhookChannel, n: Notification) -> None:
    """Raises DeliveryFailed. Errors name the host only: the URL's path and query may hold the key."""
    try:
        url = ch.url.reveal() if isinstance(ch.url, Secret) else ch.url
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
        if ch.token is not None:
            headers["Authorization"] = f"Bearer {ch.token.reveal()}"
        if ch.sign_secret is not None:
            url = dingtalk_signed(url, ch.sign_secret.reveal(), int(time.time() * 1000))
    except SecretUnavailable as exc:
        raise DeliveryFailed(f"channel {ch.id}: {exc}") from None
    host = urllib.parse.urlsplit(url).netloc or "the webhook"
    req = urllib.request.Request(url, data=webhook_body(n, ch.template, markdown=ch.markdown, lang=ch.lang),
                                 headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=ch.timeout) as resp:
            answer = resp.read(65536)
    except urllib.error.HTTPError as exc:
        code = exc.code
        raise DeliveryFailed(f"{host} answered HTTP {code} {exc.reason}",
                             permanent=400 <= code < 500 and code not in _RETRYABLE_4XX) from None
    except urllib.error.URLError as exc:
        raise DeliveryFailed(f"{host}: {exc.reason}") from None
    except (TimeoutError, OSError) as exc:
        raise DeliveryFailed(f"{host}: {type(exc).__name__}: {exc}") from None
    if ch.template != "json":
        _check_robot_answer(host, answer)


def dingtalk_signed(url: str, secret: str, ts_ms: int) -> str:
    """The URL with DingTalk's signature (加签): `timestamp` (ms) and `sign`, the base64 HMAC-SHA256
    of "timestamp\nsecret" keyed by the secret; the robot refuses one more than an hour off."""
    digest = hmac.new(secret.encode(), f"{ts_ms}\n{secret}".encode(), hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(digest).decode())
    return f"{url}{'&' if '?' in url else '?'}timestamp={ts_ms}&sign={sign}"


def _check_robot_answer(host: str, answer: bytes) -> None:
    try:
        doc = json.loads(answer)
    except ValueError:
        return  # not a robot's JSON answer: HTTP 2xx is all we can go by
    code = doc.get("errcode", 0) if isinstance(doc, dict) else 0
    if code not in (0, "0"):
        # the robots' refusals (a bad key, a keyword not found, too many messages a minute) are
        # answered alike: retried, the backoff outlasts the rate limit's minute
        raise DeliveryFailed(f"{host}: the robot refused the message: errcode {code} {doc.get('errmsg', '')}")


__all__ = ["dingtalk_signed", "post_webhook"]
