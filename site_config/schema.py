"""The shape of a site config file (TOML), as pydantic models.

Only what one table may contain and the form of each value: slugs, choices, ranges, durations and
sizes. Cross-references (a meter's bus and building, its profile and quantities, unique unit ids,
files that must exist) are checked in site_config/load.py, which validates each table on its own so
that one broken meter never hides the problems of the next. Documented in docs/configuration.md.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from datetime import date
from functools import cache
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from core.categories import CATEGORIES
from core.mqtt_config import ClientSpec, Port
from core.subitems import resolve
from core.units import parse_duration_ms, parse_poll_interval, parse_size
from drivers.codec import parse_order
from site_config.model import DEFAULT_OUTBOX_BYTES

CLIMATE_ZONES: dict[str, str] = {
    "severe_cold": "严寒 severe cold",
    "cold": "寒冷 cold",
    "hot_summer_cold_winter": "夏热冬冷 hot summer, cold winter",
    "hot_summer_warm_winter": "夏热冬暖 hot summer, warm winter",
    "mild": "温和 mild",
}
# energy sub-items (分项) of electricity use; a meter may also give the national code (core.subitems)
SUBITEMS: dict[str, str] = {
    "total": "a main incomer or building total (总用电); never added to the sub-items",
    "lighting_sockets": "lighting and sockets (照明插座)",
    "hvac": "heating, ventilation and air conditioning (空调)",
    "power": "power: lifts, pumps, fans, kitchen (动力)",
    "special": "special: data rooms, laboratories, laundry (特殊)",
    "other": "anything else (其他)",
}
# how a building is heated, as quota standards split heating quotas (DB37/T 2672-2019)
HEATING_TYPES: dict[str, str] = {
    "district_heat": "district heating (集中供热)",
    "air_conditioning": "air conditioning or heat pumps (空调供暖)",
    "boiler": "own gas or oil boiler (燃气/燃油锅炉); its gas counts as heating energy",
}
BUS_TYPES = ("serial", "tcp", "rtu-over-tcp")
DEFAULT_OUTBOX = "/var/lib/metergate/outbox.sqlite"

# upper case is common in building registers (E01, B-3); case is preserved. fullmatch: no trailing "\n"
_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_TOPIC_LEVEL_FORBIDDEN = set("+#\x00")


def _slug(value: str) -> str:
    if not _SLUG.fullmatch(value):  # fullmatch: `$` lets a final "\n" through
        raise ValueError(f"{value!r} is not an id: use 1-64 letters (A-Z, a-z), digits, '-' and '_', "
                         "starting with a letter or digit (ids become part of MQTT topics)")
    return value


def _subitem(value: str) -> str:
    resolve(value)  # a name or a national code (core.subitems), else the error naming both lists
    return value


def _choice(options: dict[str, str], what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in options:
            close = difflib.get_close_matches(value, options, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(f"{value!r} is not a {what}; {hint}use one of {', '.join(options)}")
        return value
    return check


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(value, _zones(), n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ValueError(f"{value!r} is not an IANA time zone; {hint}e.g. 'Asia/Shanghai'") from None
    return value


def _protocol(value: object) -> str:
    if value in (5, "5", "5.0", 5.0):
        return "5"
    if value in ("3.1.1", "311"):
        return "3.1.1"
    raise ValueError(f"{value!r} is not an MQTT protocol version; use \"5\" or \"3.1.1\"")


def _topic_prefix(value: str) -> str:
    levels = value.split("/")
    if not value or any(not level for level in levels) or _TOPIC_LEVEL_FORBIDDEN & set(value):
        raise ValueError(f"{value!r} is not a topic prefix: write one or more '/'-separated levels "
                         "without '+', '#', empty levels or a leading/trailing '/' (e.g. 'metergate')")
    return value


def _quantities(value: list[str] | str) -> list[str] | str:
    if isinstance(value, str) and value != "*":
        raise ValueError(f"{value!r}: write \"*\" for every point of the meter, or a list of "
                         f"quantities such as [{value!r}]")
    return value


def _health_interval(value: object) -> float:
    ms = parse_duration_ms(value)
    if ms < 1000:
        raise ValueError(f"{value!r} is shorter than 1 s; health reports that often only add load")
    return ms / 1000


def _gateway_id(value: str) -> str:
    # `{prefix}/v1/{site}/alerts/...` carries the analytics service's alerts (docs/alerts.md)
    if value == "alerts":
        raise ValueError("'alerts' is reserved for the alert topics of the site; choose another gateway id")
    return value


Slug = Annotated[str, AfterValidator(_slug)]
GatewayId = Annotated[str, AfterValidator(_slug), AfterValidator(_gateway_id)]
PollInterval = Annotated[float, BeforeValidator(parse_poll_interval)]
Millis = Annotated[float, Field(ge=0, le=60_000)]
TimeoutMs = Annotated[float, Field(gt=0, le=60_000)]
Baud = Annotated[int, Field(ge=300, le=921600)]
Parity = Literal["N", "E", "O"]
StopBits = Literal[1, 2]
ByteSize = Literal[7, 8]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SiteSpec(_Strict):
    id: Slug
    name: str
    institution: str = ""
    timezone: Annotated[str, AfterValidator(_timezone)] = "Asia/Shanghai"
    gateway_id: GatewayId | None = None  # default: "<site id>-gw1"


Hour = Annotated[float, Field(ge=0, le=24)]


def _date(value: object) -> date:
    """A TOML date (2025-01-18) or the same as a string."""
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not a date; write it as 2025-01-18 (YYYY-MM-DD)")


Day = Annotated[date, BeforeValidator(_date)]


class ClosureSpec(_Strict):
    """Days a building (or the whole site) is closed: a school's winter or summer vacation (寒暑假)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)
    from_: Day = Field(alias="from")  # first day closed
    to: Day  # last day closed (inclusive)
    name: str = ""


Closures = Annotated[list[ClosureSpec], Field(max_length=200)]


class CalendarSpec(_Strict):
    """The site's working-day calendar for the anomaly detectors (docs/configuration.md#calendar)."""

    public_holidays: Literal["cn", "none"] = "cn"  # "cn": statutory holidays and 调休 working days
    closed: Closures = []  # the whole site closed


class ScheduleSpec(_Strict):
    """Occupied hours of a building in the site's local time, for the anomaly detectors (after-hours
    waste, base load, night-flow leaks). Monday = 0."""

    workdays: Annotated[list[Annotated[int, Field(ge=0, le=6)]], Field(max_length=7)] = [0, 1, 2, 3, 4]
    open_h: Hour = 8.0
    close_h: Hour = 18.0
    night_start_h: Hour = 2.0  # the night window in which a leak's minimum flow is measured
    night_end_h: Hour = 4.0
    base_start_h: Hour = 1.0  # the window in which the base load is measured
    base_end_h: Hour = 5.0
    public_holidays: bool = True  # off on statutory holidays, working on 调休 days ([calendar])
    closed: Closures = []  # this building's closures (寒暑假), on top of the site's


class BuildingSpec(_Strict):
    id: Slug
    name: str
    category: Annotated[str, AfterValidator(_choice(CATEGORIES, "building category"))]
    subcategory: str | None = None
    floor_area_m2: Annotated[float, Field(gt=0)]
    heated_area_m2: Annotated[float, Field(gt=0)] | None = None
    occupants: Annotated[int, Field(ge=0)]
    climate_zone: Annotated[str, AfterValidator(_choice(CLIMATE_ZONES, "climate zone"))] | None = None
    # quota classification (docs/quotas.md): levels/classes as the standards name them, the standard's
    # own climate sub-zone, heating type, beds (per-bed quotas)
    level: Annotated[list[Slug], Field(max_length=8)] | Slug | None = None
    quota_zone: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")] | None = None
    heating_type: Annotated[str, AfterValidator(_choice(HEATING_TYPES, "heating type"))] | None = None
    beds: Annotated[int, Field(ge=0)] | None = None
    schedule: ScheduleSpec | None = None  # default: the detectors' (workdays 08:00-18:00)


class _BusSpec(_Strict):
    id: Slug
    description: str = ""
    timeout_ms: TimeoutMs | None = None
    pause_ms: Millis | None = None
    unit_switch_delay_ms: Millis | None = None


LineProtocol = Literal["modbus", "dlt645", "cjt188"]
PROTOCOL_NAMES = {"modbus": "Modbus RTU", "dlt645": "DL/T 645-2007", "cjt188": "CJ/T 188-2004"}


class SerialBusSpec(_BusSpec):
    type: Literal["serial"]
    protocol: LineProtocol = "modbus"  # one protocol per line
    device: str
    baud: Baud = 9600
    parity: Parity = "N"
    stopbits: StopBits = 1
    bytesize: ByteSize = 8


def _modbus_only(value: str) -> str:
    if value != "modbus":
        raise ValueError(f"{value!r} is not carried by Modbus TCP: for a serial server passing the "
                         "line's bytes through, use type = \"rtu-over-tcp\" with this protocol")
    return value


class TcpBusSpec(_BusSpec):
    type: Literal["tcp"]
    protocol: Annotated[str, AfterValidator(_modbus_only)] = "modbus"
    host: str
    port: Port = 502


class RtuOverTcpBusSpec(_BusSpec):
    """A serial-to-Ethernet converter passing RTU frames; the line settings describe its serial side
    (configured in the converter) and are used for wire timing only."""

    type: Literal["rtu-over-tcp"]
    protocol: LineProtocol = "modbus"  # a transparent converter passes DL/T 645 / CJ/T 188 too
    host: str
    port: Port
    baud: Baud | None = None
    parity: Parity = "N"
    stopbits: StopBits = 1
    bytesize: ByteSize = 8


BusSpec = SerialBusSpec | TcpBusSpec | RtuOverTcpBusSpec
BUS_MODELS: dict[str, type[SerialBusSpec] | type[TcpBusSpec] | type[RtuOverTcpBusSpec]] = {
    "serial": SerialBusSpec, "tcp": TcpBusSpec, "rtu-over-tcp": RtuOverTcpBusSpec,
}


class PollGroupSpec(_Strict):
    interval: str  # parsed in site_config/meters.py, so a bad one leaves the quantities checked
    quantities: Annotated[list[str] | str, AfterValidator(_quantities)] = "*"


def _order(value: str) -> str:
    return parse_order(value).value  # ValueError names the four orders


class PointOverrideSpec(_Strict):
    """What one meter decodes differently from its profile, for one point or (key "*") every
    point: the same keys, with the same meaning, as a point of the profile file."""

    order: Annotated[str, AfterValidator(_order)] | None = None
    scale: float | None = None
    offset: float | None = None


def _unit_id(value: int | None) -> int | None:
    if value is not None and not 0 <= value <= 255:
        raise ValueError(f"{value} is not a Modbus unit id: use 1..247 on a serial line (0..255 "
                         "over Modbus TCP)")
    return value


class MeterSpec(_Strict):
    id: Slug
    profile: str
    unit: Annotated[int | None, AfterValidator(_unit_id)] = None  # Modbus unit id
    address: str | None = None  # DL/T 645 / CJ/T 188 address as on the nameplate (12 / 14 digits)
    bus: str
    building: str
    # a name of SUBITEMS or a national item code (core.subitems); the Meter keeps both
    subitem: Annotated[str, AfterValidator(_subitem)] | None = None
    circuit: str | None = None
    description: str | None = None
    ct: Annotated[float, Field(gt=0)] | None = None
    pt: Annotated[float, Field(gt=0)] | None = None
    poll: list[PollGroupSpec] | None = None
    pair: Slug | None = None  # a heat meter: the electricity meter of its heat pump (COP detector)
    # quantity (or "*") -> order/scale/offset that replace the profile's for this meter only
    overrides: dict[str, PointOverrideSpec] | None = None
    role: Literal["heat_pump"] | None = None  # judged as a heat pump (idle is normal), whatever its profile


class DefaultsSpec(_Strict):
    poll_interval: PollInterval = 60.0
    timeout_ms: TimeoutMs | None = None
    pause_ms: Millis | None = None


class MqttSpec(ClientSpec):
    protocol: Annotated[str, BeforeValidator(_protocol)] = "5"
    client_id: str | None = None  # default: the gateway id
    topic_prefix: Annotated[str, AfterValidator(_topic_prefix)] = "metergate"
    keepalive: Annotated[int, Field(ge=5, le=65535)] = 60
    homeassistant_discovery: bool = False
    discovery_prefix: Annotated[str, AfterValidator(_topic_prefix)] = "homeassistant"


def _commit_interval(value: object) -> float:
    if isinstance(value, str) and value.strip() in ("0", "0s", "0ms"):
        return 0.0  # commit each poll as it arrives (the most writes; for tests and fast disks)
    ms = parse_duration_ms(value)
    if ms > 10_000:
        raise ValueError(f"{value!r} is longer than 10 s; polls wait in memory until their commit")
    return ms / 1000


class OutboxSpec(_Strict):
    path: str = DEFAULT_OUTBOX
    max_bytes: Annotated[int, BeforeValidator(parse_size)] = DEFAULT_OUTBOX_BYTES
    synchronous: Literal["NORMAL", "FULL"] = "NORMAL"  # FULL also survives power loss
    # polls are committed together once per interval: far fewer page writes on flash (issue 17)
    commit_interval: Annotated[float, BeforeValidator(_commit_interval)] = 1.0


class HealthSpec(_Strict):
    prometheus_listen: str = "127.0.0.1:9108"  # "" disables the Prometheus endpoint
    interval: Annotated[float, BeforeValidator(_health_interval)] = 30.0


# top-level keys: name -> (model, is an array of tables)
SECTIONS: dict[str, tuple[type[BaseModel] | None, bool]] = {
    "site": (SiteSpec, False),
    "defaults": (DefaultsSpec, False),
    "buildings": (BuildingSpec, True),
    "buses": (None, True),  # the model depends on `type`: BUS_MODELS
    "meters": (MeterSpec, True),
    "mqtt": (MqttSpec, False),
    "outbox": (OutboxSpec, False),
    "health": (HealthSpec, False),
    "calendar": (CalendarSpec, False),
}
