"""`metergate --version` and every command's --help.

Help texts are plain text: brackets such as `[[virtual_meters]]`, `[defaults]` or `NAME[:VARIANT]`
in a docstring or an option's help must reach the screen as written (rich markup would eat them).
"""

from __future__ import annotations

import os
import re
from importlib.metadata import version

import pytest
import typer
from typer.testing import CliRunner

from cli.main import app
from drivers.profiles import BUNDLED_PROFILES

runner = CliRunner()
COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
BRACKETED = re.compile(r"\[+[^\[\]\s]+\]+")


def _flat(text: str) -> str:
    """Help as one line of words: box drawing and line wrapping removed."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def _sources(name: str) -> list[str]:
    """The help texts written for a command (its docstring, every option's help), as written."""
    cmd = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
    texts = [cmd.help or ""] + [getattr(p, "help", None) or "" for p in cmd.params]
    return [t.replace("\\[", "[") for t in texts]


def test_every_command_is_checked() -> None:
    assert {"read", "scan", "probe", "validate", "analyze", "alerts", "run", "watch"} <= set(COMMANDS)
    assert any(BRACKETED.search(t) for t in _sources("analyze"))  # the case the issue found


@pytest.mark.parametrize("name", COMMANDS)
def test_help_shows_brackets_as_written(name: str) -> None:
    result = runner.invoke(app, [name, "--help"], env={**os.environ, "COLUMNS": "200",
                                                       "TERMINAL_WIDTH": "200"})
    assert result.exit_code == 0, result.output
    shown = _flat(result.stdout)
    for text in _sources(name):
        for token in BRACKETED.findall(" ".join(text.split())):
            assert token in shown, f"{name} --help lost {token!r}"


def test_analyze_help_keeps_virtual_meters() -> None:
    result = runner.invoke(app, ["analyze", "--help"])
    assert "[[virtual_meters]]" in _flat(result.stdout)


def test_version_prints_version_and_data_folders(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: object) -> None:
    monkeypatch.setenv("METERGATE_PROFILE_PATH", str(tmp_path))
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"metergate {version('metergate')}"
    text = result.stdout
    assert f"profiles: {BUNDLED_PROFILES}" in text
    assert str(tmp_path) in text  # the folder named in METERGATE_PROFILE_PATH is listed
    assert "/etc/metergate/profiles" in text
    assert re.search(r"factors: +\S+/config/factors", text)
    assert re.search(r"quotas: +\S+/config/quotas", text)
