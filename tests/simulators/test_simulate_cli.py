"""`metergate simulate` as a subprocess: JSON facts, served meters, faults, clean exit, bad options."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from core.reading import Quality
from drivers.errors import ModbusTimeout
from drivers.profiles import resolve_variant
from drivers.pymodbus_adapter import ModbusConnection
from drivers.reader import MeterReader
from drivers.transport import SerialEndpoint, TcpEndpoint

ROOT = Path(__file__).resolve().parents[2]
START = "2024-03-12T10:00:00"


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli.main", "simulate", *args]


@contextmanager
def _simulate(*args: str) -> Iterator[dict[str, Any]]:
    proc = subprocess.Popen(_command("--json", *args), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "no JSON line within 30 s"
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        yield json.loads(line)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0, proc.stderr.read()


def test_simulate_serves_what_it_prints() -> None:
    with _simulate("--meter", "1=chint-dtsu666", "--meter", "2=tuf-2000m",
                   "--meter", "4=chint-dtsu666:huawei,order=CDAB,shift=1",
                   "--tcp", "127.0.0.1:0", "--rtu", "--rtu-over-tcp", "127.0.0.1:0",
                   "--seed", "42", "--fault", "2:no_answer", "--start", START) as facts:
        assert [(m["unit"], m["profile"], m["kind"]) for m in facts["meters"]] == [
            (1, "chint-dtsu666:native", "electricity"), (2, "tuf-2000m:default", "water"),
            (4, "chint-dtsu666:huawei", "electricity")]
        assert facts["meters"][2]["options"] == {"order": "CDAB", "address_shift": 1}
        assert facts["faults"] == [{"unit": 2, "fault": "no_answer"}]
        by_kind = {t["transport"]: t for t in facts["transports"]}
        assert set(by_kind) == {"tcp", "rtu", "rtu-over-tcp"}
        tcp = TcpEndpoint("127.0.0.1", by_kind["tcp"]["port"])
        dtsu = resolve_variant("chint-dtsu666")
        with ModbusConnection(tcp, timeout=0.3) as conn:
            readings = MeterReader(conn, dtsu, 1).read()
            assert all(r.quality is Quality.OK for r in readings)
            with pytest.raises(ModbusTimeout):
                conn.read_registers(2, 3, 0, 2)
            shifted = conn.read_registers(4, 3, 0x2007, 2)  # huawei voltage_l1, moved by one
            volts = resolve_variant("chint-dtsu666:huawei").point("voltage_l1").codec.decode(
                shifted[::-1])  # served CDAB instead of ABCD
            assert volts is not None and 100 < volts < 400
        rtu = by_kind["rtu"]
        assert os.path.exists(rtu["open"]) and rtu["line"] == "9600 8N1"  # most meters
        with ModbusConnection(SerialEndpoint(rtu["open"]), timeout=0.5) as conn:
            assert conn.read_registers(1, 3, 6, 1) == [1]  # ct_ratio


def test_same_seed_same_values() -> None:
    def snapshot() -> list[int]:
        with _simulate("--seed", "7", "--start", START, "--speed", "0.001",
                       "--tcp", "127.0.0.1:0") as facts:
            port = facts["transports"][0]["port"]
            with ModbusConnection(TcpEndpoint("127.0.0.1", port), timeout=0.5) as conn:
                return conn.read_registers(1, 3, 0x2000, 0x46)

    assert snapshot() == snapshot()


def test_duration_ends_the_run_and_tables_by_default() -> None:
    t0 = time.monotonic()
    proc = subprocess.run(_command("--tcp", "127.0.0.1:0", "--duration", "0.5"), cwd=ROOT,
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "chint-dtsu666:native" in proc.stdout and "127.0.0.1:" in proc.stdout
    assert time.monotonic() - t0 < 20


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--meter", "1=no-such-meter"], ["--meter", "no profile named 'no-such-meter'"]),
        (["--meter", "1=chint-dtsu666:nope"], ["--meter", "variants: native, huawei, sungrow"]),
        (["--meter", "chint-dtsu666"], ["--meter", "UNIT=PROFILE"]),
        (["--meter", "1=chint-dtsu666,colour=red"], ["--meter", "order, shift"]),
        (["--fault", "1:explode"], ["--fault", "no_answer, offline, late"]),
        (["--fault", "1:late:dealy=2"], ["--fault", "delay"]),
        (["--fault", "9:no_answer"], ["--fault", "no meter with unit id 9"]),
        (["--fault", "1:leak"], ["--fault", "water meter"]),
        (["--start", "yesterday"], ["--start", "ISO date"]),
    ],
)
def test_bad_options_exit_2_naming_the_option(args: list[str], words: list[str]) -> None:
    proc = subprocess.run(_command(*args, "--duration", "0"), cwd=ROOT, capture_output=True,
                          text=True, timeout=30, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    text = " ".join(proc.stderr.split())
    for w in words:
        assert w in text, text


def test_address_in_use_exits_2() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(_command("--tcp", f"127.0.0.1:{port}", "--duration", "0"), cwd=ROOT,
                              capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 2
    assert "--tcp" in proc.stderr and "in use" in proc.stderr
