"""`metergate run CONFIG`: the gateway, in the foreground (systemd runs it as a notify service)."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from core.errors import MetergateError
from core.forked_load import load_in_child
from site_config import ConfigError, SiteConfig

T = TypeVar("T")

ConfigArg = Annotated[Path, typer.Argument(metavar="CONFIG", help="Site config (TOML).")]
LogLevelOpt = Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")]


def setup_logging(level: str) -> None:
    # under systemd the journal adds the time; elsewhere print it
    fmt = "%(levelname)s %(name)s: %(message)s" if os.environ.get("INVOCATION_ID") else \
        "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=level.upper(), format=fmt, stream=sys.stderr)


def config_or_exit(load: Callable[[], T], errors: type[Exception]) -> T:
    """load(), or its error printed (each problem with file:line: key) and exit code 2."""
    try:
        return load()
    except errors as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def load_or_exit(config: Path) -> SiteConfig:
    """The site config for a long-running gateway, loaded in a child process so that the
    loading's peak memory is not kept (core.forked_load)."""
    return config_or_exit(lambda: load_in_child(lambda: _load(config)), ConfigError)


def _load(config: Path) -> SiteConfig:
    from site_config import load_site_config  # in the child only: the loader stays out of memory

    return load_site_config(config)


def stop_on_signals(stop: Callable[[], object]) -> None:
    """SIGTERM (systemd) and Ctrl-C both stop the service cleanly."""
    signal.signal(signal.SIGTERM, lambda *_: stop())
    signal.signal(signal.SIGINT, lambda *_: stop())


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
    stop_on_signals(gateway.request_stop)
    gateway.start()
    gateway.run_forever()
