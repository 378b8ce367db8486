"""`metergate analytics CONFIG`: the analytics service in the foreground (systemd runs it).

Thin: load the analytics config (services.analytics.config), run services.analytics.service until SIGTERM or
Ctrl-C. `--check` only loads and checks the config: exit 0 when usable, 2 with every problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.commands.run import LogLevelOpt, config_or_exit, setup_logging, stop_on_signals

ConfigArg = Annotated[Path, typer.Argument(metavar="CONFIG", help="Analytics config (TOML).")]
CheckOpt = Annotated[bool, typer.Option("--check", help="Only check the config, then exit.")]


def analytics(config: ConfigArg, check: CheckOpt = False, log_level: LogLevelOpt = "info") -> None:
    """Readings from MQTT (shared subscription) into per-meter buffers; interval aggregates, daily
    indicators and quota status to InfluxDB; alerts (quotas and anomaly detectors) raised, updated
    and cleared as retained MQTT messages, acknowledged through the ack topic, kept in the local
    alert store. Stops on SIGTERM or Ctrl-C. Exit code 2: the config has
    problems (each printed with file:line: key).

    Example: metergate analytics /etc/metergate/analytics.toml
    """
    from services.analytics.config import AnalyticsConfigError, load_analytics_config

    setup_logging(log_level)
    cfg = config_or_exit(lambda: load_analytics_config(config, require_secrets=not check),
                         AnalyticsConfigError)
    if check:
        typer.echo(f"{config}: ok: site(s) {', '.join(s.site.id for s in cfg.sites)}; MQTT "
                   f"{cfg.mqtt.host}, share group {cfg.mqtt.share_group!r}; store {cfg.store_path}; "
                   f"{cfg.influx.describe() if cfg.influx else 'no InfluxDB'}; "
                   + (f"notifications: {len(cfg.notify.channels)} channel(s), {len(cfg.notify.routes)} "
                      "route(s)" if cfg.notify else "no notifications")
                   + (f"; dashboard on {cfg.web.url}" if cfg.web else "")
                   + (f"; monthly reports to {cfg.report.folder}" if cfg.report else ""))
        return
    from services.analytics.service import AnalyticsService

    renderer = None
    if cfg.report is not None:  # metergate report's own code renders the scheduled reports
        from cli.commands.report_render import render_scheduled

        renderer = render_scheduled
    service = AnalyticsService(cfg, report_renderer=renderer)
    stop_on_signals(service.stop)
    service.run()
    if service.failed is not None:  # a store error: exit non-zero so systemd restarts us
        typer.echo(f"analytics stopped: {service.failed}", err=True)
        raise typer.Exit(1)
