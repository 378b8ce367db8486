"""The shape of a DL/T 645 or CJ/T 188 profile file (config/profiles/dlt645/*.toml,
config/profiles/cjt188/*.toml), as pydantic models. drivers/di_profiles.py checks meaning and
compiles; the format is documented in docs/profiles.md ("Meters read by data identifier")."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Protocol = Literal["dlt645", "cjt188"]
DiOrder = Literal["low_first", "high_first"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DiPointSpec(_Strict):
    quantity: str
    di: str  # as the standard writes it: "02010100" (DL/T 645), "901F" (CJ/T 188)
    # "XXXXXX.XX": BCD digits with the decimal point; "bits": a little-endian bit field
    format: str
    signed: bool = False  # DL/T 645: the top bit of the most significant byte is the sign
    offset: Annotated[int, Field(ge=0, le=200)] = 0  # byte offset in the answer (after the DI echo)
    unit: str | None = None  # unit of the value as read (after scale); default: the quantity's
    unit_code: bool = False  # CJ/T 188: a unit code byte follows the value and names its unit
    bytes: Annotated[int, Field(ge=1, le=8)] | None = None  # "bits": how many bytes hold them
    bits: tuple[int, int] | None = None  # "bits": (first bit, length)
    scale: float = 1.0
    range: tuple[float, float] | None = None
    max_rate: Annotated[float, Field(gt=0)] | None = None
    note: str = ""


class SerialSpec(_Strict):
    baud: Annotated[int, Field(ge=300, le=921600)] = 2400
    parity: Literal["N", "E", "O"] = "E"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8


class DiDeviceSpec(_Strict):
    serial: SerialSpec | None = None
    turnaround_ms: Annotated[float, Field(ge=0, le=5000)] | None = None
    preamble: Annotated[int, Field(ge=0, le=8)] | None = None  # FE bytes the meter sends first


class DiVariantSpec(_Strict):
    description: str = ""
    inherit_points: bool = True
    device: DiDeviceSpec | None = None
    meter_type: str | None = None  # CJ/T 188 T byte as hex, e.g. "10"
    di_order: DiOrder | None = None
    unit_first: bool | None = None
    points: list[DiPointSpec] = Field(default_factory=list)
    remove: list[str] = Field(default_factory=list)


class DiProfileSpec(_Strict):
    protocol: Protocol
    manufacturer: str
    model: str
    kind: Literal["electricity", "water", "heat", "gas"]
    description: str = ""
    sources: list[str] = Field(default_factory=list)
    modelled: str = ""
    default_variant: str = "default"
    meter_type: str | None = None  # CJ/T 188 T byte as hex ("10" cold water, "20" heat)
    # CJ/T 188: how the identifier goes out: "low_first" (901F as 1F 90, the common order) or
    # "high_first" (90 1F); answers are accepted in either
    di_order: DiOrder = "low_first"
    unit_first: bool = False  # CJ/T 188: every unit code of the variant comes before its value
    device: DiDeviceSpec = DiDeviceSpec()
    points: list[DiPointSpec] = Field(default_factory=list)
    variants: dict[str, DiVariantSpec] = Field(default_factory=dict)
