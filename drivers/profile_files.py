"""What the Modbus profiles (drivers.profiles) and the data-identifier profiles (drivers.di_profiles)
share: reading a profile file, naming a shape error by its key, finding a profile by name among the
profile folders, loading all of them at once, picking a variant, and merging a variant's points over
the base map. Each kind brings its own schema and compiler."""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from core.quantities import QUANTITIES, Kind, Quantity, accepted_units, unit_factor
from drivers.errors import ProfileError, ProfileNotFound

V = TypeVar("V")
P = TypeVar("P", bound="_HasQuantity")  # a compiled point
Q = TypeVar("Q", bound="_HasQuantity")  # a point as written in the file


class _HasQuantity(Protocol):
    @property
    def quantity(self) -> str: ...


@dataclass(frozen=True, slots=True)
class MappedQuantity:
    """What every compiled point starts with, whatever protocol reads it."""

    quantity: str
    unit: str  # canonical unit of the quantity
    kind: Kind


@dataclass(frozen=True)
class ProfileFile(Generic[V]):
    """One profile file compiled: who made the meter, where the facts come from, its variants."""

    id: str
    manufacturer: str
    model: str
    kind: str
    description: str
    sources: tuple[str, ...]
    modelled: str
    default_variant: str
    variants: dict[str, V]
    path: Path = field(compare=False)

    def variant(self, name: str | None = None) -> V:
        name = name or self.default_variant
        try:
            return self.variants[name]
        except KeyError:
            raise ProfileNotFound(
                f"profile {self.id!r} has no variant {name!r}; variants: {', '.join(self.variants)}"
            ) from None


@dataclass(frozen=True)
class VariantHeader:
    """What every compiled variant starts with: whose it is and what meter it describes."""

    profile_id: str
    name: str
    description: str
    manufacturer: str
    model: str
    kind: str


class PointsByQuantity(Generic[P]):
    """A compiled variant's key and its points looked up by quantity."""

    __slots__ = ()
    profile_id: str
    name: str
    points: tuple[P, ...]

    @property
    def key(self) -> str:
        return f"{self.profile_id}:{self.name}"

    def point(self, quantity: str) -> P:
        for p in self.points:
            if p.quantity == quantity:
                return p
        raise KeyError(f"{self.key} has no point for quantity {quantity!r}")


def read_profile_toml(path: Path) -> tuple[str, dict[str, Any]]:
    """The file's text and its TOML table; ProfileError saying why it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
        return text, tomllib.loads(text)
    except OSError as exc:
        raise ProfileError(str(path), [f"cannot read the file: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ProfileError(str(path), [f"not UTF-8 text: {exc.reason}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(str(path), [f"not valid TOML: {exc}"]) from None


def describe_shape_error(err: Mapping[str, Any], raw: dict[str, Any],
                         allowed_keys: Callable[[Sequence[Any]], list[str]] | None = None) -> str:
    """One pydantic error as 'points[3] (quantity 'x'): key: what is wrong and what to do';
    `allowed_keys(loc)` gives the valid keys at an unknown key's place, for a 'did you mean'."""
    loc = [part for part in err["loc"] if not (isinstance(part, str) and "[" in part)]
    parts: list[str] = []
    node: Any = raw
    for part in loc:
        if isinstance(part, int):
            parts[-1] = f"{parts[-1]}[{part}]" if parts else f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, dict) and "quantity" in node:
                parts[-1] += f" (quantity {node['quantity']!r})"
        else:
            parts.append(str(part))
            node = node.get(part) if isinstance(node, dict) else None
    where = ".".join(parts) or "(top level)"
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = allowed_keys(loc) if allowed_keys is not None else []
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1) if allowed else []
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"{where}: unknown key{hint}"
    if kind == "missing":
        return f"{where}: required key is missing"
    return f"{where}: {err['msg']} (got {err.get('input')!r})"


def check_duplicate_quantities(points: Sequence[_HasQuantity], where: str,
                               problems: list[str]) -> None:
    seen: dict[str, int] = {}
    for i, p in enumerate(points):
        if p.quantity in seen:
            problems.append(f"{where}[{i}]: quantity {p.quantity!r} already defined at "
                            f"{where}[{seen[p.quantity]}]; one point per quantity")
        seen.setdefault(p.quantity, i)


def merged_points(base: Sequence[Q], inherit: bool, remove: Iterable[str], own: Sequence[Q],
                  vkey: str, problems: list[str]) -> dict[str, tuple[Q, str]]:
    """A variant's point specs by quantity, each with where it is written: the base map's
    (unless the variant does not inherit them) less `remove`, then the variant's own, replacing."""
    merged: dict[str, tuple[Q, str]] = {}
    if inherit:
        merged = {p.quantity: (p, f"points[{i}]") for i, p in enumerate(base)}
    for name in remove:
        if merged.pop(name, None) is None:
            problems.append(f"{vkey}.remove: {name!r} is not a point of the base map")
    for i, p in enumerate(own):
        merged[p.quantity] = (p, f"{vkey}.points[{i}]")
    return merged


def known_quantity(name: str, where: str, problems: list[str]) -> Quantity | None:
    """The vocabulary's quantity `name`, or None with a problem naming close ones."""
    quantity = QUANTITIES.get(name)
    if quantity is None:
        close = difflib.get_close_matches(name, QUANTITIES, n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        problems.append(f"{where}: quantity: {name!r} is not in the vocabulary; {hint}"
                        "see docs/quantities.md")
    return quantity


def unit_into_canonical(quantity: Quantity, unit: str | None, where: str,
                        problems: list[str]) -> float | None:
    """The factor from a point's unit (default: the canonical one) into the quantity's unit."""
    unit = quantity.unit if unit is None else unit
    factor = unit_factor(quantity, unit)
    if factor is None:
        problems.append(f"{where}: unit: {unit!r} cannot be converted to {quantity.name}'s unit "
                        f"{quantity.unit!r}; use one of "
                        f"{', '.join(map(repr, accepted_units(quantity)))}")
    return factor


def check_plausibility(quantity: Quantity, value_range: Sequence[float] | None,
                       max_rate: float | None, where: str, problems: list[str],
                       rate_hint: str = "") -> None:
    """Every measured value needs a plausible range, every counter its largest rise per hour."""
    if quantity.kind is not Kind.STATE and value_range is None:
        problems.append(f"{where}: range: missing; give the plausible [min, max] in "
                        f"{quantity.unit or 'the quantity unit'} so implausible values are flagged")
    if value_range is not None and value_range[0] > value_range[1]:
        problems.append(f"{where}: range: min {value_range[0]} is above max {value_range[1]}")
    if quantity.kind is Kind.COUNTER and max_rate is None:
        problems.append(f"{where}: max_rate: missing for a counter; give the largest physical rise "
                        f"in {quantity.unit} per hour{rate_hint}")


def load_each(files: Mapping[str, Path], load: Callable[[Path], V]) -> dict[str, V]:
    """Every file loaded; ProfileError naming all broken files' problems at once."""
    profiles: dict[str, V] = {}
    broken: list[str] = []
    for pid, path in files.items():
        try:
            profiles[pid] = load(path)
        except ProfileError as exc:
            broken += [f"{exc.path}: {p}" for p in exc.problems]
    if broken:
        raise ProfileError("profiles", broken)
    return profiles


def find_named(name: str, files: Mapping[str, Path], load: Callable[[Path], V], what: str,
               folders: Iterable[Path]) -> V:
    """The profile `name` among `files`, or ProfileNotFound with close names and where we looked."""
    if name not in files:
        close = difflib.get_close_matches(name, files, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ProfileNotFound(
            f"no {what} named {name!r}{hint} (known: {', '.join(sorted(files)) or 'none'}; "
            f"folders searched: {', '.join(str(d) for d in folders)})")
    return load(files[name])


__all__ = [
    "MappedQuantity",
    "PointsByQuantity",
    "ProfileFile",
    "VariantHeader",
    "check_duplicate_quantities",
    "check_plausibility",
    "describe_shape_error",
    "find_named",
    "known_quantity",
    "load_each",
    "merged_points",
    "read_profile_toml",
    "unit_into_canonical",
]
