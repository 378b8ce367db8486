"""The `watch` table on a real gateway: the demo campus (13 simulated meters on two RS-485 lines
on ptys and Modbus TCP) with faults injected, shown through `run_view` on a terminal, then the
snapshot it ended on rendered at 80, 100 and 160 columns.

The terminal is pyte, a VT100 emulator independent of rich: it replays every redraw rich's Live
wrote, so a frame taller than the screen or a log line printed between redraws (what left copies
of the header behind) shows up on it.
"""

from __future__ import annotations

import io
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyte
import pytest
from rich.console import Console

from cli.commands.watch import run_view
from gateway.demo import DemoCampus
from gateway.live import MeterView
from gateway.runtime import Gateway, RuntimeOptions
from gateway.watch_view import render
from site_config import load_site_config

pytestmark = pytest.mark.slow
TERMINAL = (100, 30)  # columns, lines
HEADER = "values / why not read"


@dataclass
class Watched:
    views: list[MeterView]
    devices: dict[str, dict[str, Any]]
    buses: dict[str, dict[str, Any]]
    screen: list[str]
    now: float


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watched]:
    folder: Path = tmp_path_factory.mktemp("campus")
    campus = DemoCampus(folder, broker=False)
    site = campus.start()
    try:
        campus.simulators["library-gw"].inject(3, "no_answer")  # library-water: offline
        campus.simulators["library-heatpump"].inject(1, "bad_crc:probability=0.5")  # TCP
        campus.simulators["line-admin"].inject(3, "bad_crc:probability=0.5")  # RTU
        site.write_text(site.read_text().replace('poll_interval = "5s"', 'poll_interval = "2s"'))
        gateway = Gateway(load_site_config(site), RuntimeOptions(serve_metrics=False,
                                                                 command="test"))
        out = io.StringIO()
        console = Console(file=out, force_terminal=True, width=TERMINAL[0], height=TERMINAL[1],
                          color_system="standard", legacy_windows=False)
        root_level = logging.getLogger().level
        run_view(gateway, console, duration=8, title="demo campus — 13 meters")
        logging.getLogger().setLevel(root_level)
        # a screen taller than the console, so nothing scrolls out of sight; LNM: a line feed
        # also returns the carriage, as a tty does (onlcr)
        screen = pyte.Screen(TERMINAL[0], 3 * TERMINAL[1])
        screen.set_mode(pyte.modes.LNM)
        pyte.Stream(screen).feed(out.getvalue())
        yield Watched(gateway.live.snapshot(), gateway.scheduler.snapshot()["devices"],
                      gateway.scheduler.snapshot()["buses"], list(screen.display), time.time())
    finally:
        campus.stop()


def test_redraws_in_place_on_a_terminal(watched: Watched) -> None:
    text = "\n".join(watched.screen)
    assert sum(HEADER in line for line in watched.screen) == 1, text
    assert sum("demo campus — 13 meters" in line for line in watched.screen) == 1, text
    for v in watched.views:
        assert sum(line.startswith(f" {v.meter} ") for line in watched.screen) == 1, (v.meter, text)


def test_real_snapshot_classifies_errors_per_transport(watched: Watched) -> None:
    d = watched.devices
    assert d["library-water"]["state"] in ("offline", "backoff")
    assert d["library-water"]["last_error_kind"] == "timeout"
    assert d["library-hp"]["bad_frames"] >= 1 and d["library-hp"]["crc_errors"] == 0  # TCP
    assert d["admin-lighting"]["crc_errors"] >= 1 and d["admin-lighting"]["bad_frames"] == 0


@pytest.mark.parametrize("width", [80, 100, 160])
def test_every_meter_on_one_line_within_the_width(watched: Watched, width: int) -> None:
    console = Console(width=width, record=True, height=50)
    console.print(render(watched.views, watched.devices, title="demo campus — 13 meters",
                         width=width, buses=watched.buses, now=watched.now, console=console))
    lines = console.export_text().splitlines()
    assert all(len(line) <= width for line in lines), "\n".join(lines)
    assert sum(HEADER in line for line in lines) == 1
    for v in watched.views:
        assert sum(f" {v.meter} " in line for line in lines) == 1, v.meter  # whole id, one line
    water = next(line for line in lines if " library-water " in line)
    assert "timeout" in water and "for " in water and "retry" in water, water
    hp = next(line for line in lines if " library-hp " in line)
    assert "CRC" not in hp and re.search(r"bad frame|\b\d+f\b", hp), hp
    lighting = next(line for line in lines if " admin-lighting " in line)
    assert re.search(r"\d+ CRC|\b\d+c\b", lighting), lighting
    if width >= 120:
        assert "bus/unit" in lines[1] + lines[2] and "quality" in "".join(lines[:4])
    else:
        assert "bus/unit" not in "".join(lines)  # the compact layout


def test_a_short_terminal_shows_problem_meters_and_counts_the_rest(watched: Watched) -> None:
    console = Console(width=80, record=True, height=50)
    console.print(render(watched.views, watched.devices, title="demo", width=80, height=10,
                         buses=watched.buses, now=watched.now, console=console))
    lines = console.export_text().splitlines()
    assert len(lines) <= 10, "\n".join(lines)
    assert any(" library-water " in line for line in lines)  # the offline one is never hidden
    shown = sum(any(f" {v.meter} " in line for line in lines) for v in watched.views)
    [more] = [line for line in lines if line.startswith("+")]
    assert more.startswith(f"+{len(watched.views) - shown} more"), more
