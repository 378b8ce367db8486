"""Home Assistant discovery: device and state classes, topics, availability, off by default; every
config uses only keys Home Assistant documents for an MQTT sensor (checked here from its documented
key list, not from our schema), and every value template, rendered with Jinja2 as Home Assistant does,
gives a numeric sensor a number, "None" (unknown) or "" (ignored) - never a word it refuses."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import jinja2.sandbox
import pytest

from core.contract.schema import check_service
from core.contract.topics import Topics
from core.reading import Quality
from drivers.profiles import load_all, resolve_variant
from drivers.reader import Reading
from gateway.mqtt import discovery, payloads
from gateway.mqtt.publisher import MqttOptions
from gateway.outbox import OutboxMessage

T = Topics("metergate", "campus", "gw1")


def configs(profile: str) -> dict[str, dict[str, Any]]:
    meta = payloads.meta_from_variant("m1", resolve_variant(profile), unit_id=1, bus="b", building="lib")
    return {topic: doc for topic, doc in discovery.config_messages(T, meta)}


def test_electricity_meter_sensors() -> None:
    found = configs("chint-dtsu666")
    energy = found["homeassistant/sensor/campus_gw1/m1_energy_active_import/config"]
    assert (energy["device_class"], energy["state_class"], energy["unit_of_measurement"]) == \
        ("energy", "total_increasing", "kWh")
    assert energy["state_topic"] == T.readings("m1")
    assert energy["unique_id"] == "metergate_campus_gw1_m1_energy_active_import"
    assert energy["availability_mode"] == "all"
    assert [a["topic"] for a in energy["availability"]] == [T.status, T.availability("m1")]
    power = found["homeassistant/sensor/campus_gw1/m1_power_active/config"]
    assert (power["device_class"], power["state_class"], power["unit_of_measurement"]) == \
        ("power", "measurement", "W")
    pf = found["homeassistant/sensor/campus_gw1/m1_power_factor/config"]
    assert pf["device_class"] == "power_factor" and "unit_of_measurement" not in pf


def test_water_meter_is_a_water_total_increasing() -> None:
    found = configs("tuf-2000m")
    water = found["homeassistant/sensor/campus_gw1/m1_water_volume/config"]
    assert (water["device_class"], water["state_class"]) == ("water", "total_increasing")
    flow = found["homeassistant/sensor/campus_gw1/m1_water_flow/config"]
    assert (flow["device_class"], flow["state_class"]) == ("volume_flow_rate", "measurement")


def test_gas_meter_volume_is_gas_not_water() -> None:
    found = configs("tancy-precession-vortex")
    gas = [doc for topic, doc in found.items() if topic.endswith("_gas_volume/config")]
    assert [(d["device_class"], d["state_class"], d["unit_of_measurement"]) for d in gas] == \
        [("gas", "total_increasing", "m³")]


def all_configs() -> list[tuple[dict[str, Any], str, dict[str, Any]]]:
    """(meta, topic, config) for every quantity of every bundled profile variant."""
    out = []
    for profile in load_all().values():
        for variant in profile.variants.values():
            meta = payloads.meta_from_variant("Lib-Main_2", variant, unit_id=1, bus="b", building="lib")
            out += [(meta, topic, doc) for topic, doc in discovery.config_messages(T, meta, prefix="ha")]
    return out


def test_state_registers_have_no_classes_and_every_config_is_complete() -> None:
    for meta, topic, doc in all_configs():
        quantity = topic.removeprefix("ha/sensor/campus_gw1/Lib-Main_2_").removesuffix("/config")
        assert topic.startswith("ha/sensor/campus_gw1/") and quantity in meta["quantities"]
        kind = meta["quantities"][quantity]["kind"]
        if kind == "state":
            assert "state_class" not in doc and "device_class" not in doc
            assert doc["suggested_display_precision"] == 0
        else:
            assert doc["state_class"] == {"counter": "total_increasing", "gauge": "measurement"}[kind]
        check_service(doc, "ha-discovery")  # what docs/mqtt.md and schemas/ha-discovery.json say


# -- Home Assistant's documented keys ----------------------------------------------------------------
# Source: "MQTT Sensor", configuration variables, https://www.home-assistant.io/integrations/sensor.mqtt/
# (the version documenting `default_entity_id`, Home Assistant 2025.10 and later; `object_id` was
# deprecated in 2025.10 and removed in 2026.4). `platform` is only allowed in device-based discovery
# messages, which the gateway does not send. The origin block: "MQTT", discovery payload,
# https://www.home-assistant.io/integrations/mqtt/ (`origin`/`o`: `name` required, `sw_version`,
# `support_url`). Sensor device classes, their units and state classes:
# https://www.home-assistant.io/integrations/sensor/#device-class. The entity id rule (lower-case
# letters, digits and underscores, not starting or ending with one; no double underscore in the
# domain): homeassistant/core.py, valid_entity_id.
HA_SENSOR_KEYS = frozenset({
    "availability", "availability_mode", "availability_template", "availability_topic",
    "default_entity_id", "device", "device_class", "enabled_by_default", "encoding", "entity_category",
    "entity_picture", "expire_after", "force_update", "icon", "json_attributes_template",
    "json_attributes_topic", "last_reset_value_template", "name", "options", "payload_available",
    "payload_not_available", "suggested_display_precision", "qos", "state_class", "state_topic",
    "unique_id", "unit_of_measurement", "value_template", "origin"})
HA_AVAILABILITY_KEYS = frozenset({"payload_available", "payload_not_available", "topic", "value_template"})
HA_DEVICE_KEYS = frozenset({"configuration_url", "connections", "hw_version", "identifiers", "manufacturer",
                            "model", "model_id", "name", "serial_number", "suggested_area", "sw_version",
                            "via_device"})
HA_ORIGIN_KEYS = frozenset({"name", "sw_version", "support_url"})
HA_STATE_CLASSES = frozenset({"measurement", "measurement_angle", "total", "total_increasing"})
# device class -> (units Home Assistant accepts, state classes it accepts); the classes the gateway uses
HA_DEVICE_CLASSES: dict[str, tuple[frozenset[str | None], frozenset[str]]] = {
    "energy": (frozenset({"J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh", "cal", "kcal",
                          "Mcal", "Gcal"}), frozenset({"total", "total_increasing"})),
    "water": (frozenset({"L", "gal", "m³", "ft³", "CCF", "MCF"}), frozenset({"total", "total_increasing"})),
    "gas": (frozenset({"L", "m³", "ft³", "CCF", "MCF"}), frozenset({"total", "total_increasing"})),
    "power": (frozenset({"mW", "W", "kW", "MW", "GW", "TW", "BTU/h"}), frozenset({"measurement"})),
    "voltage": (frozenset({"µV", "mV", "V", "kV", "MV"}), frozenset({"measurement"})),
    "current": (frozenset({"mA", "A"}), frozenset({"measurement"})),
    "frequency": (frozenset({"Hz", "kHz", "MHz", "GHz"}), frozenset({"measurement"})),
    "temperature": (frozenset({"°C", "°F", "K"}), frozenset({"measurement"})),
    "volume_flow_rate": (frozenset({"m³/h", "m³/min", "m³/s", "ft³/min", "L/h", "L/min", "L/s", "gal/h",
                                    "gal/min", "mL/s"}), frozenset({"measurement"})),
    "apparent_power": (frozenset({"mVA", "VA", "kVA"}), frozenset({"measurement"})),
    "reactive_power": (frozenset({"mvar", "var", "kvar"}), frozenset({"measurement"})),
    "power_factor": (frozenset({"%", None}), frozenset({"measurement"})),
}
# <discovery_prefix>/<component>/[<node_id>/]<object_id>/config, node_id and object_id of [a-zA-Z0-9_-]
# ("MQTT", discovery topic, https://www.home-assistant.io/integrations/mqtt/)
HA_TOPIC = re.compile(r"ha/sensor/(?:[a-zA-Z0-9_-]+/)?[a-zA-Z0-9_-]+/config")
HA_ENTITY_ID = re.compile(r"sensor\.(?!_)[0-9a-z_]+(?<!_)")


def ha_problems(doc: dict[str, Any]) -> list[str]:
    """What Home Assistant's documentation says is wrong with an MQTT sensor discovery config."""
    found = [f"{k}: not a documented MQTT sensor key" for k in doc.keys() - HA_SENSOR_KEYS]
    if "state_topic" not in doc:
        found.append("state_topic is required")
    if "availability" in doc and "availability_topic" in doc:
        found.append("availability and availability_topic must not be used together")
    for entry in doc.get("availability", []):
        found += [f"availability: {k}: not documented" for k in entry.keys() - HA_AVAILABILITY_KEYS]
        if "topic" not in entry:
            found.append("availability: topic is required")
    if doc.get("availability_mode", "latest") not in ("all", "any", "latest"):
        found.append("availability_mode must be all, any or latest")
    device = doc.get("device")
    if device is not None:
        found += [f"device: {k}: not documented" for k in device.keys() - HA_DEVICE_KEYS]
        if not (device.get("identifiers") or device.get("connections")):
            found.append("device: at least one of identifiers or connections")
        if "unique_id" not in doc:
            found.append("device only works when unique_id is set")
    origin = doc.get("origin")
    if origin is not None:
        found += [f"origin: {k}: not documented" for k in origin.keys() - HA_ORIGIN_KEYS]
        if "name" not in origin:
            found.append("origin: name is required")
    if "default_entity_id" in doc and not HA_ENTITY_ID.fullmatch(doc["default_entity_id"]):
        found.append(f"default_entity_id {doc['default_entity_id']!r} is not a sensor entity id")
    if doc.get("state_class") not in (None, *HA_STATE_CLASSES):
        found.append(f"state_class {doc['state_class']!r}")
    if "device_class" in doc:
        units, classes = HA_DEVICE_CLASSES.get(doc["device_class"], (frozenset(), frozenset()))
        if doc.get("unit_of_measurement") not in units:
            found.append(f"device_class {doc['device_class']}: unit {doc.get('unit_of_measurement')!r}")
        if "state_class" in doc and doc["state_class"] not in classes:
            found.append(f"device_class {doc['device_class']}: state_class {doc['state_class']}")
    if "options" in doc and ("state_class" in doc or "unit_of_measurement" in doc):
        found.append("options cannot be used together with state_class or unit_of_measurement")
    return found


def numeric_expected(doc: dict[str, Any]) -> bool:
    """Home Assistant expects a number (state_topic, documented) when any of these is set."""
    return any(k in doc for k in ("device_class", "state_class", "unit_of_measurement",
                                  "suggested_display_precision"))


def test_every_config_uses_only_what_home_assistant_documents() -> None:
    configs = all_configs()
    assert len(configs) > 50
    for _meta, topic, doc in configs:
        assert HA_TOPIC.fullmatch(topic), topic
        assert ha_problems(doc) == [], topic
        assert numeric_expected(doc), topic  # so "" and "None" mean what the templates intend
    # the validator is not a rubber stamp: what the gateway published before fails it
    doc = configs[0][2]
    old = {**{k: v for k, v in doc.items() if k != "default_entity_id"}, "object_id": "m1_x"}
    assert ha_problems(old) == ["object_id: not a documented MQTT sensor key"]
    assert ha_problems({**doc, "default_entity_id": "Lib-Main_x"})
    assert ha_problems({**doc, "device_class": "energy", "unit_of_measurement": "kWh",
                        "state_class": "measurement"})
    assert ha_problems({**doc, "origin": {"sw": "1"}})


def test_entity_ids_are_those_the_old_object_id_gave() -> None:
    assert discovery.entity_id("lib-main", "energy_active_import") == "sensor.lib_main_energy_active_import"
    assert discovery.entity_id("B1--M_", "power_active") == "sensor.b1_m_power_active"


# -- the value templates, rendered ---------------------------------------------------------------------

JINJA = jinja2.sandbox.ImmutableSandboxedEnvironment()  # Home Assistant renders in a sandbox too


@functools.cache
def compiled(template: str) -> jinja2.Template:
    return JINJA.from_string(template)


def render(template: str, payload: bytes) -> str:
    """The state text Home Assistant gets from a value template for one MQTT payload."""
    return compiled(template).render(value=payload.decode(), value_json=json.loads(payload))


def ha_state(doc: dict[str, Any], rendered: str, before: float | None) -> float | None:
    """What a numeric MQTT sensor does with a rendered state (documented for state_topic): "" is
    ignored (the state stays), "None" makes it unknown, anything else must be a number or it is refused."""
    assert numeric_expected(doc)
    if rendered == "":
        return before
    if rendered == "None":
        return None
    return float(rendered)  # ValueError: Home Assistant refuses a non-numeric state


def poll(*readings: Reading, seq: int = 1) -> bytes:
    return payloads.readings_payload("campus", "gw1", OutboxMessage(seq, "m1", TS, readings))


TS = 1710208800.25


def test_numeric_sensors_get_a_number_or_none_for_valid_missing_and_invalid_readings() -> None:
    found = configs("chint-dtsu666")
    energy = found["homeassistant/sensor/campus_gw1/m1_energy_active_import/config"]
    power = found["homeassistant/sensor/campus_gw1/m1_power_active/config"]
    ok = Reading("energy_active_import", 152873.41, "kWh", Quality.OK, TS)
    cases = [
        (poll(ok), 152873.41),
        (poll(Reading("energy_active_import", None, "kWh", Quality.INVALID, TS, "NaN")), None),
        (poll(Reading("energy_active_import", None, "kWh", Quality.COMM_ERROR, TS, "timeout")), None),
        (poll(Reading("energy_active_import", 9e12, "kWh", Quality.OUT_OF_RANGE, TS, "implausible")), None),
        (poll(Reading("energy_active_import", 152870.0, "kWh", Quality.STALE, TS)), 152870.0),
    ]
    for payload, want in cases:
        for before in (None, 1.0):
            assert ha_state(energy, render(energy["value_template"], payload), before) == want
    # a message of another poll group, without this quantity: the state stays as it was
    other = poll(Reading("power_active", 18234.5, "W", Quality.OK, TS))
    assert render(energy["value_template"], other) == ""
    assert ha_state(energy, render(energy["value_template"], other), 7.0) == 7.0
    assert ha_state(power, render(power["value_template"], other), None) == 18234.5
    # the old template said 'unknown' here, which a numeric sensor refuses
    old = ("{% set r = value_json.readings | selectattr('quantity', 'eq', 'energy_active_import') | list %}"
           "{{ (r[0].value if r[0].value is not none else 'unknown') if r else this.state }}")
    with pytest.raises(ValueError):
        ha_state(energy, JINJA.from_string(old).render(value_json=json.loads(cases[1][0]), this=None), 1.0)


def test_every_template_of_every_profile_gives_a_number_or_none() -> None:
    for meta, topic, doc in all_configs():
        quantity = topic.removeprefix("ha/sensor/campus_gw1/Lib-Main_2_").removesuffix("/config")
        unit = meta["quantities"][quantity]["unit"]
        for value, quality in ((42.5, Quality.OK), (None, Quality.INVALID), (None, Quality.COMM_ERROR),
                               (-1.0, Quality.OUT_OF_RANGE), (0.0, Quality.STALE)):
            reading = Reading(quantity, value, unit, quality, TS, "" if quality == Quality.OK else "x")
            payload = payloads.readings_payload("campus", "gw1",
                                                OutboxMessage(1, "Lib-Main_2", TS, (reading,)))
            state = ha_state(doc, render(doc["value_template"], payload), 3.0)
            assert state == (value if quality in (Quality.OK, Quality.STALE) else None), (topic, quality)


def test_availability_templates_read_what_the_gateway_publishes() -> None:
    doc = configs("eastron-sdm120")["homeassistant/sensor/campus_gw1/m1_power_active/config"]
    status, meter = doc["availability"]
    assert (status["topic"], meter["topic"]) == (T.status, T.availability("m1"))
    for state in ("online", "offline"):  # offline is also the last will (publisher._will)
        documents = [(status, payloads.status_doc("campus", "gw1", state=state, ts=TS, started=TS)),
                     (meter, payloads.availability_doc("m1", state, TS, "3 timeouts" if state == "offline"
                                                       else None))]
        for entry, published in documents:
            got = render(entry["value_template"], payloads.encode(published))
            assert got == entry["payload_available" if state == "online" else "payload_not_available"]


def test_discovery_is_off_by_default() -> None:
    assert MqttOptions(host="h", site="s", gateway="g").discovery is False
