"""Loading a site config: read the TOML, check every table, compile to frozen values.

Each table is validated on its own (site_config/schema.py), then references and meaning are checked
(here and in site_config/meters.py), so one run reports every problem of the file, each with the
file, the line and the key. Nothing is half-loaded: either a complete SiteConfig or a ConfigError.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from core.mqtt_config import refuse_inline_secrets, relative_to, resolve_password, resolve_tls
from core.problems import ConfigError, Findings, Problem
from core.toml_file import by_line, check_model, read_toml, unknown_key
from core.toml_lines import KeyPath
from drivers.transport import RtuOverTcpEndpoint, SerialEndpoint, TcpEndpoint, parse_host_port
from drivers.wiretime import bits_per_char, char_time
from site_config.airtime import longest_read_s
from site_config.meters import Declared, compile_meters
from site_config.model import (
    Building,
    Bus,
    Calendar,
    Closure,
    Health,
    Meter,
    Mqtt,
    Occupancy,
    Outbox,
    Site,
    SiteConfig,
    WireLine,
)
from site_config.schema import (
    BUS_MODELS,
    BUS_TYPES,
    SECTIONS,
    BuildingSpec,
    BusSpec,
    CalendarSpec,
    ClosureSpec,
    DefaultsSpec,
    HealthSpec,
    MeterSpec,
    MqttSpec,
    OutboxSpec,
    SerialBusSpec,
    SiteSpec,
)

M = TypeVar("M", bound=BaseModel)

SERIAL_TIMEOUT_BASE_MS = 300.0  # plus the line time of the longest read on the bus
TCP_TIMEOUT_MS = 1000.0
SERIAL_PAUSE_CHARS = 4  # idle characters between requests on an RS-485 line
MIN_SERIAL_PAUSE_MS = 2.0



def load_site_config(
    path: str | Path, *, profile_dirs: Iterable[Path] | None = None, require_env_secrets: bool = True,
) -> SiteConfig:
    """Load, check and compile a site config; raise ConfigError listing every problem in it.

    `profile_dirs` replaces the profile search path (drivers.profiles.profile_dirs) when given.
    `require_env_secrets=False` turns a secret's unset environment variable into a warning (for
    `metergate validate` in a shell that lacks the service's environment); a secret file that cannot
    be read is always an error. Warnings (points polled by no group, settings without effect ...)
    are in `.warnings`.
    """
    path = Path(path)
    text, raw = read_toml(path)
    f = Findings(str(path), text, raw)
    config = _compile(f, path, profile_dirs, require_env_secrets)
    if f.errors or config is None:
        raise ConfigError(str(path), by_line(f.errors) or [Problem(str(path), None, "", "cannot be used")],
                          warnings=by_line(f.warnings))
    return replace(config, warnings=tuple(by_line(f.warnings)))


# ---------------------------------------------------------------------------------------------------
# the whole file


def _compile(f: Findings, path: Path, profile_dirs: Iterable[Path] | None,
             require_env_secrets: bool) -> SiteConfig | None:
    raw = f.raw
    for key in raw:
        if key not in SECTIONS:
            f.error((key,), unknown_key(key, list(SECTIONS)))
    site = _table(raw, "site", SiteSpec, f, required=True)
    defaults = _table(raw, "defaults", DefaultsSpec, f) or DefaultsSpec()
    buildings = _unique(_array(raw, "buildings", BuildingSpec, f), "buildings", f)
    buses = _unique(_buses(raw, f), "buses", f)
    _check_physical_buses(buses, f)
    meter_items = _unique_items(_meter_items(raw, f), f)
    declared = Declared(
        buses={spec.id: spec for _, spec in buses},
        bus_ids=_written_ids(raw, "buses"),
        buildings=frozenset(spec.id for _, spec in buildings),
        building_ids=_written_ids(raw, "buildings"),
        default_interval_s=defaults.poll_interval,
        config_dir=path.resolve().parent,
    )
    meters = compile_meters(meter_items, declared, f, profile_dirs)
    _check_pairs(meters, {spec.id: i for i, _, spec in meter_items if spec is not None}, f)
    used = {item.get("bus") for _, item in _items(raw, "meters", None)}
    compiled_buses = [_compile_bus(i, spec, meters, defaults, spec.id in used, f) for i, spec in buses]
    gateway_id = (site.gateway_id or f"{site.id}-gw1") if site else "gateway"
    mqtt = _mqtt(raw, gateway_id, path.resolve().parent, require_env_secrets, f)
    outbox = _table(raw, "outbox", OutboxSpec, f) or OutboxSpec()
    health = _health(_table(raw, "health", HealthSpec, f) or HealthSpec(), f)
    calendar = _table(raw, "calendar", CalendarSpec, f) or CalendarSpec()
    _check_closures(calendar.closed, ("calendar", "closed"), f)
    for i, spec in buildings:
        _check_building(i, spec, f)
    if site is None or f.errors:
        return None
    if not meters:
        f.warn(("meters",), "no meter is configured: the gateway will poll nothing; add [[meters]]")
    return SiteConfig(
        path=path.resolve(),
        site=Site(site.id, site.name, site.institution, site.timezone, gateway_id),
        buildings=tuple(Building(s.id, s.name, s.category, s.subcategory, s.floor_area_m2,
                                 s.heated_area_m2, s.occupants, s.climate_zone,
                                 levels=_levels(s.level), quota_zone=s.quota_zone,
                                 heating_type=s.heating_type, beds=s.beds,
                                 schedule=_schedule(s)) for _, s in buildings),
        buses=tuple(compiled_buses),
        meters=tuple(meters),
        mqtt=mqtt,
        outbox=Outbox(relative_to(path.resolve().parent, outbox.path), outbox.max_bytes,
                      outbox.synchronous, outbox.commit_interval),
        health=health,
        poll_interval_s=defaults.poll_interval,
        calendar=Calendar(calendar.public_holidays, _closures(calendar.closed)),
    )


def _table(raw: dict[str, Any], name: str, model: type[M], f: Findings,
           *, required: bool = False) -> M | None:
    data = raw.get(name)
    if data is None:
        if required:
            f.error((name,), f"required table is missing; add [{name}]")
        return None
    if not isinstance(data, dict):
        f.error((name,), f"must be a table: write [{name}] followed by its keys")
        return None
    return check_model(model, data, (name,), f)


def _array(raw: dict[str, Any], name: str, model: type[M], f: Findings) -> list[tuple[int, M]]:
    out: list[tuple[int, M]] = []
    for i, item in _items(raw, name, f):
        spec = check_model(model, item, (name, i), f)
        if spec is not None:
            out.append((i, spec))
    return out


def _items(raw: dict[str, Any], name: str, f: Findings | None) -> list[tuple[int, dict[str, Any]]]:
    """The tables of an array of tables (problems reported to `f` unless it is None)."""
    data = raw.get(name, [])
    if not isinstance(data, list):
        if f is not None:
            f.error((name,), f"must be an array of tables: write one [[{name}]] header per entry")
        return []
    items: list[tuple[int, dict[str, Any]]] = []
    for i, item in enumerate(data):
        if isinstance(item, dict):
            items.append((i, item))
        elif f is not None:
            f.error((name, i), f"must be a table (got {item!r}); write one [[{name}]] header per entry")
    return items


def _meter_items(raw: dict[str, Any], f: Findings) -> list[tuple[int, dict[str, Any], MeterSpec | None]]:
    return [(i, item, check_model(MeterSpec, item, ("meters", i), f))
            for i, item in _items(raw, "meters", f)]


def _unique_items(
    items: list[tuple[int, dict[str, Any], MeterSpec | None]], f: Findings,
) -> list[tuple[int, dict[str, Any], MeterSpec | None]]:
    valid = _unique([(i, spec) for i, _, spec in items if spec is not None], "meters", f)
    keep = {i for i, _ in valid}
    return [item for item in items if item[2] is None or item[0] in keep]


def _written_ids(raw: dict[str, Any], name: str) -> frozenset[str]:
    """Every id written in an array of tables, even of entries that fail their checks (also for a
    mistaken [name] table, so its references are not reported twice)."""
    data = raw.get(name)
    items = data if isinstance(data, list) else [data]
    return frozenset(i["id"] for i in items if isinstance(i, dict) and isinstance(i.get("id"), str))


def _unique(items: list[tuple[int, M]], name: str, f: Findings) -> list[tuple[int, M]]:
    """Drop (and report) entries whose id an earlier entry already has."""
    first: dict[str, tuple[int, str]] = {}
    out: list[tuple[int, M]] = []
    for i, spec in items:
        key = getattr(spec, "id")  # noqa: B009 - every array model has an id
        seen = first.get(key.casefold())
        if seen is not None and seen[1] == key:
            f.error((name, i, "id"), f"{key!r} is already the id of {_where(f, (name, seen[0]))}; "
                                     "ids must be unique")
            continue
        if seen is not None:  # case is kept, but two ids that differ only in case are one to many tools
            f.error((name, i, "id"), f"{key!r} differs from {seen[1]!r} ({_where(f, (name, seen[0]))}) "
                                     "only in case; Home Assistant entity ids and spreadsheet look-ups "
                                     "ignore case, so ids must differ in more than case")
            continue
        first[key.casefold()] = (i, key)
        out.append((i, spec))
    return out


def _where(f: Findings, path: KeyPath) -> str:
    line = f.lines.get(path)
    return f.label(path) + (f" (line {line})" if line else "")


# ---------------------------------------------------------------------------------------------------
# buildings and buses


def _check_pairs(meters: list[Meter], index: dict[str, int], f: Findings) -> None:
    """`pair` links a heat meter to the electricity meter of its heat pump."""
    kinds = {m.id: m.kind for m in meters}
    for m in meters:
        if m.role is not None and m.kind not in ("electricity", "heat_pump"):
            f.error(("meters", index[m.id], "role"), f"role = \"heat_pump\" is for the electricity meter "
                                                     f"of a heat pump; this meter is a {m.kind} meter")
        if m.pair is None:
            continue
        here = ("meters", index[m.id], "pair")
        if m.kind != "heat":
            f.error(here, f"pair belongs on a heat meter (this one is {m.kind}): it names the "
                          "electricity meter of the heat pump that makes the heat")
        elif m.pair not in kinds:
            f.error(here, f"no meter {m.pair!r} in this config")
        elif kinds[m.pair] not in ("electricity", "heat_pump"):
            f.error(here, f"{m.pair!r} is a {kinds[m.pair]} meter; name the heat pump's electricity meter")


def _schedule(spec: BuildingSpec) -> Occupancy | None:
    s = spec.schedule
    if s is None:
        return None
    return Occupancy(tuple(s.workdays), s.open_h, s.close_h, s.night_start_h, s.night_end_h,
                     s.base_start_h, s.base_end_h, s.public_holidays, _closures(s.closed))


def _closures(specs: Sequence[ClosureSpec]) -> tuple[Closure, ...]:
    return tuple(Closure(c.from_, c.to, c.name) for c in specs)


def _check_closures(specs: Sequence[ClosureSpec], path: KeyPath, f: Findings) -> None:
    for k, c in enumerate(specs):
        if c.to < c.from_:
            f.error((*path, k, "to"), f"{c.to} is before from ({c.from_}); a closure runs from its "
                                      "first day to its last day, both included")


def _levels(level: list[str] | str | None) -> tuple[str, ...]:
    if level is None:
        return ()
    return (level,) if isinstance(level, str) else tuple(level)


def _check_building(i: int, spec: BuildingSpec, f: Findings) -> None:
    if spec.heated_area_m2 is not None and spec.heated_area_m2 > spec.floor_area_m2:
        f.error(("buildings", i, "heated_area_m2"),
                f"{spec.heated_area_m2:g} m² is larger than floor_area_m2 ({spec.floor_area_m2:g} m²); "
                "the heated area is part of the floor area")
    sch = spec.schedule
    if sch is not None:
        for start, end in (("open_h", "close_h"), ("night_start_h", "night_end_h"),
                           ("base_start_h", "base_end_h")):
            if not getattr(sch, start) < getattr(sch, end):
                f.error(("buildings", i, "schedule", end), f"must be later than {start} "
                                                           f"({getattr(sch, start):g})")
        _check_closures(sch.closed, ("buildings", i, "schedule", "closed"), f)
    if spec.beds is not None and spec.category != "hospital":
        f.warn(("buildings", i, "beds"), f"beds is used by per-bed quotas of hospitals; this building "
                                         f"is a {spec.category!r}")


def _buses(raw: dict[str, Any], f: Findings) -> list[tuple[int, BusSpec]]:
    out: list[tuple[int, BusSpec]] = []
    for i, item in _items(raw, "buses", f):
        kind = item.get("type")
        if kind is None:
            f.error(("buses", i), "required key is missing; add `type = \"serial\"`, \"tcp\" or "
                                  "\"rtu-over-tcp\"")
            continue
        model = BUS_MODELS.get(kind) if isinstance(kind, str) else None
        if model is None:
            close = difflib.get_close_matches(str(kind), BUS_TYPES, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            f.error(("buses", i, "type"), f"{kind!r} is not a bus type; {hint}use serial (an RS-485 "
                                          "port), tcp (Modbus TCP) or rtu-over-tcp (a converter)")
            continue
        spec = check_model(model, item, ("buses", i), f)
        if spec is not None:
            out.append((i, spec))
    return out


def _check_physical_buses(buses: list[tuple[int, BusSpec]], f: Findings) -> None:
    """Two entries for one port or one host:port would be two queues on one physical bus."""
    seen: dict[tuple[str, ...], int] = {}
    for i, spec in buses:
        if spec.type == "serial":
            key: tuple[str, ...] = ("serial", os.path.realpath(spec.device))
            what, name = "device", spec.device
        else:
            key = ("tcp", spec.host.lower(), str(spec.port))
            what, name = "host", f"{spec.host}:{spec.port}"
        other = seen.setdefault(key, i)
        if other != i:
            f.error(("buses", i, what), f"{name} is also used by {_where(f, ('buses', other))}: both "
                                        "are one physical bus; merge them into one [[buses]] entry "
                                        "and point their meters at it")


def _compile_bus(i: int, spec: BusSpec, meters: list[Meter], defaults: DefaultsSpec, used: bool,
                 f: Findings) -> Bus:
    on_bus = [m for m in meters if m.bus == spec.id]
    if not used:
        f.warn(("buses", i), "no meter uses this bus; remove it or add meters with "
                             f"bus = {spec.id!r}")
    wire: WireLine | None = None
    if spec.type != "tcp" and spec.baud is not None:
        wire = WireLine(spec.baud, bits_per_char(spec.bytesize, spec.parity, spec.stopbits))
    switch_ms = spec.unit_switch_delay_ms
    if switch_ms is None:
        switch_ms = max((m.variant.device.unit_switch_delay_ms for m in on_bus), default=0.0)
    pause_ms = spec.pause_ms if spec.pause_ms is not None else defaults.pause_ms
    if pause_ms is None:
        pause_ms = 0.0
        if wire is not None:
            chars_ms = SERIAL_PAUSE_CHARS * char_time(wire.baud, wire.bits_per_char) * 1000
            pause_ms = max(MIN_SERIAL_PAUSE_MS, math.ceil(chars_ms))
    timeout_ms = spec.timeout_ms if spec.timeout_ms is not None else defaults.timeout_ms
    if timeout_ms is None:
        timeout_ms = _default_timeout_ms(spec, wire, on_bus)
    if isinstance(spec, SerialBusSpec) and not os.path.exists(spec.device):
        f.warn(("buses", i, "device"), f"serial port {spec.device} does not exist on this machine; "
                                       "plug in the USB-RS485 adapter (list ports with ls "
                                       "/dev/ttyUSB* /dev/serial/by-id/) or fix the path: the "
                                       "gateway cannot poll this bus until it exists")
    endpoint: SerialEndpoint | TcpEndpoint | RtuOverTcpEndpoint
    if spec.type == "serial":
        endpoint = SerialEndpoint(spec.device, spec.baud, spec.parity, spec.stopbits, spec.bytesize)
    elif spec.type == "tcp":
        endpoint = TcpEndpoint(spec.host, spec.port)
    else:
        endpoint = RtuOverTcpEndpoint(spec.host, spec.port)
    return Bus(id=spec.id, type=spec.type, endpoint=endpoint, timeout_s=timeout_ms / 1000,
               pause_s=pause_ms / 1000, unit_switch_delay_s=switch_ms / 1000, wire=wire,
               description=spec.description, protocol=getattr(spec, "protocol", "modbus"))


def _default_timeout_ms(spec: BusSpec, wire: WireLine | None, on_bus: list[Meter]) -> float:
    """Serial: 300 ms plus the line time of the longest read (rounded up to 10 ms); TCP: 1 s; a
    converter: 1 s, plus that line time when its baud is known."""
    longest_ms = longest_read_s(wire, on_bus) * 1000 if wire is not None else 0.0
    base = SERIAL_TIMEOUT_BASE_MS if spec.type == "serial" else TCP_TIMEOUT_MS
    return float(math.ceil((base + longest_ms) / 10) * 10)


# ---------------------------------------------------------------------------------------------------
# mqtt, health


def _mqtt(raw: dict[str, Any], gateway_id: str, config_dir: Path, require_env: bool,
          f: Findings) -> Mqtt | None:
    data = raw.get("mqtt")
    if isinstance(data, dict) and ("password" in data or "qos" in data):
        data = refuse_inline_secrets(data, "mqtt", f)
        data = dict(data)
        if data.pop("qos", 1) != 1:
            f.error(("mqtt", "qos"), "readings are always published with QoS 1 (the outbox keeps "
                                     "them until the broker acknowledges); remove the key")
        raw = {**raw, "mqtt": data}
    spec = _table(raw, "mqtt", MqttSpec, f)
    if spec is None:
        return None
    tls = resolve_tls(spec.tls, config_dir, f) if spec.tls is not None else None
    password = resolve_password(spec, config_dir, f, require_env=require_env)
    if password is not None and spec.username is None and spec.protocol == "3.1.1":
        f.error(("mqtt", "username"), "MQTT 3.1.1 sends a password only together with a user name; "
                                      "set username (or use protocol = \"5\")")
    client_id = spec.client_id or gateway_id
    if spec.protocol == "3.1.1" and len(client_id) > 23:
        f.warn(("mqtt", "client_id"), f"{client_id!r} is longer than 23 characters, which MQTT 3.1.1 "
                                      "brokers may refuse; set a shorter client_id")
    return Mqtt(
        host=spec.host, port=spec.default_port(),
        protocol=spec.protocol, client_id=client_id, topic_prefix=spec.topic_prefix,
        keepalive=spec.keepalive, username=spec.username, password=password, tls=tls,
        homeassistant_discovery=spec.homeassistant_discovery, discovery_prefix=spec.discovery_prefix,
    )


def _health(spec: HealthSpec, f: Findings) -> Health:
    listen: tuple[str, int] | None = None
    if spec.prometheus_listen:
        try:
            listen = parse_host_port(spec.prometheus_listen, default_port=None)
        except ValueError as exc:
            f.error(("health", "prometheus_listen"), f"{exc} (e.g. \"127.0.0.1:9108\"; \"\" turns the "
                                                     "endpoint off)")
    return Health(listen, spec.interval)
