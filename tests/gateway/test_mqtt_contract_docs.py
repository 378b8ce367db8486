"""docs/mqtt.md and the JSON Schemas are one contract: every field table of the page names exactly the
fields of its schema, with the schema's types and presence; every schema has a table, a topic row and
an example; every JSON example validates (also those of docs/ingest.md and docs/alerts.md); and the
documented topic templates are the topics the code builds.

The schemas (core/contract/schemas/) are the single source; the page is parsed as data by
tests/support/contract_doc.py (its notation is explained at the top of the page)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.contract.schema import check_message, check_service, parse_json, service_problems
from core.contract.topics import KINDS, Topics
from gateway.mqtt import discovery
from services.analytics.payloads import ack_topic, alert_topic
from services.analytics.report_announce import report_topic
from services.ingest.config import load_ingest_config
from tests.support import contract_doc as cd

VALUES = {"prefix": "metergate", "discovery_prefix": "homeassistant"}


def _gateway_kind(schema_id: str) -> str | None:
    name = cd.schema_name(schema_id)
    return name if name in KINDS else None


def test_every_field_table_row_is_a_schema_field_with_its_type_and_presence() -> None:
    schemas = cd.schema_files()
    problems = []
    for row in cd.field_rows():
        if row.schema_id not in schemas:
            problems.append(f"mqtt.md:{row.line}: no schema {row.schema_id!r} in core/contract/schemas/")
            continue
        fields = cd.schema_fields(schemas[row.schema_id])
        if row.path not in fields:
            problems.append(f"mqtt.md:{row.line}: {row.schema_id} has no field {row.path!r}")
            continue
        types, required = fields[row.path]
        if types != row.types:
            problems.append(f"mqtt.md:{row.line}: {row.path}: documented as {sorted(row.types)}, the schema "
                            f"says {sorted(types)}")
        if required is not None and required == row.optional:
            problems.append(f"mqtt.md:{row.line}: {row.path}: documented as "
                            f"{'optional' if row.optional else 'always there'}, the schema says "
                            f"{'required' if required else 'optional'}")
    assert not problems, "\n".join(problems)


def test_every_schema_field_is_documented_once() -> None:
    rows = cd.field_rows()
    problems = []
    for schema_id, schema in cd.schema_files().items():
        documented = [r.path for r in rows if r.schema_id == schema_id]
        if not documented:
            problems.append(f"{schema_id}: no field table (a line 'Fields of `{schema_id}`:' and a table)")
        twice = sorted({p for p in documented if documented.count(p) > 1})
        if twice:
            problems.append(f"{schema_id}: documented twice: {', '.join(twice)}")
        missing = sorted(set(cd.schema_fields(schema)) - set(documented))
        if missing:
            problems.append(f"{schema_id}: not in docs/mqtt.md: {', '.join(missing)}")
    assert not problems, "\n".join(problems)


def test_the_checker_itself_sees_drift() -> None:
    """The comparison can fail: the old health names and a wrong type are caught."""
    fields = cd.schema_fields(cd.schema_files()["metergate.health/1"])
    assert "outbox.bytes" not in fields and "outbox.evicted" not in fields  # what run used to publish
    assert fields["outbox.bytes_on_disk"] == (frozenset({"integer"}), True)
    assert fields["outbox.last_evicted[]"] == (frozenset({"integer"}), None)
    assert fields["devices.{}.latency_s.p50"] == (frozenset({"number", "null"}), True)
    assert fields["buses.{}.endpoint"] == (frozenset({"string"}), False)
    dead = cd.schema_fields(cd.schema_files()["metergate.ingest-health/1"])
    assert dead["dead_letters.total"] == (frozenset({"integer"}), True)


def test_every_example_validates_against_its_schema() -> None:
    seen = set()
    for ex in cd.examples():
        assert ex.topic, f"mqtt.md:{ex.line}: a JSON example follows a line holding its topic in backticks"
        row = cd.classify(ex.topic, VALUES)
        assert row is not None, f"mqtt.md:{ex.line}: {ex.topic} is under no documented topic"
        doc = parse_json(ex.body)
        kind = _gateway_kind(row.schema_id)
        if kind is not None:
            assert check_message(ex.topic, ex.body).topic.kind == kind
        else:
            check_service(doc, cd.schema_name(row.schema_id))  # type: ignore[arg-type]
        if "schema" in doc or kind is not None:
            assert doc["schema"] == row.schema_id, f"mqtt.md:{ex.line}: {doc['schema']} under {row.template}"
        seen.add(row.schema_id)
    assert seen == set(cd.schema_files()), f"schemas without an example: {set(cd.schema_files()) - seen}"


def test_an_example_that_drifted_fails() -> None:
    """What the page promised before this contract was checked no longer validates."""
    old_health = {"schema": "metergate.health/1", "site": "s", "gateway": "g", "ts": 1.0, "uptime_s": 1.0,
                  "outbox": {"depth": 1, "bytes": 10, "evicted": 0, "oldest_ts": None}, "buses": {},
                  "devices": {}, "mqtt": {}}
    with pytest.raises(Exception, match="outbox"):
        check_message("metergate/v1/s/g/health", json.dumps(old_health))
    config = dict(discovery.config_messages(Topics("metergate", "s", "g"), {
        "meter": "m", "quantities": {"power_active": {"unit": "W", "kind": "gauge"}}}))
    doc = next(iter(config.values()))
    assert service_problems({**doc, "object_id": "m_power_active"}, "ha-discovery")


@pytest.mark.parametrize("page", ["ingest.md", "alerts.md", "reports.md"])
def test_the_examples_of_the_service_pages_validate(page: str) -> None:
    found = 0
    for ex in cd.examples(cd.ROOT / "docs" / page):
        doc = parse_json(ex.body)
        if isinstance(doc, dict) and str(doc.get("schema", "")).startswith("metergate."):
            check_service(doc, cd.schema_name(doc["schema"]))  # type: ignore[arg-type]
            found += 1
    assert found >= 1


def test_the_scheduler_snapshot_example_is_what_health_promises() -> None:
    """docs/scheduler.md shows the snapshot that becomes health's `buses` and `devices`."""
    (snapshot,) = [parse_json(ex.body) for ex in cd.examples(cd.ROOT / "docs" / "scheduler.md")
                   if '"buses"' in ex.body]
    outbox = {"depth": 0, "bytes_on_disk": 0, "max_bytes": 1, "evicted_total": 0, "last_evicted": None,
              "full_errors": 0, "oldest_seq": None, "oldest_ts": None, "newest_seq": None}
    mqtt = {k: 0 for k in ("published", "acked", "in_flight", "max_in_flight", "window", "connections",
                           "reconnects", "attempts", "retained_published", "refused", "repaired",
                           "unpublishable")} | {"connected": False, "last_error": None}
    health = {"schema": "metergate.health/1", "site": "s", "gateway": "g", "ts": snapshot["ts"],
              "uptime_s": 1.0, "outbox": outbox, "buses": snapshot["buses"], "devices": snapshot["devices"],
              "mqtt": mqtt}
    check_message("metergate/v1/s/g/health", json.dumps(health))


def test_every_schema_has_one_topic_row_and_the_templates_are_the_topics_the_code_builds(
        tmp_path: Path) -> None:
    rows = {r.schema_id: r for r in cd.topic_rows()}
    assert len(rows) == len(cd.topic_rows()) and set(rows) == set(cd.schema_files())
    t = Topics("metergate", "campus-a", "gw-1")
    built = {"metergate.status/1": t.status, "metergate.health/1": t.health,
             "metergate.readings/1": t.readings("m1"), "metergate.availability/1": t.availability("m1"),
             "metergate.meta/1": t.meta("m1"),
             "metergate.alert/1": alert_topic("metergate", "campus-a", "water_leak-0123456789abcdef"),
             "metergate.alert-ack/1": ack_topic("metergate", "campus-a"),
             "metergate.ha-discovery/1": discovery.config_topic(t, "m1", "power_active"),
             "metergate.report/1": report_topic("metergate", "campus-a", "2025-03")}
    cfg = tmp_path / "ingest.toml"
    cfg.write_text('[mqtt]\nhost = "127.0.0.1"\nclient_id = "ingest-1"\n\n'
                   '[influx]\napi = "v2"\nurl = "http://127.0.0.1:8428"\nbucket = "b"\n', encoding="utf-8")
    ingest = load_ingest_config(cfg)
    built["metergate.dead-letter/1"] = ingest.dead_letter_topic
    built["metergate.ingest-health/1"] = ingest.health_topic
    for schema_id, topic in built.items():
        assert cd.classify(topic, VALUES) == rows[schema_id], f"{topic} not under {rows[schema_id].template}"
    assert cd.classify("metergate/analytics/metergate-analytics/health", VALUES) == \
        rows["metergate.analytics-health/1"]
    assert cd.classify("metergate/v1/campus-a/gw-1/meters/m1/nonsense", VALUES) is None
