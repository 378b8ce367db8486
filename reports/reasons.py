"""The reasons beside a missing figure, in the report's language.

The analytics give each "no data" its reason in English (`metergate analyze --json` carries them as
they are, for machines and logs). A Chinese report shows them in Chinese: each clause ("; " between
them) is matched against the phrasings the analytics write (analytics/indicators.py,
analytics/meter_coverage.py, reports/model.py) and rewritten; a clause no pattern knows is kept as
written rather than guessed at.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from reports.model import Report

_LEVEL = {"building": "建筑", "institution": "机构", "category": "类别", "fleet": "全部机构"}
_CARRIER = {"electricity": "电", "heat": "热量", "natural gas": "天然气", "water": "水",
            "energy_active_import": "电能", "heat_energy": "热量", "water_volume": "水量",
            "gas_volume": "天然气量"}

_ZH: list[tuple[re.Pattern[str], str]] = [(re.compile(p), t) for p, t in (
    (r"^no electricity, heat or gas meter in the site config$", "站点配置中无电、热量或燃气表"),
    (r"^no (?P<carrier>[a-z_ ]+) readings in (?P<label>\S+) \(meter (?P<meters>.*)\)$",
     "{label} 无{carrier}读数（表计 {meters}）"),
    (r"^no (?P<carrier>[a-z_ ]+) readings in (?P<label>\S+)$", "{label} 无{carrier}读数"),
    (r"^no (?P<carrier>[a-z_ ]+) readings in the period$", "本期无{carrier}读数"),
    (r"^no floor area$", "无建筑面积"),
    (r"^no occupants$", "无用能人数"),
    (r"^no heated area$", "无供暖面积"),
    (r"^no water meter in the site config$", "站点配置中无水表"),
    (r"^no heat or heat-pump meter$", "无热量表或热泵表"),
    (r"^no building of this (?P<level>\w+) has data for it$", "本{level}无建筑有此项数据"),
    (r"^no data for this (?P<level>\w+) in (?P<label>\S+): a building without readings, or neither a "
     r"meter nor a record$", "{label} 本{level}无数据：有建筑无读数，或既无表计也无记录"),
    (r"^(?P<n>\d+) interval\(s\) of (?P<s>\d+) s without readings on both sides$",
     "{n} 个 {s} 秒区间两侧均无读数"),
    (r"^no meter of this carrier$", "无此能源品种的表计"),
    (r"^no data: some of its meters have no readings in the period \(see the coverage per meter\)$",
     "无数据：部分表计本期无读数（见各表数据覆盖）"),
    (r"^no readings in the period$", "本期无读数"),
)]


def reason(text: str, lang: str) -> str:
    """`text` in `lang` (zh: clause by clause; en: as it is)."""
    if lang != "zh" or not text:
        return text
    return "；".join(_clause(c) for c in text.split("; "))


def _clause(text: str) -> str:
    for pattern, template in _ZH:
        m = pattern.match(text)
        if m:
            parts = m.groupdict()
            if "carrier" in parts:
                parts["carrier"] = _CARRIER.get(parts["carrier"], parts["carrier"])
            if "level" in parts:
                parts["level"] = _LEVEL.get(parts["level"], parts["level"])
            return template.format(**parts)
    return text


def localized(report: Report, lang: str) -> Report:
    """The report with every reason in `lang`."""
    if lang != "zh":
        return report

    def lines(items: list[Any]) -> list[Any]:
        return [dataclasses.replace(x, reason=reason(x.reason, lang)) for x in items]

    sections = [dataclasses.replace(s, indicators=lines(s.indicators), carriers=lines(s.carriers),
                                    subitems=lines(s.subitems), meters=lines(s.meters))
                for s in report.sections]
    return dataclasses.replace(report, sections=sections)


__all__ = ["localized", "reason"]
