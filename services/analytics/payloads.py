"""Alert topics and documents (docs/alerts.md is the contract; schemas in core/contract/schemas/).

    {prefix}/v1/{site}/alerts/{alert_id}   retained, QoS 1   metergate.alert/1 while active;
                                                             an empty retained message clears it
    {prefix}/v1/{site}/alerts/ack          QoS 1             metergate.alert-ack/1 {id, by, note}

Alert ids are single topic levels (analytics.alerts.alert_id: "<kind>-<16 hex>"), so they never equal
"ack". The level "alerts" sits where a gateway id sits in the readings tree: no gateway may be named
"alerts".
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from analytics.alerts import Alert
from core.contract.json_doc import encode
from core.contract.schema import ServiceSchema, check_service, parse_json
from core.contract.topics import TREE_VERSION, check_prefix, check_segment

ALERT_SCHEMA = "metergate.alert/1"
ACK_SCHEMA = "metergate.alert-ack/1"
ACK_LEVEL = "ack"


def alerts_base(prefix: str, site: str) -> str:
    return f"{check_prefix(prefix)}/{TREE_VERSION}/{check_segment(site, 'site id')}/alerts"


def alert_topic(prefix: str, site: str, alert_id: str) -> str:
    return f"{alerts_base(prefix, site)}/{check_segment(alert_id, 'alert id')}"


def ack_topic(prefix: str, site: str) -> str:
    return f"{alerts_base(prefix, site)}/{ACK_LEVEL}"


def seconds(ns: int) -> float:
    return ns / 1e9


def alert_doc(a: Alert, tz: tzinfo = UTC) -> dict[str, Any]:
    """The retained document of an active alert (also the JSON of `metergate alerts --json`, where
    cleared alerts add `state` "cleared" and `cleared`)."""
    doc: dict[str, Any] = {
        "schema": ALERT_SCHEMA,
        "site": a.site,
        "id": a.id,
        "kind": a.kind.value,
        "subject": a.subject,
        "scope": a.scope,
        "state": a.state,
        "severity": a.severity.label,
        "start": seconds(a.start_ns),
        "start_time": datetime.fromtimestamp(a.start_ns / 1e9, tz).isoformat(timespec="seconds"),
        "raised": seconds(a.raised_ns),
        "updated": seconds(a.updated_ns),
        "value": a.value,
        "threshold": a.threshold,
        "unit": a.unit,
        "message": a.message,
        "details": dict(a.details),
        "acked": a.acked,
    }
    if a.acked_ns is not None:
        doc["acked_by"] = a.acked_by
        doc["acked_at"] = seconds(a.acked_ns)
        if a.ack_note:
            doc["ack_note"] = a.ack_note
    return doc


def alert_payload(a: Alert, tz: tzinfo = UTC) -> bytes:
    return encode(alert_doc(a, tz))


def check(doc: Any, name: ServiceSchema) -> None:
    """ContractError naming the field if `doc` does not fit schemas/`name`.json."""
    check_service(doc, name)


def parse_ack(payload: bytes) -> tuple[str, str, str | None]:
    """(alert id, by, note) from an ack command; ContractError for anything else."""
    doc = parse_json(payload)
    check(doc, "alert-ack")
    return doc["id"], doc["by"], doc.get("note")


def ack_payload(alert_id: str, by: str, note: str | None = None) -> bytes:
    doc: dict[str, Any] = {"schema": ACK_SCHEMA, "id": alert_id, "by": by}
    if note:
        doc["note"] = note
    return encode(doc)


__all__ = ["ACK_SCHEMA", "ALERT_SCHEMA", "ack_payload", "ack_topic", "alert_doc", "alert_payload",
           "alert_topic", "alerts_base", "check", "parse_ack"]
