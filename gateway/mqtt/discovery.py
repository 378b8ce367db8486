"""Optional Home Assistant MQTT discovery (off by default): one sensor per quantity of a meter.

For a meter's meta document this builds the retained config messages Home Assistant reads from
`{discovery_prefix}/sensor/{site}_{gateway}/{meter}_{quantity}/config`. Each sensor reads its value
from the meter's readings topic (the template picks its quantity; a message of another poll group
leaves the state as it was), is available when both the gateway status and the meter availability
say "online", and carries the device class and state class Home Assistant needs for its energy
dashboard: counters are `total_increasing`, gauges `measurement`, state registers neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.mqtt.topics import Topics, check_prefix

DEFAULT_PREFIX = "homeassistant"

# (canonical unit, kind) -> device class; units are the canonical ones of drivers/quantities.py
_DEVICE_CLASSES: dict[tuple[str, str], str] = {
    ("kWh", "counter"): "energy",
    ("m³", "counter"): "water",
    ("W", "gauge"): "power",
    ("V", "gauge"): "voltage",
    ("A", "gauge"): "current",
    ("Hz", "gauge"): "frequency",
    ("°C", "gauge"): "temperature",
    ("m³/h", "gauge"): "volume_flow_rate",
    ("VA", "gauge"): "apparent_power",
    ("var", "gauge"): "reactive_power",
}
_STATE_CLASSES = {"counter": "total_increasing", "gauge": "measurement"}
_POWER_FACTOR = ("power_factor", "power_factor_l1", "power_factor_l2", "power_factor_l3")


def device_class(quantity: str, unit: str, kind: str) -> str | None:
    if quantity in _POWER_FACTOR:
        return "power_factor"
    return _DEVICE_CLASSES.get((unit, kind))


def state_class(kind: str) -> str | None:
    return _STATE_CLASSES.get(kind)


def value_template(quantity: str) -> str:
    """Jinja for Home Assistant: this quantity's value, null as unknown, absent: unchanged."""
    return ("{% set r = value_json.readings | selectattr('quantity', 'eq', '" + quantity + "') | list %}"
            "{{ (r[0].value if r[0].value is not none else 'unknown') if r else this.state }}")


def config_topic(topics: Topics, meter: str, quantity: str, prefix: str = DEFAULT_PREFIX) -> str:
    return f"{check_prefix(prefix)}/sensor/{topics.site}_{topics.gateway}/{meter}_{quantity}/config"


def config_messages(topics: Topics, meta: Mapping[str, Any], *,
                    prefix: str = DEFAULT_PREFIX) -> list[tuple[str, dict[str, Any]]]:
    """(topic, config document) for every quantity of the meter described by `meta`."""
    meter = str(meta["meter"])
    node = f"metergate_{topics.site}_{topics.gateway}"
    device = {
        "identifiers": [f"{node}_{meter}"],
        "name": meter,
        "manufacturer": meta.get("manufacturer") or "unknown",
        "model": meta.get("model") or str(meta.get("profile", "")),
        "suggested_area": str(meta.get("building", "")),
    }
    availability = [
        {"topic": topics.status, "value_template": "{{ value_json.state }}"},
        {"topic": topics.availability(meter), "value_template": "{{ value_json.state }}"},
    ]
    out = []
    for quantity, spec in meta["quantities"].items():
        unit, kind = spec["unit"], spec["kind"]
        doc: dict[str, Any] = {
            "name": quantity.replace("_", " "),
            "unique_id": f"{node}_{meter}_{quantity}",
            "object_id": f"{meter}_{quantity}",
            "state_topic": topics.readings(meter),
            "value_template": value_template(quantity),
            "availability": availability,
            "availability_mode": "all",
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": device,
            "qos": 1,
        }
        if unit:
            doc["unit_of_measurement"] = unit
        if (dc := device_class(quantity, unit, kind)) is not None:
            doc["device_class"] = dc
        if (sc := state_class(kind)) is not None:
            doc["state_class"] = sc
        out.append((config_topic(topics, meter, quantity, prefix), doc))
    return out
