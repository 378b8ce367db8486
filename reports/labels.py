"""The words of a report in Chinese (default) and English; numbers are formatted in reports.formatting."""

from __future__ import annotations

from core.subitems import SUBITEMS, UNCLASSIFIED

_ZH = {
    "title": "能耗报告", "fleet": "全部机构汇总", "institution": "机构", "period": "报告期",
    "buildings": "建筑", "coverage": "数据覆盖率", "indicators": "能耗指标", "indicator": "指标",
    "unit": "单位", "value": "数值", "yoy": "同比", "reason": "说明", "carriers": "分能源品种",
    "carrier": "能源品种", "subitems": "分项能耗（电）", "subitem": "分项", "code": "分项编码",
    "share": "占比", "monthly": "逐月能耗", "daily": "逐日用电", "month": "月份", "day": "日期",
    "quotas": "定额状态", "building": "建筑", "scope": "定额/目标", "ytd": "年初至今",
    "projected": "年末预测",
    "tiers": "定额值", "tier": "档位", "target": "降幅目标值", "of_target": "预计/目标",
    "alerts": "本期告警", "subject": "对象",
    "kind": "类型", "start": "开始", "end": "结束", "severity": "级别", "state": "状态", "message": "内容",
    "meters": "各表数据覆盖", "meter": "表计", "quantity": "计量量", "missing": "缺失日期", "notes": "注",
    "energy_axis": "电能 energy (kWh)", "power_axis": "功率 power (kW)", "kgce_axis": "综合能耗 (kgce)",
    "peak_kw": "日最大功率 (kW)", "none": "无", "no_quota": "无适用定额", "no_alerts": "本期无告警",
    "generated": "由 metergate report 生成",
    "sources": "分项编码依据《国家机关办公建筑和大型公共建筑能耗监测系统 分项能耗数据采集技术导则》",
    "ongoing": "持续中",
    "kgce_per_m2": "单位建筑面积能耗", "kgce_per_person": "人均综合能耗", "water_m3_per_person": "人均用水量",
    "kgco2_per_m2": "单位建筑面积碳排放", "energy_kgce": "综合能耗", "co2_kg": "碳排放",
    "heating_kgce_per_m2": "单位供暖面积供暖能耗",
    "electricity": "电", "heat": "外购热", "natural_gas": "天然气", "water": "水",
    "subitems_monthly": "分项逐月",
    "electricity_kwh": "用电量 (kWh)", "energy_kgce_col": "综合能耗 (kgce)", "water_m3": "用水量 (m³)",
}
_EN = {
    "title": "Energy report", "fleet": "All institutions", "institution": "Institution", "period": "Period",
    "buildings": "Buildings", "coverage": "Data coverage", "indicators": "Indicators",
    "indicator": "Indicator",
    "unit": "Unit", "value": "Value", "yoy": "Year on year", "reason": "Note", "carriers": "By carrier",
    "carrier": "Carrier", "subitems": "Electricity by sub-item", "subitem": "Sub-item", "code": "Code",
    "share": "Share", "monthly": "By month", "daily": "Electricity by day", "month": "Month", "day": "Day",
    "quotas": "Quota status", "building": "Building", "scope": "Quota / target", "ytd": "Year to date",
    "projected": "Year-end projection", "tiers": "Quota values", "tier": "Tier",
    "target": "Reduction target",
    "of_target": "Projected / target", "alerts": "Alerts of the period", "subject": "Subject", "kind": "Kind",
    "start": "Start", "end": "End", "severity": "Severity", "state": "State", "message": "Message",
    "meters": "Data coverage per meter", "meter": "Meter", "quantity": "Quantity", "missing": "Days missing",
    "notes": "Notes", "energy_axis": "energy (kWh)", "power_axis": "power (kW)", "kgce_axis": "energy (kgce)",
    "peak_kw": "daily peak power (kW)", "none": "none", "no_quota": "no quota applies",
    "no_alerts": "no alerts in the period", "generated": "made by metergate report",
    "sources": "sub-item codes: the national guideline 分项能耗数据采集技术导则 (2008)", "ongoing": "ongoing",
    "kgce_per_m2": "Energy per floor area", "kgce_per_person": "Energy per person",
    "water_m3_per_person": "Water per person", "kgco2_per_m2": "CO2 per floor area",
    "energy_kgce": "Comprehensive energy", "co2_kg": "CO2", "heating_kgce_per_m2": "Heating per heated area",
    "electricity": "electricity", "heat": "purchased heat", "natural_gas": "natural gas", "water": "water",
    "subitems_monthly": "Sub-items by month",
    "electricity_kwh": "electricity (kWh)", "energy_kgce_col": "energy (kgce)", "water_m3": "water (m³)",
}
LANGS = ("zh", "en")


def labels(lang: str) -> dict[str, str]:
    """Every label of a report in `lang` (zh | en), sub-item names included."""
    if lang not in LANGS:
        raise ValueError(f"--lang {lang!r}: use one of {', '.join(LANGS)}")
    words = dict(_ZH if lang == "zh" else _EN)
    for s in SUBITEMS.values():
        words[f"subitem:{s.name}"] = s.zh if lang == "zh" else s.en
    words[f"subitem:{UNCLASSIFIED}"] = "未分项" if lang == "zh" else "unclassified"
    return words


__all__ = ["LANGS", "labels"]
