"""The analytics service's scheduled report rendered by `metergate report`'s own code.

`metergate analytics` hands `render_scheduled` to the service (services may not import `reports` or
the CLI): the readings come from the service's archive instead of a file, everything else is
`metergate report --from READINGS --config SITE --period YYYY-MM --interval I [--reduction R]
[--standard S ...] [--no-alerts]` with its defaults, so both give the same numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from metergate_data import bundled

from cli.commands.analyze import Fail, load_inputs
from cli.commands.report import model_of, write_report

if TYPE_CHECKING:
    from analytics.readings_io import Readings
    from services.analytics.report_runner import RenderJob


def render_scheduled(job: RenderJob, readings: Readings) -> None:
    """Every output of `job`; EmptyPeriod for a month without readings, RuntimeError for any other
    problem (with `metergate report`'s message)."""
    from reports.period import parse_period
    from services.analytics.report_runner import EmptyPeriod

    try:
        inputs = load_inputs(None, job.site.path, "calorific", None, None, bundled("factors"),
                             readings=readings, readings_name=f"the readings of site {job.site.site.id}")
        model = model_of(inputs, parse_period(job.period), job.institution, job.reduction,
                         list(job.standards) if job.standards else None, job.alerts, job.interval_s,
                         progress=False)
        for fmt, path in job.outputs.items():
            write_report(fmt, path, job.lang, model)
    except Fail as exc:
        if exc.code == 1:  # analyze's and report's "no readings in the period"
            raise EmptyPeriod(str(exc)) from None
        raise RuntimeError(str(exc)) from None


__all__ = ["render_scheduled"]
