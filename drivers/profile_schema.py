"""The shape of a profile file (config/profiles/*.toml), as pydantic models.

This module only describes what a file may contain; drivers/profiles.py loads files, merges variants,
checks meaning (units, addresses, limits) and compiles points into codecs. The format is documented in
docs/profiles.md.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


FunctionCode = Literal[3, 4]
AddressBase = Literal[0, 1]
Parity = Literal["N", "E", "O"]


class PointDefaults(_Strict):
    function: FunctionCode = 3
    type: str = "uint16"
    order: str = "ABCD"
    address_base: AddressBase = 0


class FractionSpec(_Strict):
    """The decimal part of an integer-plus-fraction totaliser, added to the integer part."""

    address: Annotated[int, Field(ge=0, le=65535)]
    type: str | None = None
    order: str | None = None
    scale: float = 1.0


class PointSpec(_Strict):
    quantity: str
    address: Annotated[int, Field(ge=0, le=65535)]
    unit: str | None = None  # unit after scale; defaults to the quantity's canonical unit
    function: FunctionCode | None = None
    type: str | None = None
    order: str | None = None
    address_base: AddressBase | None = None
    scale: float = 1.0
    offset: float = 0.0
    range: tuple[float, float] | None = None  # plausible range, canonical unit
    max_rate: Annotated[float, Field(gt=0)] | None = None  # counters: canonical unit per hour
    sentinels: list[int | float] = Field(default_factory=list)
    bits: tuple[int, int] | None = None  # (first bit, length) of the raw integer
    fraction: FractionSpec | None = None
    ratio: Literal["ct", "pt", "ct*pt"] | None = None
    note: str = ""


class UnreadableRange(_Strict):
    """Registers a device refuses to read (exception 2); the planner never bridges across them."""

    start: Annotated[int, Field(ge=0, le=65535)]
    end: Annotated[int, Field(ge=0, le=65535)]  # inclusive, wire address
    function: FunctionCode | None = None  # None: both 3 and 4


class SerialDefaults(_Strict):
    baud: Annotated[int, Field(ge=300, le=921600)] = 9600
    parity: Parity = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8


class DeviceSpec(_Strict):
    serial: SerialDefaults | None = None
    max_registers: Annotated[int, Field(ge=1, le=125)] | None = None
    max_gap: Annotated[int, Field(ge=0, le=124)] | None = None
    turnaround_ms: Annotated[float, Field(ge=0, le=5000)] | None = None
    unit_switch_delay_ms: Annotated[float, Field(ge=0, le=5000)] | None = None
    unreadable: list[UnreadableRange] | None = None


class FingerprintCheck(_Strict):
    """A register check that identifies a model or variant during a bus scan."""

    address: Annotated[int, Field(ge=0, le=65535)]  # numbered like the points (address_base)
    function: FunctionCode | None = None  # default: the profile's [defaults]
    address_base: AddressBase | None = None  # default: the profile's [defaults]
    type: str = "uint16"
    order: str | None = None  # default: the profile's [defaults]
    equals: float | None = None
    range: tuple[float, float] | None = None


class VariantSpec(_Strict):
    description: str = ""
    inherit_points: bool = True  # False: the variant's points replace the base map entirely
    defaults: PointDefaults | None = None
    device: DeviceSpec | None = None
    points: list[PointSpec] = Field(default_factory=list)  # same quantity replaces the base point
    remove: list[str] = Field(default_factory=list)  # quantities of base points to drop
    fingerprint: list[str | FingerprintCheck] = Field(default_factory=list)


class ProfileSpec(_Strict):
    manufacturer: str
    model: str
    kind: Literal["electricity", "water", "heat", "heat_pump", "gas"]
    description: str = ""
    sources: list[str] = Field(default_factory=list)
    modelled: str = ""  # which parts of the map are modelled rather than taken from a manual
    default_variant: str = "default"
    defaults: PointDefaults = PointDefaults()
    device: DeviceSpec = DeviceSpec()
    points: list[PointSpec] = Field(default_factory=list)
    fingerprint: list[str | FingerprintCheck] = Field(default_factory=list)
    variants: dict[str, VariantSpec] = Field(default_factory=dict)
