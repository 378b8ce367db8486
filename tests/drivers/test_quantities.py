from __future__ import annotations

from pathlib import Path

from core.quantities import QUANTITIES, UNIT_FACTORS, Kind, unit_factor, vocabulary_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "quantities.md"


def test_docs_match_the_vocabulary() -> None:
    assert DOC.read_text(encoding="utf-8") == vocabulary_markdown(), (
        "regenerate with: python -m core.quantities > docs/quantities.md")


def test_every_quantity_has_convertible_units() -> None:
    for q in QUANTITIES.values():
        assert q.unit in UNIT_FACTORS, q.name
        assert unit_factor(q, q.unit) == 1.0


def test_counters_are_energy_or_volume() -> None:
    counters = {q.unit for q in QUANTITIES.values() if q.kind is Kind.COUNTER}
    assert counters == {"kWh", "kvarh", "m³"}
