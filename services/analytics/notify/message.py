"""What a notification says: built from an alert change or a finished report, rendered as an e-mail
or as a webhook body (plain JSON, or the WeCom / DingTalk group-robot shapes).

    n = from_change(change, before=Severity.WARNING, tz=ZoneInfo("Asia/Shanghai"))  # None: not notified
    n = report_ready("campus-a", "2026-11", "/var/lib/metergate/reports/campus-a-2026-11.pdf", now_ns)
    email_message(n, channel); webhook_body(n, "wecom", markdown=False)

A notification is plain data (`as_dict`/`from_dict`), so a pending one survives a restart in the
alert store and is rendered again when it is sent.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from zoneinfo import ZoneInfo

from analytics.alerts import Change
from analytics.events import Severity
from services.analytics.notify.config import EmailChannel, Template
from services.analytics.notify.words import kind_name, words
from services.analytics.payloads import alert_doc

NOTIFICATION_SCHEMA = "metergate.notification/1"


@dataclass(frozen=True)
class Notification:
    event: str  # raised | escalated | cleared | report
    site: str
    at_ns: int  # when it happened: the tick (reading time) of an alert change, the report's time
    severity: Severity
    tz: str  # the site's time zone: times in the text are local
    alert: dict[str, Any] | None = None  # the alert's document (services.analytics.payloads.alert_doc)
    report: dict[str, str] | None = None  # {"period", "path"}
    kind: str | None = None  # the alert kind, for routing
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def alert_id(self) -> str | None:
        return None if self.alert is None else str(self.alert["id"])

    def as_dict(self) -> dict[str, Any]:
        return {"event": self.event, "site": self.site, "at_ns": self.at_ns, "severity": self.severity.label,
                "tz": self.tz, "alert": self.alert, "report": self.report, "kind": self.kind,
                "extra": self.extra}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Notification:
        return cls(d["event"], d["site"], int(d["at_ns"]), Severity[d["severity"].upper()], d["tz"],
                   d.get("alert"), d.get("report"), d.get("kind"), d.get("extra") or {})


def from_change(c: Change, before: Severity | None, tz: tzinfo) -> Notification | None:
    """The notification of a lifecycle change, or None: an acknowledgement and a de-escalation are
    not announced (the alert is still there, and no more urgent); an update that raises the
    severity is an escalation."""
    a = c.alert
    if c.kind == "raised":
        event = "raised"
    elif c.kind == "cleared":
        event = "cleared"
    elif c.kind == "updated" and before is not None and a.severity > before:
        event = "escalated"
    else:
        return None
    doc = _finite(alert_doc(a, tz))
    if c.kind == "cleared" and a.cleared_ns is not None:
        doc["cleared"] = a.cleared_ns / 1e9
    extra = {"previous_severity": before.label} if event == "escalated" and before is not None else {}
    return Notification(event, a.site, c.at_ns, a.severity, _tz_name(tz), doc, None, a.kind.value, extra)


def report_ready(site: str, period: str, path: str, at_ns: int, tz: str = "UTC") -> Notification:
    return Notification("report", site, at_ns, Severity.INFO, tz, None, {"period": period, "path": path})


def _tz_name(tz: tzinfo) -> str:
    return tz.key if isinstance(tz, ZoneInfo) else "UTC"


def _finite(doc: dict[str, Any]) -> dict[str, Any]:
    """JSON has no infinity: an overflowed value or threshold is sent as null."""
    def clean(x: Any) -> Any:
        return None if isinstance(x, float) and not math.isfinite(x) else x

    out = {k: clean(v) for k, v in doc.items()}
    out["details"] = {k: clean(v) for k, v in dict(doc.get("details") or {}).items()}
    return out


def _local(n: Notification, ns: float) -> str:
    return datetime.fromtimestamp(ns / 1e9, ZoneInfo(n.tz)).strftime("%Y-%m-%d %H:%M")


def _figure(x: Any, unknown: str = "unknown") -> str:
    return unknown if x is None else f"{x:.4g}"


def title(n: Notification, lang: str = "en") -> str:
    """One line: what happened, where."""
    w = words(lang)
    if n.report is not None:
        return f"{w['report_title']}{'：' if lang == 'zh' else ': '}{n.site} {n.report['period']}"
    a = n.alert or {}
    sev, kind = w[n.severity.label], kind_name(a.get("kind"), lang)
    if lang == "zh":
        return f"{w[n.event]}【{sev}】{kind} — {a.get('subject')}（{n.site}）"
    return f"{w[n.event]} {sev}: {kind} on {a.get('subject')} ({n.site})"


def lines(n: Notification, lang: str = "en") -> list[str]:
    """The body as lines of text: the same facts in every channel."""
    w = words(lang)
    sep = "：" if lang == "zh" else ": "
    if n.report is not None:
        return [w["report_text"].format(period=n.report["period"], site=n.site),
                f"{w['file']}{sep}{n.report['path']}", f"{w['made']}{sep}{_local(n, n.at_ns)} ({n.tz})"]
    a = n.alert or {}
    out = [str(a.get("message", ""))]
    if n.event == "escalated":
        before = n.extra.get("previous_severity", "?")
        out.append(f"{w['severity']}{sep}{w.get(before, before)} -> {w[n.severity.label]}")
    else:
        out.append(f"{w['severity']}{sep}{w[n.severity.label]}")
    out += [f"{w['value']}{sep}{_figure(a.get('value'), w['unknown'])} {a.get('unit', '')} "
            f"({w['threshold']} {_figure(a.get('threshold'), w['unknown'])})",
            f"{w['since']}{sep}{_local(n, a.get('start', 0) * 1e9)} ({n.tz})"]
    if n.event == "cleared" and a.get("cleared") is not None:
        out.append(f"{w['cleared_at']}{sep}{_local(n, a['cleared'] * 1e9)}")
    out += [f"{w['site']}{sep}{n.site}", f"{w['alert']}{sep}{a.get('id')}"]
    if a.get("acked"):
        note = f"{sep}{a['ack_note']}" if a.get("ack_note") else ""
        out.append(f"{w['acked_by']}{a.get('acked_by')}{note}")
    return out


def email_message(n: Notification, ch: EmailChannel) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = f"{ch.subject_prefix} {title(n, ch.lang)}".strip()
    msg["From"] = ch.sender
    msg["To"] = ", ".join(ch.to)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=ch.sender.rsplit("@", 1)[-1])
    msg["X-Metergate-Event"] = n.event
    msg["X-Metergate-Site"] = n.site
    if n.alert_id:
        msg["X-Metergate-Alert"] = n.alert_id
    msg.set_content("\n".join(lines(n, ch.lang)) + "\n\n-- \nmetergate analytics\n")
    return msg


def json_doc(n: Notification, lang: str = "en") -> dict[str, Any]:
    """The body of the plain "json" template (docs/notifications.md); `title` and `text` in `lang`."""
    return {"schema": NOTIFICATION_SCHEMA, "event": n.event, "site": n.site, "severity": n.severity.label,
            "time": datetime.fromtimestamp(n.at_ns / 1e9, UTC).isoformat(timespec="seconds"),
            "title": title(n, lang), "text": "\n".join(lines(n, lang)), "alert": n.alert, "report": n.report,
            **({"previous_severity": n.extra["previous_severity"]} if "previous_severity" in n.extra
               else {})}


def webhook_body(n: Notification, template: Template, *, markdown: bool = False, lang: str = "en") -> bytes:
    """The POST body. The robots take {"msgtype": "text" | "markdown", ...}; the text begins with
    "metergate", so a DingTalk robot's keyword check can use that word."""
    if template == "json":
        doc: dict[str, Any] = json_doc(n, lang)
    else:
        head = f"metergate: {title(n, lang)}"
        body = lines(n, lang)
        if not markdown:
            doc = {"msgtype": "text", "text": {"content": "\n".join([head, *body])}}
        elif template == "wecom":
            doc = {"msgtype": "markdown", "markdown": {"content": "\n".join([f"**{head}**", *(
                f"> {x}" for x in body)])}}
        else:  # dingtalk: markdown needs a title (the notification's preview) besides the text
            doc = {"msgtype": "markdown", "markdown": {"title": head, "text": "\n\n".join(
                [f"#### {head}", *body])}}
    return json.dumps(doc, ensure_ascii=False, allow_nan=False).encode("utf-8")


__all__ = ["NOTIFICATION_SCHEMA", "Notification", "email_message", "from_change", "json_doc", "lines",
           "report_ready", "title", "webhook_body"]
