"""`metergate demo`: a small simulated campus, the real gateway on it, shown live.

Three buildings, 18 meters: two Modbus RTU lines emulated on pseudo-terminals at 9600 baud (with
wire timing, so the bus behaves like a real one), a Modbus TCP gateway plus a heat pump over TCP, a
DL/T 645-2007 line of electricity meters and a CJ/T 188 line of water meters, both at 2400 8E1.
If mosquitto is on PATH, a private broker is started on a free loopback port and the gateway
publishes to it; otherwise the demo says so and readings stay in the local outbox.
Everything lives in a temporary folder that is removed at the end (unless --keep-files).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from drivers.di_profiles import resolve_di_variant
from drivers.profiles import SerialSettings, resolve_variant
from simulators.bus import Simulator
from simulators.di_meter import DiMeter, DiMeterOptions
from simulators.frame_sim import FrameSimulator
from simulators.meter import MeterOptions, SimulatedMeter

LINE = SerialSettings(9600, "N", 1, 8)


@dataclass(frozen=True)
class DemoMeter:
    id: str
    profile: str
    unit: int
    building: str
    subitem: str | None = None
    address: str | None = None  # DL/T 645 / CJ/T 188 meters: the nameplate address (unit unused)


# bus id -> meters on it; "line-*" are RS-485 lines on ptys, the others Modbus TCP devices
CAMPUS: dict[str, list[DemoMeter]] = {
    "line-admin": [
        DemoMeter("admin-main", "chint-dtsu666", 1, "admin", "total"),
        DemoMeter("admin-hvac", "eastron-sdm630", 2, "admin", "hvac"),
        DemoMeter("admin-lighting", "eastron-sdm120", 3, "admin", "lighting_sockets"),
        DemoMeter("admin-water", "tuf-2000m", 4, "admin"),
        DemoMeter("admin-heat", "kamstrup-multical", 5, "admin"),
    ],
    "line-teaching": [
        DemoMeter("teaching-main", "acrel-adw300", 1, "teaching", "total"),
        DemoMeter("teaching-sockets", "eastron-sdm120", 2, "teaching", "lighting_sockets"),
        DemoMeter("teaching-water", "tuf-2000m", 3, "teaching"),
    ],
    "library-gw": [
        DemoMeter("library-main", "chint-dtsu666", 1, "library", "total"),
        DemoMeter("library-power", "eastron-sdm630", 2, "library", "power"),
        DemoMeter("library-water", "tuf-2000m", 3, "library"),
    ],
    "library-heatpump": [
        DemoMeter("library-hp", "lambda-eu-l", 1, "library", "hvac"),
    ],
    "library-hp-heat": [
        DemoMeter("library-hp-heat", "kamstrup-multical", 1, "library"),
    ],
}
# bus id -> (protocol, meters): lines of meters read by data identifier, on ptys at 2400 8E1
FRAME_LINES: dict[str, tuple[str, list[DemoMeter]]] = {
    "line-dorm-dlt645": ("dlt645", [
        DemoMeter("teaching-floor1", "chint-dtsu666", 0, "teaching", "lighting_sockets",
                  "000000000101"),
        DemoMeter("teaching-floor2", "chint-dtsu666:single_phase", 0, "teaching",
                  "lighting_sockets", "000000000102"),
        DemoMeter("teaching-hvac", "dlt645-2007", 0, "teaching", "hvac", "000000000103"),
    ]),
    "line-water-cjt188": ("cjt188", [
        DemoMeter("admin-tap-water", "cjt188-water", 0, "admin", None, "00000000000201"),
        DemoMeter("library-tap-water", "cjt188-water", 0, "library", None, "00000000000202"),
    ]),
}
FRAME_LINE = SerialSettings(2400, "E", 1, 8)
BUILDINGS = {"admin": ("Administration", "office", 6200, 180),
             "teaching": ("Teaching block", "school", 9800, 1200),
             "library": ("Library", "office", 4300, 90)}


class DemoCampus:
    """The simulators and the broker; start() returns the site config path the gateway runs."""

    def __init__(self, folder: Path, *, seed: int = 7, broker: bool = True) -> None:
        self.folder = folder
        self.seed = seed
        self.simulators: dict[str, Simulator] = {}
        self.frame_simulators: dict[str, FrameSimulator] = {}
        self.broker: subprocess.Popen[bytes] | None = None
        self.broker_port: int | None = None
        self.want_broker = broker

    def start(self) -> Path:
        for i, (bus, meters) in enumerate(CAMPUS.items()):
            seed = self.seed * 1000 + i  # each building its own load shape
            sim = Simulator(SimulatedMeter(resolve_variant(m.profile), m.unit, seed=seed,
                                           options=MeterOptions(line=LINE)) for m in meters)
            if bus.startswith("line-"):
                sim.add_rtu(wire_timing=True)
            else:
                sim.add_tcp()
            self.simulators[bus] = sim.start()
        for i, (bus, (protocol, frame_meters)) in enumerate(FRAME_LINES.items()):
            frame_sim = FrameSimulator(protocol, [
                DiMeter(resolve_di_variant(m.profile, protocol), m.address or "",
                        seed=self.seed * 1000 + 100 + i,
                        options=DiMeterOptions(line=FRAME_LINE, preamble_varies=True))
                for m in frame_meters])
            frame_sim.add_pty(wire_timing=True)
            frame_sim.start()
            self.frame_simulators[bus] = frame_sim
        if self.want_broker and shutil.which("mosquitto"):
            self.broker_port = free_port()
            self.broker = start_mosquitto(self.folder, self.broker_port)
        path = self.folder / "demo-site.toml"
        path.write_text(self.site_config(), encoding="utf-8")
        return path

    def stop(self) -> None:
        for sim in self.simulators.values():
            sim.stop()
        for frame_sim in self.frame_simulators.values():
            frame_sim.stop()
        if self.broker is not None:
            self.broker.terminate()
            self.broker.wait(timeout=10)

    def site_config(self) -> str:
        out = ['[site]', 'id = "demo-campus"', 'name = "Demo campus (simulated)"',
               'institution = "metergate demo"', 'gateway_id = "demo-gw1"', '',
               '[defaults]', 'poll_interval = "5s"', '']
        for bid, (name, category, area, people) in BUILDINGS.items():
            out += ['[[buildings]]', f'id = "{bid}"', f'name = "{name}"',
                    f'category = "{category}"', f'floor_area_m2 = {area}',
                    f'occupants = {people}', '']
        for bus, sim in self.simulators.items():
            ep = sim.endpoints[0]
            out += ['[[buses]]', f'id = "{bus}"']
            if bus.startswith("line-"):
                out += ['type = "serial"', f'device = "{ep.device}"',  # type: ignore[union-attr]
                        f'baud = {LINE.baud}', 'parity = "N"', 'stopbits = 1']
            else:
                out += ['type = "tcp"', f'host = "{ep.host}"',  # type: ignore[union-attr]
                        f'port = {ep.port}']  # type: ignore[union-attr]
            out.append('')
        for bus, frame_sim in self.frame_simulators.items():
            out += ['[[buses]]', f'id = "{bus}"', 'type = "serial"',
                    f'protocol = "{FRAME_LINES[bus][0]}"',
                    f'device = "{frame_sim.pty_endpoint.device}"',
                    f'baud = {FRAME_LINE.baud}', f'parity = "{FRAME_LINE.parity}"', '']
        for bus, (_, frame_meters) in FRAME_LINES.items():
            for m in frame_meters:
                out += ['[[meters]]', f'id = "{m.id}"', f'profile = "{m.profile}"',
                        f'address = "{m.address}"', f'bus = "{bus}"', f'building = "{m.building}"',
                        'poll = [{ interval = "30s", quantities = "*" }]']
                if m.subitem:
                    out.append(f'subitem = "{m.subitem}"')
                out.append('')
        for bus, meters in CAMPUS.items():
            for m in meters:
                out += ['[[meters]]', f'id = "{m.id}"', f'profile = "{m.profile}"',
                        f'unit = {m.unit}', f'bus = "{bus}"', f'building = "{m.building}"']
                if m.subitem:
                    out.append(f'subitem = "{m.subitem}"')
                out.append('')
        if self.broker_port is not None:
            out += ['[mqtt]', 'host = "127.0.0.1"', f'port = {self.broker_port}',
                    'protocol = "5"', '']
        out += ['[outbox]', f'path = "{self.folder / "outbox.sqlite"}"', '',
                '[health]', 'prometheus_listen = ""', 'interval = "10s"', '']
        return "\n".join(out)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_mosquitto(folder: Path, port: int) -> subprocess.Popen[bytes]:
    conf = folder / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n",
                    encoding="utf-8")
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.terminate()
    raise RuntimeError(f"mosquitto did not start on 127.0.0.1:{port}")


def temporary_folder() -> Path:
    return Path(tempfile.mkdtemp(prefix="metergate-demo-"))
