"""A small site and a year (and a month before it) of hourly readings for the report tests: two
buildings of one institution, a total meter, sub-item meters given by national code and by name, a
water meter that misses July 2024 and a lighting meter that misses a week in May."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")
INSTITUTION = "城东中学"  # a school; its buildings share it
SITE = f"""
[site]
id = "east-school"
name = "East middle school"
institution = "{INSTITUTION}"
timezone = "Asia/Shanghai"

[[buildings]]
id = "office"
name = "办公楼"
category = "office"
floor_area_m2 = 3000
occupants = 120

[[buildings]]
id = "hall"
name = "Sports hall"
category = "venue"
floor_area_m2 = 2000
occupants = 40

[[buses]]
id = "rs1"
type = "serial"
device = "/dev/null"

[[meters]]
id = "office-main"
profile = "chint-dtsu666"
unit = 1
bus = "rs1"
building = "office"
subitem = "01000"

[[meters]]
id = "office-hvac"
profile = "eastron-sdm630"
unit = 2
bus = "rs1"
building = "office"
subitem = "01B00"

[[meters]]
id = "office-light"
profile = "eastron-sdm630"
unit = 3
bus = "rs1"
building = "office"
subitem = "lighting_sockets"

[[meters]]
id = "office-water"
profile = "tuf-2000m"
unit = 4
bus = "rs1"
building = "office"

[[meters]]
id = "hall-main"
profile = "chint-dtsu666"
unit = 5
bus = "rs1"
building = "hall"
subitem = "total"
"""
_E = "energy_active_import"
HOURLY = {"office-main": (_E, "kWh", 30.0), "office-hvac": (_E, "kWh", 9.0), "office-light": (_E, "kWh", 6.0),
          "office-water": ("water_volume", "m³", 0.4), "hall-main": (_E, "kWh", 12.0)}
FIRST, END = datetime(2023, 12, 1, tzinfo=TZ), datetime(2025, 1, 1, tzinfo=TZ)


def _missing(meter: str, at: datetime) -> bool:
    if meter == "office-water":
        return datetime(2024, 7, 1, tzinfo=TZ) < at < datetime(2024, 8, 1, tzinfo=TZ)
    return meter == "office-light" and (datetime(2024, 5, 10, tzinfo=TZ) < at
                                        < datetime(2024, 5, 17, tzinfo=TZ))


def write_site(folder: Path, first: datetime = FIRST, end: datetime = END) -> tuple[Path, Path]:
    """(site.toml, readings.csv): hourly counters, each meter's rate rising a little with the month."""
    site = folder / "site.toml"
    site.write_text(SITE, encoding="utf-8")
    lines = ["ts,meter,quantity,value,unit"]
    totals = dict.fromkeys(HOURLY, 1000.0)
    hours = int((end.timestamp() - first.timestamp()) // 3600)
    for h in range(hours + 1):
        at = datetime.fromtimestamp(first.timestamp() + h * 3600, TZ)
        for meter, (quantity, unit, rate) in HOURLY.items():
            if h:
                totals[meter] += rate * (1 + at.month / 24) * (1.3 if 8 <= at.hour < 18 else 0.8)
            if not _missing(meter, at):
                lines.append(f"{at.isoformat()},{meter},{quantity},{totals[meter]:.3f},{unit}")
    readings = folder / "readings.csv"
    readings.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return site, readings
