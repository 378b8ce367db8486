"""`metergate run CONFIG`: the gateway, in the foreground (systemd runs it as a notify service)."""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from core.errors import MetergateError
from site_config import ConfigError, load_site_config

ConfigArg = Annotated[Path, typer.Argument(metavar="CONFIG", help="Site config (TOML).")]
LogLevelOpt = Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")]


def setup_logging(level: str) -> None:
    # under systemd the journal adds the time; elsewhere print it
    fmt = "%(levelname)s %(name)s: %(message)s" if os.environ.get("INVOCATION_ID") else \
        "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=level.upper(), format=fmt, stream=sys.stderr)


def load_or_exit(config: Path):  # type: ignore[no-untyped-def]
    try:
        return load_site_config(config)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def run(config: ConfigArg, log_level: LogLevelOpt = "info") -> None:
    """Run the gateway: poll every meter in CONFIG, commit each reading to the durable outbox,
    publish it over MQTT. Stops cleanly on SIGTERM or Ctrl-C."""
    from gateway.runtime import Gateway

    setup_logging(log_level)
    cfg = load_or_exit(config)
    try:
        gateway = Gateway(cfg)
    except MetergateError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    signal.signal(signal.SIGTERM, lambda *_: gateway.request_stop())
    signal.signal(signal.SIGINT, lambda *_: gateway.request_stop())
    gateway.start()
    gateway.run_forever()
