"""docs/profiles.md, "DL/T 645 and CJ/T 188 profiles": the worked example's profile loads from a
profile folder's dlt645/ sub-folder, decodes the published capture the text walks through to the
value it states (100.1 V), writes the published request byte for byte, and `probe` as written reads
a meter through it."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from drivers.di_profiles import resolve_di_variant
from drivers.dlt645 import frame as dlt
from simulators.di_meter import DiMeter
from simulators.frame_sim import FrameSimulator

DOC = Path(__file__).resolve().parents[2] / "docs" / "profiles.md"
# quoted in the doc; the source is tests/drivers/fixtures/published_frames/dlt645.toml
REQUEST = "68 61 01 00 00 00 00 68 11 04 33 34 34 35 17 16"
REPLY = "68 61 01 00 00 00 00 68 91 06 33 34 34 35 34 43 10 16"


def _section() -> str:
    text = DOC.read_text(encoding="utf-8")
    return text[text.index("## DL/T 645 and CJ/T 188 profiles"):]


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (toml,) = re.findall(r"```toml\n(.*?)```", _section(), flags=re.S)
    (tmp_path / "dlt645").mkdir()
    (tmp_path / "dlt645" / "example-1p.toml").write_text(toml, encoding="utf-8")
    monkeypatch.setenv("METERGATE_PROFILE_PATH", str(tmp_path))
    return tmp_path


def test_the_example_decodes_the_published_capture(folder: Path) -> None:
    section = " ".join(_section().split())
    assert REQUEST in section and REPLY in section and "100.1 V" in section
    variant = resolve_di_variant("example-1p", "dlt645", [folder])
    volts = variant.point("voltage_l1")
    (reply,), _ = dlt.frames_in(bytes.fromhex(REPLY))
    value, why = volts.decode(reply.data[4:])
    assert (value, why) == (pytest.approx(100.1), "")
    request = dlt.read_request(dlt.address_bytes("000000000161"), volts.di)
    assert request.lstrip(b"\xfe") == bytes.fromhex(REQUEST)


def test_probe_as_written_reads_a_meter_through_it(folder: Path) -> None:
    (command,) = [c for c in re.findall(r"```sh\n(.*?)```", _section(), flags=re.S)]
    variant = resolve_di_variant("example-1p", "dlt645", [folder])
    meter = DiMeter(variant, "000000000161")
    meter.set("voltage_l1", 100.1)
    sim = FrameSimulator("dlt645", [meter])
    sim.add_pty()
    with sim:
        argv = shlex.split(command.replace("/dev/ttyUSB0", sim.pty_endpoint.device))[1:]
        result = CliRunner().invoke(app, [*argv, "--json"])
    assert result.exit_code == 0, result.output
    points = {p["quantity"]: p for p in json.loads(result.output)["points"]}
    assert points["voltage_l1"]["value"] == pytest.approx(100.1)
    assert set(points) == {"energy_active_import", "voltage_l1", "current_l1"}
