"""A site config once checked: frozen values the runtime uses as they are, without validating again.

Built by site_config/load.py. Times are seconds (float), sizes bytes, paths absolute, references
(a meter's bus and building) ids that are known to exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from core.problems import Problem
from core.secrets import Secret
from core.tls_files import TlsFiles
from drivers.di_profiles import DiPoint, DiVariant
from drivers.profiles import MeterVariant, Point, PointOverride
from drivers.transport import Endpoint, RtuOverTcpEndpoint, SerialEndpoint


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    name: str
    institution: str
    timezone: str
    gateway_id: str


@dataclass(frozen=True, slots=True)
class Closure:
    """Days closed, first to last inclusive (a school's 寒暑假)."""

    first: date
    last: date
    name: str = ""


@dataclass(frozen=True, slots=True)
class Calendar:
    """The site's working-day calendar: statutory holidays ("cn" or "none") and site-wide closures."""

    public_holidays: str = "cn"
    closed: tuple[Closure, ...] = ()


@dataclass(frozen=True, slots=True)
class Occupancy:
    """Occupied hours in local time (Monday = 0), and the night windows the detectors measure in."""

    workdays: tuple[int, ...]
    open_h: float
    close_h: float
    night_start_h: float
    night_end_h: float
    base_start_h: float
    base_end_h: float
    public_holidays: bool = True  # follows the site's statutory calendar
    closed: tuple[Closure, ...] = ()  # this building's own closures


@dataclass(frozen=True, slots=True)
class Building:
    id: str
    name: str
    category: str
    subcategory: str | None
    floor_area_m2: float
    heated_area_m2: float | None
    occupants: int
    climate_zone: str | None
    levels: tuple[str, ...] = ()  # quota level / class tags, e.g. ("province",), ("level_2",)
    quota_zone: str | None = None  # a quota standard's own climate sub-zone, e.g. "A"
    heating_type: str | None = None  # district_heat | air_conditioning | boiler
    beds: int | None = None
    schedule: Occupancy | None = None  # None: the detectors' default occupancy


@dataclass(frozen=True, slots=True)
class WireLine:
    """The RS-485 line's speed and character size, for wire timing (serial, or a converter's serial side)."""

    baud: int
    bits_per_char: int

    def __str__(self) -> str:
        return f"{self.baud} baud, {self.bits_per_char} bits/char"


@dataclass(frozen=True, slots=True)
class Bus:
    """One physical bus = one serialized request queue."""

    id: str
    type: str  # "serial" | "tcp" | "rtu-over-tcp"
    endpoint: Endpoint
    timeout_s: float
    pause_s: float  # idle time between two requests
    unit_switch_delay_s: float  # extra idle time before a request to another unit than the last one
    wire: WireLine | None  # None: no wire timing known (Modbus TCP, a converter without baud)
    description: str = ""
    protocol: str = "modbus"  # "modbus" | "dlt645" | "cjt188": one protocol per bus

    @property
    def is_serial_line(self) -> bool:
        """True when requests share an RS-485 line (a local port or one behind a converter)."""
        return isinstance(self.endpoint, SerialEndpoint | RtuOverTcpEndpoint)


@dataclass(frozen=True, slots=True)
class PollGroup:
    """Quantities read together every `interval_s`, deadlines aligned to wall-clock boundaries."""

    interval_s: float
    quantities: tuple[str, ...]
    points: tuple[Point | DiPoint, ...]  # the variant's points for `quantities`, in order


@dataclass(frozen=True, slots=True)
class Meter:
    id: str
    profile: str  # as written: "PROFILE" or "PROFILE:VARIANT"
    variant: MeterVariant | DiVariant
    unit: int  # Modbus unit id; 0 for a DL/T 645 / CJ/T 188 meter (it has `address`)
    bus: str  # Bus.id
    building: str  # Building.id
    subitem: str | None
    circuit: str | None
    description: str | None
    ct: float | None
    pt: float | None
    poll: tuple[PollGroup, ...]
    pair: str | None = None  # a heat meter: the electricity meter of its heat pump
    # what the site config decodes differently from the profile (already applied to `variant`)
    overrides: tuple[tuple[str, PointOverride], ...] = ()
    role: str | None = None  # "heat_pump": judged as a heat pump whatever its profile's kind
    address: str | None = None  # DL/T 645 (12 digits) / CJ/T 188 (14 digits), as on the nameplate
    subitem_code: str | None = None  # the national item code (core.subitems), written or of `subitem`

    @property
    def kind(self) -> str:
        return self.variant.kind

    @property
    def protocol(self) -> str:
        return self.variant.protocol if isinstance(self.variant, DiVariant) else "modbus"

    @property
    def station(self) -> str:
        """Where on its bus: "unit 3" or "address 000012345678" (logs, unit-switch pacing)."""
        return f"address {self.address}" if self.address is not None else f"unit {self.unit}"


@dataclass(frozen=True, slots=True)
class Mqtt:
    host: str
    port: int
    protocol: str  # "5" | "3.1.1"
    client_id: str
    topic_prefix: str
    keepalive: int
    username: str | None
    password: Secret | None
    tls: TlsFiles | None
    homeassistant_discovery: bool
    discovery_prefix: str
    qos: int = 1


# 30 days of 100 meters x 20 points every minute take 0.59 GB (benchmarks/outbox_budget.py measures
# ~136 bytes per message on simulator readings, 1 KiB pages); 1 GiB holds about 53 days, a 1.8x
# margin. Here, not in the schema, so the outbox can use it without the validation library.
DEFAULT_OUTBOX_BYTES = 1 << 30


@dataclass(frozen=True, slots=True)
class Outbox:
    path: Path
    max_bytes: int
    synchronous: str = "NORMAL"
    commit_interval_s: float = 1.0  # polls committed together; 0: each as soon as it arrives


@dataclass(frozen=True, slots=True)
class Health:
    prometheus_listen: tuple[str, int] | None  # None: no Prometheus endpoint
    interval_s: float


@dataclass(frozen=True)
class SiteConfig:
    path: Path
    site: Site
    buildings: tuple[Building, ...]
    buses: tuple[Bus, ...]
    meters: tuple[Meter, ...]
    mqtt: Mqtt | None  # None: readings stay in the local outbox
    outbox: Outbox
    health: Health
    poll_interval_s: float  # [defaults] poll_interval
    calendar: Calendar = field(default_factory=Calendar)  # [calendar]
    warnings: tuple[Problem, ...] = field(default=(), compare=False)

    def bus(self, bus_id: str) -> Bus:
        return next(b for b in self.buses if b.id == bus_id)

    def building(self, building_id: str) -> Building:
        return next(b for b in self.buildings if b.id == building_id)

    def meters_on(self, bus_id: str) -> tuple[Meter, ...]:
        return tuple(m for m in self.meters if m.bus == bus_id)

    def protocol_of(self, bus_id: str) -> str:
        """modbus, dlt645 or cjt188: what the bus's meters speak (one protocol per bus)."""
        return next((b.protocol for b in self.buses if b.id == bus_id), "modbus")


__all__ = [
    "Building", "Bus", "Calendar", "Closure", "Health", "Meter", "Mqtt", "Occupancy", "Outbox", "PollGroup",
    "Site", "SiteConfig", "WireLine",
]
