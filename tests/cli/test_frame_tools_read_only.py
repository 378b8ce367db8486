"""Read-only: every request the DL/T 645 and CJ/T 188 tools and the gateway's reader put on the
wire is a read (DL/T 645 0x11 / 0x12 / 0x13, CJ/T 188 0x01 / 0x03) — no write, time-set, freeze,
valve or baud command. Checked on the bytes sent, through the commands a technician runs."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cli.main import app
from drivers.cjt188 import frame as cjt
from drivers.di_profiles import resolve_di_variant
from drivers.dlt645 import frame as dlt
from drivers.frame_connection import FrameConnection
from simulators.di_meter import DiMeter
from simulators.frame_sim import FrameSimulator

CASES = {
    "dlt645": ("dlt645-2007", "000012345678", dlt, "02010100"),
    "cjt188": ("cjt188-heat", "12345678901234", cjt, "901F"),
}


@pytest.mark.parametrize("protocol", sorted(CASES))
def test_only_read_requests_go_out(protocol: str, monkeypatch: pytest.MonkeyPatch) -> None:
    profile, address, codec, di = CASES[protocol]
    sent: list[bytes] = []
    ask = FrameConnection.ask

    def recording(self: FrameConnection, request: bytes, expect: object) -> object:
        sent.append(request)
        return ask(self, request, expect)  # type: ignore[arg-type]

    monkeypatch.setattr(FrameConnection, "ask", recording)
    sim = FrameSimulator(protocol, [DiMeter(resolve_di_variant(profile, protocol), address)])
    sim.add_pty()
    with sim:
        line = ["--serial", sim.pty_endpoint.device, "--protocol", protocol]
        for argv in (["scan", *line], ["probe", *line, "--address", address, "--profile", profile],
                     ["read", *line, "--address", address, "--di", di]):
            result = CliRunner().invoke(app, argv)
            assert result.exit_code == 0, result.output
    frames = [f for request in sent for f in codec.frames_in(request)[0]]
    assert len(frames) == len(sent) >= 3
    assert {f.control for f in frames} <= codec.READ_ONLY
