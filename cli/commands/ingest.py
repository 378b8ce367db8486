"""`metergate ingest CONFIG`: MQTT readings -> InfluxDB, in the foreground (systemd runs it).

Thin: load the ingest config (services.ingest.config), run services.ingest.service until SIGTERM or
Ctrl-C. `--check` only loads and checks the config: exit 0 when usable, 2 with every problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.commands.run import LogLevelOpt, config_or_exit, setup_logging, stop_on_signals

ConfigArg = Annotated[Path, typer.Argument(metavar="CONFIG", help="Ingest config (TOML).")]
CheckOpt = Annotated[bool, typer.Option("--check", help="Only check the config, then exit.")]


def ingest(config: ConfigArg, check: CheckOpt = False, log_level: LogLevelOpt = "info") -> None:
    """Write the readings of every gateway from MQTT to InfluxDB (v2 or v1 write API) or
    VictoriaMetrics, as a member of a shared subscription, acknowledging each message only after
    its points are written; refused messages go to the dead-letter topic. Stops on SIGTERM or
    Ctrl-C. Exit code 2: the config has problems (each printed with file:line: key).

    Example: metergate ingest /etc/metergate/ingest.toml
    """
    from services.ingest.config import IngestConfigError, load_ingest_config

    setup_logging(log_level)
    cfg = config_or_exit(lambda: load_ingest_config(config, require_env_secrets=not check),
                         IngestConfigError)
    for warning in cfg.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if check:
        typer.echo(f"{config}: ok: {cfg.mqtt.subscription} on {cfg.mqtt.endpoint} as "
                   f"{cfg.mqtt.client_id!r} -> {cfg.influx.describe()}; dead letters to "
                   f"{cfg.dead_letter_topic}")
        return
    from services.ingest.service import IngestService, StartError

    try:
        service = IngestService(cfg)
        stop_on_signals(service.stop)
        service.start()
    except StartError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    service.wait()
