"""`metergate demo` (the README's main job) starts the simulated campus, runs the gateway on it,
publishes to a private mosquitto and shows every meter live; then cleans up."""

from __future__ import annotations

import os
import subprocess
import sys


def test_demo_runs_the_gateway_on_a_simulated_campus() -> None:
    env = dict(os.environ, COLUMNS="220")
    out = subprocess.run([sys.executable, "-m", "cli.main", "demo", "--duration", "12"],
                         capture_output=True, text=True, timeout=120, env=env, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout
    assert "MQTT broker (mosquitto) on 127.0.0.1:" in text
    for meter in ("admin-main", "admin-water", "admin-heat", "teaching-main", "library-hp",
                  "000000000101", "00000000000201"):  # DL/T 645 and CJ/T 188 addresses
        assert meter in text
    final = text[text.rfind("metergate demo —"):]  # the last frame of the live table
    # the DL/T 645 and CJ/T 188 lines too (one slow DL/T 645 meter may not have answered yet)
    assert final.count("online") >= 16, final
    for meter in ("teaching-floor1", "admin-tap-water", "library-tap-water"):
        assert meter in final
    assert "mqtt: connected" in final
    assert "Traceback" not in out.stderr
