"""`metergate doctor CONFIG`: check the box the gateway runs on; thin: gateway.doctor does the checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from site_config import ConfigError, load_site_config

STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}


def doctor(
    config: Annotated[Path, typer.Argument(metavar="CONFIG", help="Site config file (TOML).")] = Path(
        "/etc/metergate/site.toml"),
    user: Annotated[str, typer.Option(
        "--user", help="The account the gateway service runs as (serial port permissions).")] = "metergate",
    days: Annotated[float, typer.Option(
        "--days", min=0.1, help="Days of readings the outbox must be able to hold in an outage.")] = 30.0,
    timeout: Annotated[float, typer.Option(
        "--timeout", min=0.1, help="Seconds to wait for the broker and each Modbus TCP device.")] = 5.0,
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print JSON for programs instead of a table.")] = False,
) -> None:
    """Check what a technician gets wrong on a gateway box, each with the fix.

    Serial ports (they exist; the service user may open them, e.g. through the dialout group),
    Modbus TCP devices reachable, the MQTT broker (a real connection with the configured TLS and
    credentials, under its own client id), the outbox (folder writable; free space and budget for
    --days at the configured polls), the clock (the kernel says it is synchronised: readings need
    true time) and the metergate systemd units. Exit code 0: nothing failed (warnings allowed);
    1: a check failed; 2: the config cannot be read.

    Example: sudo metergate doctor /etc/metergate/site.toml
    """
    from gateway.doctor import run_checks

    try:
        site = load_site_config(config, require_env_secrets=False)
    except ConfigError as exc:
        typer.echo(f"{config}: the site config has problems; run metergate validate {config}", err=True)
        for problem in exc.problems:
            typer.echo(f"  {problem}", err=True)
        raise typer.Exit(2) from None
    checks = run_checks(site, user=user, days=days, timeout=timeout)
    failed = any(c.status == "fail" for c in checks)
    if json_out:
        typer.echo(json.dumps({"ok": not failed, "config": str(config),
                               "checks": [c.as_dict() for c in checks]}, ensure_ascii=False))
    else:
        table = Table(title=f"metergate doctor — {config}", show_lines=False)
        for name in ("check", "subject", "status", "what was found / the fix"):
            table.add_column(name, overflow="fold")
        for c in checks:
            said = Text(c.message)
            if c.fix:
                said.append(f"\nfix: {c.fix}", style="cyan")
            table.add_row(c.area, c.subject, Text(c.status, style=STYLE[c.status]), said)
        Console().print(table)
    raise typer.Exit(1 if failed else 0)
