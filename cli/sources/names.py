"""What is read from a store: the measurements of the quantity vocabulary (docs/quantities.md), so
aggregates the analytics service writes to the same database (energy_interval, …) are never taken
for readings."""

from __future__ import annotations

from core.quantities import QUANTITIES


def quantity_pattern() -> str:
    """A regular expression matching exactly the quantity names (they are [a-z][a-z0-9_]*)."""
    return "(" + "|".join(sorted(QUANTITIES)) + ")"


def quoted(text: str, quote: str) -> str:
    """A string literal for a query language that escapes with backslashes (MetricsQL, InfluxQL, Flux)."""
    return quote + text.replace("\\", "\\\\").replace(quote, "\\" + quote) + quote


__all__ = ["quantity_pattern", "quoted"]
