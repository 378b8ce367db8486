"""The words of a notification in its channel's language (`lang = "zh" | "en"` on a channel).

The alert's own message (the detector's sentence with its figures) is sent as the analytics wrote it;
the title, the field names, the event, the severity and the kind are in the channel's language.
"""

from __future__ import annotations

_ZH_KIND = {
    "consumption_anomaly": "用能异常", "after_hours_waste": "非工作时间用能浪费",
    "base_load_creep": "基础负荷上升", "water_leak": "疑似漏水", "stuck_meter": "表计停走",
    "comm_loss": "通信中断", "counter_reset": "计数器复位或换表", "spike": "读数突跳",
    "sentinel": "无效读数", "heat_pump_cop": "热泵能效下降",
    "quota_above_guide": "超过定额引导值", "quota_above_baseline": "超过定额基准值",
    "quota_above_constraint": "超过定额约束值", "quota_projected_exceed": "预计年末超过约束值",
    "reduction_target_off_track": "节能目标进度落后",
}
_ZH = {
    "raised": "告警", "escalated": "告警升级", "cleared": "告警解除",
    "info": "提示", "warning": "一般", "major": "重要", "critical": "紧急",
    "severity": "级别", "value": "数值", "threshold": "阈值", "since": "开始", "cleared_at": "解除",
    "site": "站点", "alert": "告警编号", "acked_by": "已确认：", "unknown": "未知",
    "report_title": "报告已生成", "report_text": "站点 {site} 的 {period} 能耗报告已生成。",
    "file": "文件", "made": "生成时间",
}
_EN = {
    "raised": "RAISED", "escalated": "ESCALATED", "cleared": "CLEARED",
    "info": "info", "warning": "warning", "major": "major", "critical": "critical",
    "severity": "Severity", "value": "Value", "threshold": "threshold", "since": "Since",
    "cleared_at": "Cleared", "site": "Site", "alert": "Alert", "acked_by": "Acknowledged by ",
    "unknown": "unknown", "report_title": "report ready",
    "report_text": "The {period} report of site {site} is ready.", "file": "File", "made": "Made",
}


def words(lang: str) -> dict[str, str]:
    return _ZH if lang == "zh" else _EN


def kind_name(kind: object, lang: str) -> str:
    return _ZH_KIND.get(str(kind), str(kind)) if lang == "zh" else str(kind)
