"""How a report prints a number: the same format strings for HTML and PDF (the workbook keeps full
values and only these display formats). No data is "—", never 0."""

from __future__ import annotations

MISSING = "—"
# indicator name -> format; amounts (kWh, m³) and shares have their own
FORMATS = {"kgce_per_m2": ".2f", "kgce_per_person": ".2f", "water_m3_per_person": ".2f",
           "kgco2_per_m2": ".2f", "heating_kgce_per_m2": ".2f", "energy_kgce": ",.0f", "co2_kg": ",.0f"}
AMOUNT = ",.1f"
CHANGE = "+.2%"
SHARE = ".1%"


def fmt(value: float | None, spec: str = AMOUNT) -> str:
    return MISSING if value is None else format(value, spec)


def indicator(name: str, value: float | None) -> str:
    return fmt(value, FORMATS.get(name, ".2f"))


def coverage(value: float | None) -> str:
    """Rounded down: 99.6 % of a year's readings is not "100 %"."""
    return MISSING if value is None else f"{int(value * 1000) / 10:.1f}%"


__all__ = ["AMOUNT", "CHANGE", "FORMATS", "MISSING", "SHARE", "coverage", "fmt", "indicator"]
