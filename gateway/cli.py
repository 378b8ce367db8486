"""The `metergate` command. Thin: parse arguments, call into the packages, print.

Each sub-command lives in gateway/commands/<name>.py; this module only assembles them.
"""

from __future__ import annotations

import typer

from gateway.commands import (
    alerts,
    analytics_service,
    analyze,
    commissioning,
    demo,
    ingest,
    run,
    simulate,
    validate,
    watch,
)

app = typer.Typer(
    name="metergate",
    help="Sub-metering gateway: find and read Modbus meters, simulate them, publish their readings.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.command("read", help=commissioning.read.__doc__)(commissioning.read)
app.command("scan", help=commissioning.scan.__doc__)(commissioning.scan)
app.command("probe", help=commissioning.probe.__doc__)(commissioning.probe)
app.command("simulate", help=simulate.simulate.__doc__)(simulate.simulate)
app.command("validate", help=validate.validate.__doc__)(validate.validate)
app.command("run", help=run.run.__doc__)(run.run)
app.command("watch", help=watch.watch.__doc__)(watch.watch)
app.command("demo", help=demo.demo.__doc__)(demo.demo)
app.command("analyze", help=analyze.analyze.__doc__)(analyze.analyze)
app.command("alerts", help=alerts.alerts.__doc__)(alerts.alerts)
app.command("analytics", help=analytics_service.analytics.__doc__)(analytics_service.analytics)
app.command("ingest", help=ingest.ingest.__doc__)(ingest.ingest)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
