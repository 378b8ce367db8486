"""Loading the published frames (tests/drivers/fixtures/published_frames/, written by others, cited
per frame) for the golden tests."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures" / "published_frames"


def frames(protocol: str, direction: str | None = None) -> list[dict[str, Any]]:
    data = tomllib.loads((FIXTURES / f"{protocol}.toml").read_text(encoding="utf-8"))
    return [f for f in data["frame"] if direction is None or f["direction"] == direction]


def rejected(protocol: str) -> list[dict[str, Any]]:
    data = tomllib.loads((FIXTURES / f"{protocol}.toml").read_text(encoding="utf-8"))
    return list(data.get("rejected", []))


def wire(frame: dict[str, Any]) -> bytes:
    return bytes.fromhex(frame["hex"])


def body(data: bytes) -> bytes:
    """Without the FE preamble (its length varies by sender)."""
    return data.lstrip(b"\xfe")


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [f["name"] for f in items]
