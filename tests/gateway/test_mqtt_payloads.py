"""The JSON documents: built exactly, refused when they would break the contract, checked by schema."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from core.contract import schema
from core.contract.schema import ContractError, check_message
from core.contract.topics import KINDS, Topics
from core.reading import Quality
from drivers.profiles import load_all
from drivers.reader import Reading
from gateway.mqtt import payloads
from gateway.mqtt.payloads import PayloadError
from gateway.mqtt.publisher import PublisherStats
from gateway.outbox import OutboxMessage, OutboxStats, StoredReading
from gateway.runtime import outbox_health

TS = 1710208800.25  # 2024-03-12T02:00:00.250Z
T = Topics("metergate", "campus", "gw1")


def reading(quantity: str = "energy_active_import", value: float | None = 1234.5, unit: str = "kWh",
            quality: Quality = Quality.OK, ts: float = TS, error: str = "") -> StoredReading:
    return StoredReading(quantity, value, unit, quality, ts, error)


def message(*readings: StoredReading, seq: int = 7, meter: str = "m1", ts: float = TS) -> OutboxMessage:
    return OutboxMessage(seq, meter, ts, tuple(readings) or (reading(),))


def test_readings_document_is_exact() -> None:
    msg = message(reading(), reading("power_active", None, "W", Quality.COMM_ERROR, TS + 0.5, "timeout"),
                  reading("voltage_l1", 231.2, "V", Quality.OUT_OF_RANGE, error="outside 0..300"))
    doc = payloads.readings_doc("campus", "gw1", msg, tz=ZoneInfo("Asia/Shanghai"))
    assert doc == {
        "schema": "metergate.readings/1", "site": "campus", "gateway": "gw1", "meter": "m1", "seq": 7,
        "ts": TS, "time": "2024-03-12T10:00:00.250+08:00",
        "readings": [
            {"quantity": "energy_active_import", "value": 1234.5, "unit": "kWh", "quality": "ok"},
            {"quantity": "power_active", "value": None, "unit": "W", "quality": "comm_error",
             "ts": TS + 0.5, "error": "timeout"},
            {"quantity": "voltage_l1", "value": 231.2, "unit": "V", "quality": "out_of_range",
             "error": "outside 0..300"},
        ],
    }
    assert list(doc) == ["schema", "site", "gateway", "meter", "seq", "ts", "time", "readings"]
    payload = payloads.encode(doc)
    assert check_message(T.readings("m1"), payload).doc == doc


def test_time_is_the_same_instant_as_ts() -> None:
    for tz in (ZoneInfo("UTC"), ZoneInfo("Asia/Shanghai"), ZoneInfo("America/New_York")):
        text = payloads.iso_time(TS, tz)
        assert datetime.fromisoformat(text).timestamp() == TS


def test_a_drivers_reading_is_published_as_is() -> None:
    r = Reading("water_volume", 12.375, "m³", Quality.OK, TS, "", (0x1234,))
    doc = payloads.readings_doc("campus", "gw1", OutboxMessage(1, "w1", TS, (r,)))  # type: ignore[arg-type]
    assert doc["readings"] == [{"quantity": "water_volume", "value": 12.375, "unit": "m³", "quality": "ok"}]


def test_payload_is_deterministic_so_a_resend_is_byte_identical() -> None:
    msg = message(reading(), reading("power_active", 0.0, "W"))
    assert payloads.readings_payload("campus", "gw1", msg) == payloads.readings_payload("campus", "gw1", msg)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("quality", [Quality.OK, Quality.OUT_OF_RANGE, Quality.STALE])
def test_nan_and_infinity_are_refused(value: float, quality: Quality) -> None:
    with pytest.raises(PayloadError, match="non-finite"):
        payloads.readings_doc("campus", "gw1", message(reading(value=value, quality=quality)))


def test_encode_refuses_nan_anywhere() -> None:
    with pytest.raises(PayloadError, match="non-finite"):
        payloads.encode({"outbox": {"rate": math.nan}})
    health = payloads.health_doc("s", "g", ts=TS, uptime_s=1, outbox={"x": math.inf}, buses={},
                                 devices={}, mqtt={})
    with pytest.raises(PayloadError):
        payloads.encode(health)


@pytest.mark.parametrize("quality", [Quality.INVALID, Quality.COMM_ERROR])
def test_an_invalid_reading_never_carries_a_value_not_even_zero(quality: Quality) -> None:
    with pytest.raises(PayloadError, match="carries no value"):
        payloads.readings_doc("campus", "gw1", message(reading(value=0.0, quality=quality)))
    doc = payloads.readings_doc("campus", "gw1", message(reading(value=None, quality=quality)))
    assert doc["readings"][0]["value"] is None


@pytest.mark.parametrize("quality", [Quality.OK, Quality.OUT_OF_RANGE, Quality.STALE])
def test_a_valid_reading_needs_a_number(quality: Quality) -> None:
    with pytest.raises(PayloadError, match="needs a value"):
        payloads.readings_doc("campus", "gw1", message(reading(value=None, quality=quality)))
    with pytest.raises(PayloadError, match="not a number"):
        payloads.readings_doc("campus", "gw1", message(reading(value=True, quality=quality)))  # type: ignore[arg-type]


def test_message_level_rules() -> None:
    with pytest.raises(PayloadError, match="seq"):
        payloads.readings_doc("campus", "gw1", message(seq=0))
    with pytest.raises(PayloadError, match="no readings"):
        payloads.readings_doc("campus", "gw1", OutboxMessage(1, "m1", TS, ()))
    with pytest.raises(PayloadError, match="meter id"):
        payloads.readings_doc("campus", "gw1", message(meter="a/b"))
    with pytest.raises(PayloadError, match="ts"):
        payloads.readings_doc("campus", "gw1", message(ts=math.nan))
    with pytest.raises(PayloadError, match="quality"):
        payloads.readings_doc("campus", "gw1", message(reading(quality="great")))  # type: ignore[arg-type]


def test_repair_makes_a_bad_reading_invalid_and_says_so() -> None:
    fixed, note = payloads.repair_reading(reading(value=math.nan, error="x"))
    assert note is not None and "non-finite" in note
    assert (fixed.value, fixed.quality) == (None, "invalid")
    assert fixed.error.startswith("x; changed by the publisher")
    fixed, note = payloads.repair_reading(reading(value=0.0, quality=Quality.COMM_ERROR, error="timeout"))
    assert (fixed.value, fixed.quality, note is not None) == (None, "comm_error", True)
    good = reading()
    assert payloads.repair_reading(good) == (good, None)


def test_status_availability_meta_health_fit_their_schemas() -> None:
    status = payloads.status_doc("campus", "gw1", state="offline", ts=TS, started=TS - 60, version="1.2")
    assert status == {"schema": "metergate.status/1", "site": "campus", "gateway": "gw1",
                      "state": "offline", "ts": TS, "version": "1.2", "started": TS - 60}
    check_message(T.status, payloads.encode(status))
    avail = payloads.availability_doc("m1", "offline", TS, "3 timeouts in a row")
    assert avail == {"schema": "metergate.availability/1", "meter": "m1", "state": "offline", "ts": TS,
                     "reason": "3 timeouts in a row"}
    check_message(T.availability("m1"), payloads.encode(avail))
    assert "reason" not in payloads.availability_doc("m1", "online", TS)
    stats = OutboxStats(depth=3, bytes_on_disk=4096, max_bytes=2**30, evicted_total=7, last_evicted=(1, 7),
                        full_errors=0, oldest_seq=8, oldest_ts=TS - 3, newest_seq=10)
    mqtt = PublisherStats(True, 10, 7, 3, 3, 20, 1, 0, 1, 4, 0, 0, 0, None).as_dict()
    health = payloads.health_doc("campus", "gw1", ts=TS, uptime_s=12.5, outbox=outbox_health(stats),
                                 buses={}, devices={}, mqtt=mqtt)
    assert check_message(T.health, payloads.encode(health)).doc["outbox"]["last_evicted"] == [1, 7]
    for outbox in ({"depth": 3}, {**outbox_health(stats), "last_evicted": [1]}):  # the old names; a bad pair
        with pytest.raises(ContractError, match="outbox"):
            check_message(T.health, payloads.encode({**health, "outbox": outbox}))
    with pytest.raises(PayloadError, match="state"):
        payloads.availability_doc("m1", "maybe", TS)


def test_meta_of_every_bundled_profile_variant_fits_the_schema() -> None:
    variants = [v for p in load_all().values() for v in p.variants.values()]
    assert variants
    for variant in variants:
        doc = payloads.meta_from_variant("m1", variant, unit_id=3, bus="rs485-1", building="library",
                                         subitem="lighting_sockets")
        assert (doc["profile"], doc["variant"]) == (variant.profile_id, variant.name)
        assert set(doc["quantities"]) == {p.quantity for p in variant.points}
        check_message(T.meta("m1"), payloads.encode(doc))
    few = payloads.meta_from_variant("m1", variants[0], unit_id=1, bus="b", building="x",
                                     quantities=[variants[0].points[0].quantity])
    assert list(few["quantities"]) == [variants[0].points[0].quantity] and "subitem" not in few


def test_every_schema_is_valid_draft_2020_12() -> None:
    for kind in KINDS:
        assert schema.schema(kind)["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema.validator(kind) is not None


GOOD = payloads.encode(payloads.readings_doc("campus", "gw1", message()))


@pytest.mark.parametrize(("topic", "payload", "why"), [
    (T.readings("m1"), GOOD.replace(b'"seq":7', b'"seq":0'), "seq"),
    (T.readings("m1"), GOOD.replace(b'"seq":7', b'"seq":"7"'), "seq"),
    (T.readings("m1"), GOOD.replace(b"1234.5", b"NaN"), "NaN"),
    (T.readings("m1"), GOOD.replace(b"1234.5", b"Infinity"), "Infinity"),
    (T.readings("m1"), GOOD.replace(b"1234.5", b"null"), "value"),
    (T.readings("m1"), GOOD.replace(b'"ok"', b'"comm_error"'), "value"),
    (T.readings("m1"), GOOD.replace(b'"ok"', b'"good"'), "quality"),
    (T.readings("m1"), GOOD.replace(b'"unit"', b'"units"'), "unit"),
    (T.readings("m1"), GOOD[:-5], "not JSON"),
    (T.readings("m1"), GOOD.replace(b'"seq":7', b'"seq":7,"seq":8'), "twice"),
    (T.readings("m1"), GOOD.replace(b'"site":"campus"', b'"site":"campus","extra":1'), "extra"),
    (T.readings("m2"), GOOD, "does not match"),
    (Topics("metergate", "campus", "gw2").readings("m1"), GOOD, "does not match"),
    (T.readings("m1"), GOOD.replace(b"10:00:00", b"10:00:01").replace(b"02:00:00", b"02:00:01"),
     "not the instant"),
    (T.readings("m1"), b"\xff\xfe", "UTF-8"),
    (T.readings("m1"), b"[1, 2]", "object"),
    (T.readings("m1"), b"[" * 5000 + b"]" * 5000, "deep"),
    ("metergate/v1/campus/gw1/meters/m1/other", GOOD, "not a metergate"),
    (T.status, GOOD, "status"),
])
def test_check_message_refuses_with_a_reason(topic: str, payload: bytes, why: str) -> None:
    with pytest.raises(ContractError) as err:
        check_message(topic, payload)
    assert why.lower() in err.value.reason.lower() or why in str(err.value)


def test_check_message_size_limit() -> None:
    with pytest.raises(ContractError, match="larger than the limit"):
        check_message(T.readings("m1"), GOOD, max_bytes=100)


def test_problems_lists_every_violation() -> None:
    doc = json.loads(GOOD)
    doc["seq"] = -1
    doc["readings"][0]["quality"] = "nope"
    found = schema.problems(doc, "readings")
    assert any(p.startswith("$.seq") for p in found)
    assert any(p.startswith("$.readings[0]") for p in found)
    assert schema.problems(json.loads(GOOD), "readings") == []
    assert schema.problems({**json.loads(GOOD), "ts": math.nan}, "readings")


# -- ReadingsRenderer: the publisher's cached rendering ---------------------------------------------

def test_the_renderer_gives_the_bytes_of_readings_payload() -> None:
    tz = ZoneInfo("Asia/Shanghai")
    renderer = payloads.ReadingsRenderer("campus", "gw1", tz=tz)
    cases = [
        message(reading()),
        message(reading(), reading("power_active", None, "W", Quality.COMM_ERROR, TS + 0.5, "timeout"),
                reading("voltage_l1", 231.2, "V", Quality.OUT_OF_RANGE, error='"quoted" ünïcode\n'),
                reading("frequency", None, "Hz", Quality.INVALID, error="NaN"),
                reading("power_factor", -0.0, "", Quality.STALE), seq=2**53, meter="b1-m_2"),
        message(reading(value=1e-300), reading(value=-1.7976931348623157e308), meter="m2"),
    ]
    for msg in cases * 2:  # the second time from the cache
        assert renderer.render(msg) == payloads.readings_payload("campus", "gw1", msg, tz=tz)
        check_message(T.readings(msg.meter), renderer.render(msg))


def test_the_renderer_refuses_what_readings_payload_refuses() -> None:
    renderer = payloads.ReadingsRenderer("campus", "gw1")
    bad = [message(reading(value=math.nan)), message(reading(value=math.inf)),
           message(reading(quality=Quality.INVALID, value=0.0)), message(reading(value=None)),
           message(reading(value=True)), message(reading(quality="weird")),  # type: ignore[arg-type]
           message(reading(), seq=0), message(reading(), ts=-1.0), message(reading(), meter="a/b"),
           OutboxMessage(7, "m1", TS, ())]
    for msg in bad:
        with pytest.raises(PayloadError):
            payloads.readings_payload("campus", "gw1", msg)
        with pytest.raises(PayloadError):
            renderer.render(msg)


def test_a_handed_off_message_renders_like_its_copy_read_back_from_the_outbox(tmp_path: Path) -> None:
    """Integers are written as floats, as the outbox gives them back, and a reading's own time is
    taken as the outbox stores it (to the microsecond), so a re-send is byte-identical."""
    from gateway.outbox import Outbox

    renderer = payloads.ReadingsRenderer("campus", "gw1")
    polled = [Reading("energy_active_import", 12345, "kWh", Quality.OK, TS),
              Reading("power_active", 1500.123, "W", Quality.OK, TS + 0.1234567),
              Reading("voltage_l1", None, "V", Quality.COMM_ERROR, TS + 0.2, "timeout")]
    with Outbox(tmp_path / "outbox.sqlite") as box:
        [handed] = box.append_messages([("m1", TS, polled)])
        [stored] = box.pending()
    assert renderer.render(handed) == renderer.render(stored)
    assert b'"value":12345.0' in renderer.render(handed)
