"""Site configs for end-to-end tests: simulated meters behind one Modbus TCP simulator."""

from __future__ import annotations

from pathlib import Path


def site_toml(folder: Path, *, tcp_port: int, units: range, profile: str = "eastron-sdm120",
              interval: str = "1s", mqtt_port: int | None = None, outbox: Path | None = None,
              max_bytes: str = "1GiB") -> Path:
    lines = ['[site]', 'id = "e2e"', 'name = "End-to-end test site"', 'gateway_id = "e2e-gw"', '',
             '[[buildings]]', 'id = "b1"', 'name = "Test building"', 'category = "office"',
             'floor_area_m2 = 1000', 'occupants = 50', '',
             '[[buses]]', 'id = "sim"', 'type = "tcp"', 'host = "127.0.0.1"', f'port = {tcp_port}',
             'timeout_ms = 500', '']
    for unit in units:
        lines += ['[[meters]]', f'id = "m{unit:02d}"', f'profile = "{profile}"', f'unit = {unit}',
                  'bus = "sim"', 'building = "b1"', 'subitem = "other"',
                  f'poll = [{{ interval = "{interval}", quantities = "*" }}]', '']
    if mqtt_port is not None:
        lines += ['[mqtt]', 'host = "127.0.0.1"', f'port = {mqtt_port}', '']
    lines += ['[outbox]', f'path = "{outbox or folder / "outbox.sqlite"}"',
              f'max_bytes = "{max_bytes}"', '',
              '[health]', 'prometheus_listen = ""', 'interval = "2s"', '']
    path = folder / "site.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
