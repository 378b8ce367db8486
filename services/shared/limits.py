"""[limits]: what a reading must fit to be accepted (ingest and the analytics service refuse the
same readings): payload size, how far in the future, how far in the past."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict

from core.contract.schema import MAX_PAYLOAD_BYTES
from core.units import parse_size
from services.shared.target import Seconds


def _timestamp(value: object) -> float:
    """An instant: epoch seconds or an ISO 8601 date/time with an offset ("2000-01-01T00:00:00Z")."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not an instant")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):  # a TOML date-time
        if value.tzinfo is None:
            raise ValueError(f"{value} has no UTC offset; write e.g. 2000-01-01T00:00:00Z")
        return value.timestamp()
    if isinstance(value, str):
        try:
            at = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            at = None
        if at is not None and at.tzinfo is not None:
            return at.timestamp()
    raise ValueError(f"{value!r} is not an instant; write epoch seconds or a date-time with an "
                     "offset such as 2000-01-01T00:00:00Z")


class LimitsSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    max_payload_bytes: Annotated[int, BeforeValidator(parse_size)] = MAX_PAYLOAD_BYTES
    max_future: Seconds = 300.0
    min_timestamp: Annotated[float, BeforeValidator(_timestamp)] = 946684800.0  # 2000-01-01


