"""`metergate demo`: simulated campus + the real gateway, shown live."""

from __future__ import annotations

import shutil
from typing import Annotated

import typer
from rich.console import Console

DurationOpt = Annotated[float | None, typer.Option(
    "--duration", min=0, help="Stop after this many seconds (default: until Ctrl-C).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Simulation seed (same seed, same values).")]
KeepOpt = Annotated[bool, typer.Option("--keep-files", help="Keep the temporary folder (site "
                                       "config, outbox) for a look afterwards.")]
TourOpt = Annotated[bool, typer.Option("--commissioning", help="Instead: a technician's first hour "
                                       "on simulated meters (scan, probe, --guess, read).")]


def demo(duration: DurationOpt = None, seed: SeedOpt = 7, keep_files: KeepOpt = False,
         commissioning: TourOpt = False) -> None:
    """Start simulated meters for a small campus (3 buildings, 13 meters on two RS-485 lines and
    Modbus TCP), run the gateway on them and show it live. With mosquitto on PATH a private broker
    is started on a free loopback port and the gateway publishes to it."""
    from cli.commands.watch import run_view
    from gateway.demo import DemoCampus, temporary_folder
    from gateway.runtime import Gateway, RuntimeOptions
    from site_config import load_site_config

    if commissioning:
        from gateway.demo_foundation import main

        raise typer.Exit(main(["--seed", str(seed)]))
    console = Console()
    folder = temporary_folder()
    campus = DemoCampus(folder, seed=seed)
    try:
        site = campus.start()
        for bus, sim in campus.simulators.items():
            console.print(f"simulated [bold]{bus}[/]: {sim.endpoints[0]}")
        if campus.broker_port is not None:
            console.print(f"MQTT broker (mosquitto) on 127.0.0.1:{campus.broker_port}; watch it "
                          f"with: mosquitto_sub -p {campus.broker_port} -t 'metergate/#' -v")
        else:
            console.print("[yellow]mosquitto is not on PATH: no broker, readings stay in the "
                          "local outbox (apt-get install mosquitto to see MQTT too)[/]")
        console.print(f"site config: {site}")
        cfg = load_site_config(site)
        gateway = Gateway(cfg, RuntimeOptions(serve_metrics=False, command="demo"))
        run_view(gateway, console, duration=duration,
                 title=f"metergate demo — {len(cfg.meters)} simulated meters in 3 buildings "
                       "(Ctrl-C to stop)")
    finally:
        campus.stop()
        if keep_files:
            console.print(f"files kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
