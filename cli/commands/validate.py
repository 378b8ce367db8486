"""`metergate validate CONFIG`: check a site config and show what it asks of each bus.

Thin: load with site_config, print a rich table (or JSON), exit 0 when the config can be used and
2 with every problem when it cannot.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from drivers.profiles import PointOverride
from site_config import ConfigError, Problem, load_site_config
from site_config.summary import BusSummary, SiteSummary, summarise

VERDICT_STYLE = {"ok": "green", "high": "yellow", "over": "bold red", "unknown": "dim"}


def validate(
    config: Annotated[Path, typer.Argument(metavar="CONFIG", help="Site config file (TOML).")],
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print JSON for programs instead of a table.")] = False,
) -> None:
    """Check a site config: every problem at once with file, line and key; else a summary per bus.

    The summary shows each bus's meters, poll groups, Modbus requests (planned from the profiles)
    and, for RS-485 lines, the share of line time the polling needs; above 70 % and above 100 % are
    warned about. An environment variable holding a secret that is unset here is a warning (the
    service may have it). Exit code 0: usable; 2: problems.

    Example: metergate validate /etc/metergate/site.toml
    """
    try:
        site = load_site_config(config, require_env_secrets=False)
    except ConfigError as exc:
        if json_out:
            _emit({"ok": False, "file": exc.path, "errors": [p.as_dict() for p in exc.problems],
                   "warnings": [p.as_dict() for p in exc.warnings]})
        else:
            _print_failure(exc)
        raise typer.Exit(2) from None
    summary = summarise(site)
    warnings = list(site.warnings)
    overrides = {m.id: {name: _override_dict(o) for name, o in m.overrides}
                 for m in site.meters if m.overrides}
    if json_out:
        _emit({"ok": True, "file": str(config), "summary": summary.as_dict(),
               "overrides": overrides,
               "warnings": [p.as_dict() for p in warnings],
               "bus_warnings": [b.advice() for b in summary.buses if b.advice()]})
        return
    _print_summary(str(config), summary, warnings)
    out = _console()
    for meter_id, items in overrides.items():
        shown = "; ".join(f"{name}: " + ", ".join(f"{k} = {v!r}" if isinstance(v, str) else
                                                  f"{k} = {v:g}" for k, v in o.items())
                          for name, o in items.items())
        out.print(f"meter {meter_id} decodes differently from its profile (overrides): {shown}")


def _override_dict(o: PointOverride) -> dict[str, object]:
    return {k: v for k, v in (("order", o.order.value if o.order else None), ("scale", o.scale),
                              ("offset", o.offset)) if v is not None}


def _print_failure(exc: ConfigError) -> None:
    err = _console(stderr=True)
    for p in exc.problems:
        err.print(Text(f"error: {p}", style="red"))
    _print_warnings(err, exc.warnings)
    err.print(f"{exc.path}: {len(exc.problems)} problem(s); fix them and run validate again")


def _print_summary(file: str, s: SiteSummary, warnings: list[Problem]) -> None:
    out = _console()
    out.print(Text(f"ok: {file}", style="green"), end="")
    out.print(f" — site {s.site}, gateway {s.gateway_id}: {s.buildings} building(s), "
              f"{len(s.buses)} bus(es), {s.meters} meter(s), {s.poll_groups} poll group(s); "
              f"MQTT {s.mqtt or 'off (readings stay in the local outbox)'}; outbox {s.outbox}")
    table = Table("bus", "type", "endpoint", "meters", "groups", "requests", "req/s", "airtime",
                  "timeout", "pause", title="load per bus (requests: one poll of every group)")
    for b in s.buses:
        table.add_row(b.id, b.type, b.endpoint, str(b.meters), str(b.poll_groups), str(b.requests),
                      f"{b.requests_per_s:.2f}", _airtime(b), f"{b.timeout_ms:g} ms",
                      f"{b.pause_ms:g} ms")
    out.print(table)
    for b in s.buses:
        if b.advice():
            out.print(Text(f"warning: {b.advice()}",
                           style=VERDICT_STYLE[b.verdict]))
    _print_warnings(out, warnings)


def _airtime(b: BusSummary) -> Text:
    if b.utilisation is None:
        return Text("-", style=VERDICT_STYLE["unknown"])
    return Text(f"{b.utilisation:.1%}", style=VERDICT_STYLE[b.verdict])


def _print_warnings(console: Console, warnings: list[Problem]) -> None:
    for p in warnings:
        console.print(Text(f"warning: {p}", style="yellow"))


def _console(*, stderr: bool = False) -> Console:
    """Markup off (config text holds brackets such as [[meters]]); 160 wide when not a terminal."""
    console = Console(stderr=stderr, markup=False, highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console = Console(stderr=stderr, markup=False, highlight=False, soft_wrap=True, width=160)
    return console


def _emit(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


__all__ = ["validate"]
