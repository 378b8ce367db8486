"""A small site and synthetic counter readings for the alert tests (batch, CLI, service)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import date, datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import numpy as np

from core.reading import Quality
from gateway.mqtt.payloads import readings_payload
from gateway.outbox.codec import StoredReading
from gateway.outbox.store import OutboxMessage

TZ = ZoneInfo("Asia/Shanghai")
SITE = "alerts-site"  # the [site] id of site_toml()
UNITS = {"energy_active_import": "kWh", "water_volume": "m³"}


def site_message(seq: int, meter: str, ts: float, quantity: str, value: float | None,
                 quality: Quality = Quality.OK) -> tuple[str, bytes]:
    """(topic, payload) of one reading of the site's gateway "gw" in the gateway's MQTT format;
    `ts` in seconds."""
    reading = StoredReading(quantity, value, UNITS[quantity], quality, ts, "")
    return (f"metergate/v1/{SITE}/gw/meters/{meter}/readings",
            readings_payload(SITE, "gw", OutboxMessage(seq, meter, ts, (reading,))))


def site_toml(folder: Path, *, mqtt_port: int | None = None, name: str = "site.toml") -> Path:
    """Two buildings on one Modbus TCP bus: a provincial government office in Shandong zone B (DB37/T
    2672-2019 non-heating constraint 25.5 kgce/(m²·a)) with an electricity and a water meter, and a
    school with one electricity meter (no quota applies)."""
    text = """[site]
id = "alerts-site"
name = "Alert test site"
timezone = "Asia/Shanghai"

[[buildings]]
id = "gov"
name = "Government office"
category = "office"
floor_area_m2 = 1000
occupants = 40
level = "province"
quota_zone = "B"
heating_type = "district_heat"

[[buildings]]
id = "school"
name = "School"
category = "school"
floor_area_m2 = 2000
occupants = 300

[[buses]]
id = "bus1"
type = "tcp"
host = "127.0.0.1"
port = 1502

[[meters]]
id = "gov-main"
profile = "chint-dtsu666"
unit = 1
bus = "bus1"
building = "gov"
subitem = "total"

[[meters]]
id = "gov-water"
profile = "tuf-2000m"
unit = 2
bus = "bus1"
building = "gov"

[[meters]]
id = "school-main"
profile = "eastron-sdm630"
unit = 3
bus = "bus1"
building = "school"
subitem = "total"
"""
    if mqtt_port is not None:
        text += f'\n[mqtt]\nhost = "127.0.0.1"\nport = {mqtt_port}\n'
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@cache
def _workday(day: date) -> bool:
    return bool(chinese_calendar.is_workday(day))


def _weight(ts: int, *, water: bool = False) -> float:
    """Load shape, mean 1 over an ordinary week. Electricity: 2.5 during occupied hours (08-18 on
    working days: Monday to Friday, except the statutory holidays, and the adjusted working weekend
    days, as the State Council's notices have them), 0.5 otherwise. Water: only during occupied hours
    (no flow at night, as in a tight building)."""
    local = datetime.fromtimestamp(ts, TZ)
    occupied = 8 <= local.hour < 18 and _workday(local.date())
    if water:
        return 168 / 50 if occupied else 0.0
    return (2.5 if occupied else 0.5) / ((5 * (10 * 2.5 + 14 * 0.5) + 2 * 24 * 0.5) / (7 * 24))


def readings(days: int = 40, *, start: datetime = datetime(2024, 1, 1, tzinfo=TZ), step_s: int = 900,
             gov_kwh_per_day: float | Callable[[int], float] = 400.0, water_m3_per_day: float = 1.0,
             leak_m3_per_h: float = 0.0, leak_from_day: int = 0,
             seed: int = 7) -> list[tuple[int, str, str, float]]:
    """(ts_ns, meter, quantity, value) in time order: counters every `step_s`, following an office
    load shape (busy 08-18 on workdays) with ±5 % noise. The office uses `gov_kwh_per_day` on average
    (a number, or a function of the day index; 400 kWh/day on 1000 m² at 0.31 kgce/kWh is
    45 kgce/(m²·a), far above 25.5) and `water_m3_per_day` (its 40 occupants' constraint is
    25 m³/(person·a), 2.74 m³/day); from `leak_from_day` on, a leak adds `leak_m3_per_h` day and night."""
    rng = np.random.default_rng(seed)
    t0 = int(start.timestamp())
    n = days * 86_400 // step_s + 1
    gov = gov_kwh_per_day if callable(gov_kwh_per_day) else (lambda _day: float(gov_kwh_per_day))
    per_day: dict[tuple[str, str], Callable[[int], float]] = {
        ("gov-main", "energy_active_import"): gov,
        ("gov-water", "water_volume"): lambda _day: water_m3_per_day,
        ("school-main", "energy_active_import"): lambda _day: 150.0}
    counters = {k: 1000.0 * (i + 1) for i, k in enumerate(per_day)}
    out: list[tuple[int, str, str, float]] = []
    for i in range(n):
        ts = t0 + i * step_s
        day = (i - 1) * step_s // 86_400
        for (meter, quantity), rate in per_day.items():
            if i:
                w = _weight(ts - step_s, water=quantity == "water_volume")
                use = rate(day) / 86_400 * step_s * w * rng.uniform(0.95, 1.05)
                if meter == "gov-water" and leak_m3_per_h and day >= leak_from_day:
                    use += leak_m3_per_h * step_s / 3600
                counters[(meter, quantity)] += use
            out.append((ts * 10**9, meter, quantity, round(counters[(meter, quantity)], 4)))
    return out


def write_csv(rows: list[tuple[int, str, str, float]], path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["ts", "meter", "quantity", "value"])
        for ts, meter, quantity, value in rows:
            w.writerow([ts, meter, quantity, repr(value)])
    return path


def analytics_toml(folder: Path, *, port: int, client_id: str, influx_url: str | None = None,
                   extra: str = "") -> Path:
    """`folder/analytics.toml` for the site config beside it: the broker on loopback, the store in
    `state/`, hourly intervals 15 min late, health every second; optionally InfluxDB v2 at
    `influx_url`; `extra` (more TOML tables) appended."""
    influx = f'\n[influx]\napi = "v2"\nurl = "{influx_url}"\nbucket = "metergate"\n' if influx_url else ""
    path = folder / "analytics.toml"
    path.write_text(f"""sites = ["site.toml"]

[mqtt]
host = "127.0.0.1"
port = {port}
client_id = "{client_id}"
{influx}
[store]
path = "state/alerts.sqlite"

[engine]
interval = "1h"
lateness = "15m"

[health]
interval = "1s"
{extra}""", encoding="utf-8")
    return path
