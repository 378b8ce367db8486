"""How every document of the MQTT contract is written: compact UTF-8 JSON without NaN or infinity,
instants as ISO 8601 with their offset, and the software version documents carry."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from importlib import metadata
from typing import Any


class PayloadError(ValueError):
    """A document that would break the contract (NaN, a value on an invalid reading, a bad id...)."""


def software_version() -> str:
    try:
        return metadata.version("metergate")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def encode(doc: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON; PayloadError for NaN or infinity anywhere in the document."""
    try:
        return json.dumps(doc, allow_nan=False, ensure_ascii=False, separators=(",", ":")).encode()
    except ValueError as exc:  # "Out of range float values are not JSON compliant"
        raise PayloadError(f"refused to serialise a non-finite number (NaN or infinity): {exc}") from exc


def iso_time(ts: float, tz: tzinfo = UTC) -> str:
    """The instant `ts` (epoch seconds) as ISO 8601 with its offset, to the millisecond."""
    return datetime.fromtimestamp(ts, tz).isoformat(timespec="milliseconds")
