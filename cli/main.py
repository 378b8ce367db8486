"""The `metergate` command. Thin: parse arguments, call into the packages, print.

Each sub-command lives in cli/commands/<name>.py; this module only assembles them. `metergate CMD`
imports only CMD's module: a gateway (`metergate run`) does not carry the commissioning tools, the
simulators or the analytics in memory (issue 17). `app` (all commands, for --help and the tests)
is built when first asked for.
"""

from __future__ import annotations

import importlib
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

# command -> (module in cli/commands, function)
COMMANDS: dict[str, tuple[str, str]] = {
    "read": ("commissioning", "read"),
    "scan": ("commissioning", "scan"),
    "probe": ("commissioning", "probe"),
    "simulate": ("simulate", "simulate"),
    "validate": ("validate", "validate"),
    "run": ("run", "run"),
    "watch": ("watch", "watch"),
    "demo": ("demo", "demo"),
    "analyze": ("analyze", "analyze"),
    "alerts": ("alerts", "alerts"),
    "report": ("report", "report"),
    "export": ("export", "export"),
    "analytics": ("analytics_service", "analytics"),
    "ingest": ("ingest", "ingest"),
    "web-user": ("web_user", "web_user"),
    "doctor": ("doctor", "doctor"),
}


class PlainHelpCommand(TyperCommand):
    """Help texts are plain text, not rich markup: `[[virtual_meters]]` or `[defaults]` in a
    docstring or an option's help are shown as written instead of being taken for style tags.

    Escaped when first read (only help output reads them): rich, which escapes, costs 2 MB that a
    running gateway does not need."""

    _raw_help: str | None = None
    _escaped = False

    @property  # type: ignore[override]
    def help(self) -> str | None:
        if not self._escaped:
            from rich.markup import escape

            self._escaped = True
            self._raw_help = escape(self._raw_help) if self._raw_help else self._raw_help
            for param in self.params:
                text = getattr(param, "help", None)
                if text:
                    param.help = escape(text)  # type: ignore[attr-defined]
        return self._raw_help

    @help.setter
    def help(self, text: str | None) -> None:
        self._raw_help, self._escaped = text, False


def data_folders() -> dict[str, list[str]]:
    """The data folders in use: profiles (search path, lowest precedence first), factors, quotas."""
    from analytics.factors import FACTORS_DIR
    from analytics.quotas import QUOTAS_DIR
    from drivers.profiles import profile_dirs

    return {"profiles": [str(d) for d in profile_dirs()], "factors": [str(FACTORS_DIR)],
            "quotas": [str(QUOTAS_DIR)]}


def _version(value: bool) -> None:
    if not value:
        return
    try:
        own = version("metergate")
    except PackageNotFoundError:  # run from a source tree that was never installed
        own = "unknown (not installed)"
    from pathlib import Path

    typer.echo(f"metergate {own}")
    for kind, folders in data_folders().items():
        for i, folder in enumerate(folders):
            state = "" if Path(folder).is_dir() else "  (absent)"
            label = f"{kind}:" if i == 0 else ""
            typer.echo(f"  {label:<10}{folder}{state}")
    typer.echo("  (profiles: later folders override earlier ones by file name; add folders with "
               "METERGATE_PROFILE_PATH)")
    raise typer.Exit()


def _main(version_: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_version,
        help="Print the version and the data folders in use (profiles, factors, quotas), "
             "then exit.")] = False) -> None:
    """Sub-metering gateway: find and read Modbus meters, simulate them, publish their readings."""


def build_app(names: list[str] | None = None) -> typer.Typer:
    """The command with the sub-commands `names` (default: all). The callback keeps even a single
    sub-command a sub-command: `metergate run CONFIG`, not `metergate CONFIG`."""
    built = typer.Typer(
        name="metergate",
        help="Sub-metering gateway: find and read Modbus meters, simulate them, publish their "
             "readings.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    built.callback()(_main)
    for name in COMMANDS if names is None else names:
        module, function = COMMANDS[name]
        fn = getattr(importlib.import_module(f"cli.commands.{module}"), function)
        built.command(name, help=fn.__doc__, cls=PlainHelpCommand)(fn)
    return built


def __getattr__(name: str) -> Any:
    if name == "app":  # every command, built once when first asked for (tests, --help)
        built = globals()["app"] = build_app()
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _command_asked(args: list[str]) -> str | None:
    """The sub-command on the command line, if it is one we have (else all are built, so that
    --help lists them and a typo gets click's "No such command" with the list)."""
    first = next((a for a in args if not a.startswith("-")), None)
    return first if first in COMMANDS else None


def main() -> None:
    asked = _command_asked(sys.argv[1:])
    build_app(None if asked is None else [asked])()


if __name__ == "__main__":
    main()
