"""A running gateway keeps out of memory what it does not use (issue 17): `metergate run` imports
only its own command module, not the site config's validator or the profiles' schema, and loads the
config in a child process (core.forked_load)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.forked_load import load_in_child
from site_config import ConfigError, load_site_config
from tests.e2e.site import site_toml

REPO = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys
from cli import main as cli_main
cli_main.build_app(["run"])
from cli.commands.run import load_or_exit
import gateway.runtime
config = load_or_exit(__import__("pathlib").Path(sys.argv[1]))
print(json.dumps({"meters": len(config.meters), "modules": sorted(sys.modules)}))
"""


def _site(tmp_path: Path) -> Path:
    return site_toml(tmp_path, tcp_port=1502, units=range(1, 6), mqtt_port=1883)


def test_the_gateway_path_leaves_loader_schemas_and_other_commands_out(tmp_path: Path) -> None:
    site = _site(tmp_path)
    out = subprocess.run([sys.executable, "-c", PROBE, str(site)], capture_output=True,
                         text=True, cwd=REPO, timeout=120, check=True)
    found = json.loads(out.stdout.splitlines()[-1])
    assert found["meters"] == len(load_site_config(site).meters) == 5
    modules = set(found["modules"])
    for absent in ("site_config.load", "site_config.schema", "drivers.profile_schema",
                   "drivers.di_profile_schema", "core.mqtt_config", "core.toml_file",
                   "cli.commands.commissioning", "cli.commands.simulate", "simulators.physics",
                   "numpy", "jsonschema", "reports", "jinja2", "matplotlib", "weasyprint", "openpyxl",
                   "rich", "prometheus_client"):
        assert absent not in modules, absent
    assert "gateway.runtime" in modules and "cli.commands.run" in modules


INVOKE = """
import json, sys
from cli import main as cli_main
sys.argv = ["metergate", "run", sys.argv[1]]
try:
    cli_main.main()
except SystemExit as stop:
    print(json.dumps({"code": stop.code, "modules": sorted(sys.modules)}))
"""


def test_the_command_line_of_run_does_not_load_rich(tmp_path: Path) -> None:
    """Typer parses `metergate run`'s options without the help texts; they are escaped for rich only
    when help is shown (cli.main.PlainHelpCommand), so rich stays out of a running gateway."""
    out = subprocess.run([sys.executable, "-c", INVOKE, str(tmp_path / "missing.toml")], capture_output=True,
                         text=True, cwd=REPO, timeout=120, check=True)
    found = json.loads(out.stdout.splitlines()[-1])
    assert found["code"] == 2 and "cli.commands.run" in found["modules"]
    assert "rich" not in found["modules"]


def test_a_load_in_a_child_gives_the_same_config(tmp_path: Path) -> None:
    site = _site(tmp_path)
    assert load_in_child(lambda: load_site_config(site)) == load_site_config(site)


def test_an_error_in_the_child_is_raised_here_as_the_loader_raises_it(tmp_path: Path) -> None:
    bad = tmp_path / "site.toml"
    bad.write_text('[site]\nid = "Not An Id"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as here:
        load_site_config(bad)
    with pytest.raises(ConfigError) as child:
        load_in_child(lambda: load_site_config(bad))
    assert str(child.value) == str(here.value) and child.value.problems == here.value.problems


def test_a_result_that_does_not_pickle_is_loaded_here() -> None:
    pids: list[int] = []

    def load() -> object:
        pids.append(os.getpid())
        return lambda: "not picklable"  # a lambda cannot cross the pipe

    result = load_in_child(load)
    assert callable(result) and result() == "not picklable"
    assert pids == [os.getpid()]  # the child's attempt ran in the child; this one here
