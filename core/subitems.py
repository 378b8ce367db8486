"""Energy sub-items (分项): the site model's names and the national item codes, one table both ways.

The codes are those of the national guideline 《国家机关办公建筑和大型公共建筑能耗监测系统 分项能耗数据
采集技术导则》 (2008, Ministry of Housing and Urban-Rural Development), also used by
the upload format of its companion 分项能耗数据传输技术导则 and JGJ/T 285-2014: 01000 electricity;
01A00 lighting and sockets with 01A10 and 01A20 below it; 01B00 HVAC; 01C00 power; 01D00 special;
02000 water; 03A00 gas (as transcribed in shared/reference/protocols.md). Only those codes are
accepted: what the further second-level codes mean was not confirmed from a second source.

A meter's `subitem` may be a name (`hvac`) or a code (`01B00`); both give the same name, which is what
the roll-ups group by, and the code is kept for reports. A name is accepted on any meter, as before the
codes; a code only on the meters it is for. `other` has no national code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SubItem:
    name: str  # the site model's name (rollups group by it)
    code: str | None  # national item code; None: `other`
    zh: str
    en: str


# name -> sub-item, in report order; `total` is a carrier's total (总用电), never added to sub-items
SUBITEMS: dict[str, SubItem] = {s.name: s for s in (
    SubItem("total", "01000", "总用电", "total"),
    SubItem("lighting_sockets", "01A00", "照明插座用电", "lighting and sockets"),
    SubItem("hvac", "01B00", "空调用电", "HVAC"),
    SubItem("power", "01C00", "动力用电", "power"),
    SubItem("special", "01D00", "特殊用电", "special"),
    SubItem("other", None, "其他", "other"),
)}

# national code -> (name it rolls up to, the meter kinds it may be given to)
_ELECTRIC = ("electricity", "heat_pump")
CODES: dict[str, tuple[str, tuple[str, ...]]] = {
    "01000": ("total", _ELECTRIC),
    "01A00": ("lighting_sockets", _ELECTRIC),
    "01A10": ("lighting_sockets", _ELECTRIC),
    "01A20": ("lighting_sockets", _ELECTRIC),
    "01B00": ("hvac", _ELECTRIC),
    "01C00": ("power", _ELECTRIC),
    "01D00": ("special", _ELECTRIC),
    "02000": ("total", ("water",)),  # the water item: a water meter's total
    "03A00": ("total", ("gas",)),  # the gas item
}
UNCLASSIFIED = "unclassified"  # a total's part that no sub-item meter measures


def resolve(value: str) -> tuple[str, str | None]:
    """A name or code → (name, code). Raises ValueError naming the accepted values."""
    if value in SUBITEMS:
        return value, SUBITEMS[value].code
    if value.upper() in CODES:
        return CODES[value.upper()][0], value.upper()
    raise ValueError(f"{value!r} is not a sub-item: use a name ({', '.join(SUBITEMS)}) or a national "
                     f"item code ({', '.join(CODES)})")


def code_for(value: str, kind: str) -> str | None:
    """The national code of a meter of `kind` given `value` (a name or a code): the code written, else
    the name's code for that kind of meter (`total` of a water meter is 02000), else None."""
    name, code = resolve(value)
    if value not in SUBITEMS:
        return code
    fits = [c for c, (n, kinds) in CODES.items() if n == name and kind in kinds]
    return code if code in fits else (fits[0] if fits else None)


def code_fits(code: str, kind: str) -> bool:
    """Whether a national code may be given to a meter of `kind` (02000 to water meters only, …)."""
    return code not in CODES or kind in CODES[code][1]


__all__ = ["CODES", "SUBITEMS", "UNCLASSIFIED", "SubItem", "code_fits", "code_for", "resolve"]
