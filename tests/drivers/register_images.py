"""Golden register images: raw words written from the manufacturers' register tables.

The fixtures (tests/drivers/fixtures/register_images/<profile>.toml) hold, per profile variant, the
16-bit words a real meter would hold at its wire addresses, with the value the manufacturer's table
says they mean. Nothing here imports drivers.codec or the simulators: words are checked against the
manufacturer's stated format with `struct` only, and served by a plain pymodbus server, so a profile
with a wrong address or word order reads a different number (docs/profiles.md, "Golden tests against
manufacturers' tables").
"""

from __future__ import annotations

import asyncio
import math
import socket
import struct
import threading
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import SimData, SimDevice
from pymodbus.simulator.simutils import DataType

from core.reading import Quality
from drivers.profiles import MeterVariant
from drivers.pymodbus_adapter import ModbusConnection
from drivers.reader import MeterReader
from drivers.transport import TcpEndpoint

IMAGES = Path(__file__).parent / "fixtures" / "register_images"
UNIT = 1
REL_TOL = 1e-6  # float32 keeps about 7 significant digits

# the manufacturer's stated format -> struct code (big-endian bytes inside each word, as Modbus sends)
_STRUCT = {"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "float32": ">f"}


def manufacturer_words(dtype: str, order: str, raw: float) -> list[int]:
    """The words a device holds for `raw` in the format its manual states: big-endian bytes,
    high word first (ABCD) or low word first (CDAB)."""
    value: float = int(raw) if dtype != "float32" else raw
    data = struct.pack(_STRUCT[dtype], value)
    words = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    if order == "CDAB":
        return words[::-1]
    if order != "ABCD":
        raise ValueError(f"no manufacturer table here uses order {order!r}")
    return words


def manufacturer_value(dtype: str, order: str, words: list[int]) -> float:
    """The inverse of manufacturer_words: the number `words` hold in the stated format."""
    ordered = words[::-1] if order == "CDAB" else words
    data = b"".join(w.to_bytes(2, "big") for w in ordered)
    return float(struct.unpack(_STRUCT[dtype], data)[0])


@dataclass(frozen=True)
class Image:
    profile: str
    variant: str
    first_register: int  # the number the manufacturer gives to wire address 0
    entries: dict[str, dict[str, Any]]  # quantity -> entry as written in the fixture
    unverified: dict[str, str] = field(default_factory=dict)  # quantity -> why no entry

    @property
    def key(self) -> str:
        return f"{self.profile}:{self.variant}"

    def words(self) -> dict[int, dict[int, int]]:
        """function code -> {wire address: word} of every entry (and its fraction)."""
        out: dict[int, dict[int, int]] = {}
        for e in self.entries.values():
            table = out.setdefault(e["function"], {})
            for part in (e, e.get("fraction")):
                if part is None:
                    continue
                for i, word in enumerate(part["words"]):
                    address = part["wire"] + i
                    if table.get(address, word) != word:
                        raise ValueError(f"{self.key}: two entries write wire {address}")
                    table[address] = word
        return out


def load_images(folder: Path = IMAGES) -> dict[str, Image]:
    """Every image, keyed 'profile:variant'; `same_as` takes another image's entries, which the
    variant's own entries replace by quantity."""
    images: dict[str, Image] = {}
    for path in sorted(folder.glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        profile = data["profile"]
        raw_images: dict[str, dict[str, Any]] = data["images"]
        for name, spec in raw_images.items():
            base = raw_images[spec["same_as"]] if "same_as" in spec else {}
            entries = {e["quantity"]: e for e in base.get("entries", [])}
            entries.update({e["quantity"]: e for e in spec.get("entries", [])})
            unverified = {u["quantity"]: u["reason"]
                          for u in spec.get("unverified", base.get("unverified", []))}
            first = spec.get("first_register", base.get("first_register", 0))
            images[f"{profile}:{name}"] = Image(profile, name, first, entries, unverified)
    return images


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _block(table: Mapping[int, int]) -> list[SimData]:
    """One contiguous run from the lowest to the highest address, zero between the entries (a read
    the planner bridges across a gap must not be refused)."""
    if not table:
        return [SimData(0, values=[0], datatype=DataType.REGISTERS)]
    low, high = min(table), max(table)
    return [SimData(low, values=[table.get(a, 0) for a in range(low, high + 1)],
                    datatype=DataType.REGISTERS)]


@contextmanager
def serve_image(image: Image) -> Iterator[TcpEndpoint]:
    """A pymodbus Modbus TCP server on loopback holding exactly the image's words (holding registers
    for FC3, input registers for FC4, separate tables); registers outside them answer exception 2."""
    words = image.words()
    bits = [SimData(0, values=[False] * 16, datatype=DataType.BITS)]
    device = SimDevice(id=UNIT, simdata=(bits, bits, _block(words.get(3, {})),
                                         _block(words.get(4, {}))))
    port = _free_port()
    loop = asyncio.new_event_loop()
    servers: list[ModbusTcpServer] = []
    ready = threading.Event()

    async def start() -> None:
        # pymodbus binds the server to the running loop when it is made
        servers.append(ModbusTcpServer([device], address=("127.0.0.1", port)))
        await servers[0].serve_forever(background=True)

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="register-image-server", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the pymodbus server did not start")
    try:
        yield TcpEndpoint("127.0.0.1", port)
    finally:
        asyncio.run_coroutine_threadsafe(servers[0].shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def golden_mismatches(variant: MeterVariant, image: Image) -> list[str]:
    """Read `variant` from a server holding `image` through ModbusConnection and MeterReader; one line
    per image entry whose reading is not the manufacturer's value, unit and quality ok."""
    with serve_image(image) as endpoint, ModbusConnection(endpoint, timeout=2.0) as conn:
        readings = {r.quantity: r for r in MeterReader(conn, variant, UNIT).read()}
    problems = []
    for quantity, e in image.entries.items():
        r = readings.get(quantity)
        if r is None:
            problems.append(f"{quantity}: the profile has no such point")
            continue
        expected = float(e["value"])
        tolerance = float(e.get("tolerance", 0.0))
        close = r.value is not None and math.isclose(r.value, expected, rel_tol=REL_TOL,
                                                     abs_tol=tolerance)
        if not close or r.unit != e["unit"] or r.quality is not Quality.OK:
            raw = " ".join(f"0x{w:04X}" for w in r.raw)
            problems.append(f"{quantity}: expected {expected!r} {e['unit']} ok, read {r.value!r} "
                            f"{r.unit} {r.quality.value} (raw {raw or '-'}; {r.error or 'no error'})")
    return problems
