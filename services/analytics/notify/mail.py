"""The e-mail channel: one message per notification over SMTP (STARTTLS, optional login), stdlib
smtplib. The password is read from its file or variable at each attempt, so a rotated one is used."""

from __future__ import annotations

import smtplib
import ssl

from core.secrets import SecretUnavailable
from services.analytics.notify.config import EmailChannel
from services.analytics.notify.errors import DeliveryFailed
from services.analytics.notify.message import Notification, email_message


def tls_context(ch: EmailChannel) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ch.ca_file) if ch.ca_file else None)


def send_email(ch: EmailChannel, n: Notification) -> None:
    """Raises DeliveryFailed; SMTP 5xx answers and a refused login are permanent."""
    msg = email_message(n, ch)
    try:
        with smtplib.SMTP(ch.host, ch.port, timeout=ch.timeout) as smtp:
            smtp.ehlo()
            if ch.starttls:
                if not smtp.has_extn("starttls"):
                    raise DeliveryFailed(f"{ch.host}:{ch.port} does not offer STARTTLS", permanent=True)
                smtp.starttls(context=tls_context(ch))
                smtp.ehlo()
            if ch.username is not None:
                password = ch.password.reveal() if ch.password is not None else ""
                smtp.login(ch.username, password)
            refused = smtp.send_message(msg)
    except DeliveryFailed:
        raise
    except SecretUnavailable as exc:
        raise DeliveryFailed(f"the SMTP password: {exc}") from None
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryFailed(f"{ch.host}: login as {ch.username} refused: {_reply(exc)}",
                             permanent=exc.smtp_code >= 500) from None
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise DeliveryFailed(f"{ch.host} refused every recipient: {_recipients(exc.recipients)}",
                             permanent=all(c >= 500 for c in codes)) from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryFailed(f"{ch.host}: {_reply(exc)}", permanent=exc.smtp_code >= 500) from None
    except ssl.SSLError as exc:
        raise DeliveryFailed(f"{ch.host}: TLS failed: {exc.reason or exc}") from None
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        raise DeliveryFailed(f"{ch.host}:{ch.port}: {type(exc).__name__}: {exc}") from None
    if refused:  # some recipients took it: the rest is recorded, not retried (they would get it twice)
        raise DeliveryFailed(f"{ch.host} refused some recipients: {_recipients(refused)}", permanent=True)


def _reply(exc: smtplib.SMTPResponseException) -> str:
    err = exc.smtp_error
    text = err.decode("utf-8", "replace") if isinstance(err, bytes) else str(err)
    return f"{exc.smtp_code} {text}"


def _recipients(refused: dict[str, tuple[int, bytes]]) -> str:
    return ", ".join(f"{to} ({code} {msg.decode('utf-8', 'replace')})" for to, (code, msg) in refused.items())


__all__ = ["send_email"]
