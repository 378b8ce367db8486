"""Per-meter overrides in the site config, end to end: `metergate run` polls two simulated SDM630s
whose floats are word-swapped (CDAB; the profile says ABCD). The meter with `overrides` is decoded
right, its twin without them is not; a per-point scale replaces the profile's and keeps the "*"
order. Values are compared with what the simulator serves (frozen clock)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.outbox import Outbox
from tests.e2e.site import site_toml

OVERRIDES = 'overrides = { "*" = { order = "CDAB" }, power_active = { scale = 0.001 } }\n'


def _poll_once(config: Path, outbox: Path, log: Path) -> dict[str, dict[str, Any]]:
    """Run the gateway until both meters have a stored poll; meter -> quantity -> reading."""
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cli.main", "run", str(config)],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if not outbox.exists():
                continue
            with Outbox(outbox) as box:
                polls = box.pending(limit=1000)
            latest = {m.meter: {r.quantity: r for r in m.readings} for m in polls}
            if {"m01", "m02"} <= set(latest):
                return latest
        raise AssertionError(f"no polls stored: {log.read_text()[-2000:]}")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


@pytest.mark.slow
def test_overrides_decode_a_word_swapped_meter(tmp_path: Path, modbus_simulator: Any) -> None:
    sim = modbus_simulator(["1=eastron-sdm630,order=CDAB", "2=eastron-sdm630,order=CDAB"])
    config = site_toml(tmp_path, tcp_port=sim.tcp_endpoint.port, units=range(1, 3),
                       profile="eastron-sdm630", interval="1s")
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace('id = "m01"\n', 'id = "m01"\n' + OVERRIDES), encoding="utf-8")
    readings = _poll_once(config, tmp_path / "outbox.sqlite", tmp_path / "gateway.log")

    true = sim.meters[1].true_values()
    fixed = readings["m01"]
    checked = 0
    for quantity, value in true.items():
        r = fixed.get(quantity)
        if r is None or quantity == "power_active":
            continue
        assert r.quality == "ok", (quantity, r)
        assert r.value == pytest.approx(value, rel=1e-5, abs=1e-6), quantity
        checked += 1
    assert checked >= 20
    # the per-point scale replaces the profile's 1 and keeps the "*" order
    assert fixed["power_active"].value == pytest.approx(true["power_active"] * 0.001, rel=1e-5)

    twin = readings["m02"]  # the same meter without overrides reads nonsense
    wrong = [q for q, r in twin.items() if r.quality != "ok"
             or r.value != pytest.approx(sim.meters[2].true_values()[q], rel=1e-3)]
    assert len(wrong) >= len(twin) // 2, twin
