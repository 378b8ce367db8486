"""Optional Home Assistant MQTT discovery (off by default): one sensor per quantity of a meter.

For a meter's meta document this builds the retained config messages Home Assistant reads from
`{discovery_prefix}/sensor/{site}_{gateway}/{meter}_{quantity}/config` (schema
`schemas/ha-discovery.json`; every key is one Home Assistant documents for an MQTT sensor). Each
sensor reads its value from the meter's readings topic, is available when both the gateway status
(also its last will) and the meter availability say "online", and carries the device class and
state class Home Assistant needs for its energy dashboard: counters are `total_increasing`, gauges
`measurement`, state registers neither.

Every sensor is numeric for Home Assistant (a unit, a device or state class, or a display
precision), so its value template may render only a number, "None" (Home Assistant's PAYLOAD_NONE:
the state becomes unknown) or "" (ignored: the state stays as it was). It never renders 'unknown'
or `this.state`, which a numeric sensor refuses. The entity id is proposed with
`default_entity_id` (`object_id` was deprecated in Home Assistant 2025.10 and removed in 2026.4).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from core.contract.json_doc import software_version
from core.contract.topics import Topics, check_prefix

DEFAULT_PREFIX = "homeassistant"

# (canonical unit, kind) -> device class; units are the canonical ones of core/quantities.py
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


# natural gas volumes are m³ counters too, but Home Assistant's energy dashboard wants them as "gas"
_GAS_VOLUMES = ("gas_volume", "gas_volume_actual")


def device_class(quantity: str, unit: str, kind: str) -> str | None:
    if quantity in _POWER_FACTOR:
        return "power_factor"
    if quantity in _GAS_VOLUMES and (unit, kind) == ("m³", "counter"):
        return "gas"
    return _DEVICE_CLASSES.get((unit, kind))


def state_class(kind: str) -> str | None:
    return _STATE_CLASSES.get(kind)


# qualities whose number Home Assistant may show; any other reading (no value, or out_of_range: a
# number the gateway judged implausible, which would corrupt a total_increasing statistic) is None
SHOWN_QUALITIES = ("ok", "stale")


def value_template(quantity: str) -> str:
    """Jinja for Home Assistant: this quantity's value if it is a number of a shown quality, else
    "None" (unknown); "" (state unchanged) when the message is of a poll group without it."""
    return ("{% set r = value_json.readings | selectattr('quantity', 'eq', '" + quantity + "') | list %}"
            "{% if r %}{% if r[0].value is number and r[0].quality in "
            + repr(list(SHOWN_QUALITIES)) + " %}{{ r[0].value }}{% else %}None{% endif %}{% endif %}")


def entity_id(meter: str, quantity: str) -> str:
    """`sensor.{meter}_{quantity}` as a valid Home Assistant entity id (lower case letters, digits
    and single underscores: the id the old `object_id` of `{meter}_{quantity}` gave)."""
    slug = re.sub(r"[^a-z0-9]+", "_", f"{meter}_{quantity}".lower()).strip("_")
    return f"sensor.{slug}"


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
    origin = {"name": "metergate", "sw_version": software_version()}
    # each entry names what the gateway publishes there: the JSON `state` of a status document (its
    # last will included) or of an availability document
    availability = [
        {"topic": topic, "value_template": "{{ value_json.state }}", "payload_available": "online",
         "payload_not_available": "offline"}
        for topic in (topics.status, topics.availability(meter))
    ]
    out = []
    for quantity, spec in meta["quantities"].items():
        unit, kind = spec["unit"], spec["kind"]
        doc: dict[str, Any] = {
            "name": quantity.replace("_", " "),
            "unique_id": f"{node}_{meter}_{quantity}",
            "default_entity_id": entity_id(meter, quantity),
            "state_topic": topics.readings(meter),
            "value_template": value_template(quantity),
            "availability": availability,
            "availability_mode": "all",
            "device": device,
            "origin": origin,
            "qos": 1,
        }
        if unit:
            doc["unit_of_measurement"] = unit
        if (dc := device_class(quantity, unit, kind)) is not None:
            doc["device_class"] = dc
        if (sc := state_class(kind)) is not None:
            doc["state_class"] = sc
        if kind == "state":
            doc["suggested_display_precision"] = 0  # a code: numeric for Home Assistant, no decimals
        out.append((config_topic(topics, meter, quantity, prefix), doc))
    return out
