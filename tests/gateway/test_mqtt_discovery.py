"""Home Assistant discovery: device and state classes, topics, availability, off by default."""

from __future__ import annotations

from typing import Any

from drivers.profiles import load_all, resolve_variant
from gateway.mqtt import discovery, payloads
from gateway.mqtt.publisher import MqttOptions
from gateway.mqtt.topics import Topics

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


def test_state_registers_have_no_classes_and_every_config_is_complete() -> None:
    for profile in load_all().values():
        for variant in profile.variants.values():
            meta = payloads.meta_from_variant("m1", variant, unit_id=1, bus="b", building="lib")
            for _topic, doc in discovery.config_messages(T, meta, prefix="ha"):
                assert _topic.startswith("ha/sensor/campus_gw1/m1_") and _topic.endswith("/config")
                kind = meta["quantities"][doc["object_id"][3:]]["kind"]
                if kind == "state":
                    assert "state_class" not in doc and "device_class" not in doc
                else:
                    assert doc["state_class"] == {"counter": "total_increasing", "gauge": "measurement"}[kind]
                payloads.encode(doc)  # JSON-serialisable


def test_template_picks_its_quantity_and_keeps_the_state_otherwise() -> None:
    template = discovery.value_template("energy_active_import")
    assert "'energy_active_import'" in template and "this.state" in template


def test_discovery_is_off_by_default() -> None:
    assert MqttOptions(host="h", site="s", gateway="g").discovery is False
