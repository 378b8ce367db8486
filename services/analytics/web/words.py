"""The dashboard's words: the report's labels (reports.labels) and the few pages' own, zh and en."""

from __future__ import annotations

from reports.labels import labels

_OWN = {
    "zh": {
        "dashboard": "能耗监测", "fleet": "机构一览", "alerts_page": "活动告警",
        "meters_page": "表计状态", "login": "登录", "logout": "退出", "user": "用户名",
        "password": "密码", "ack": "确认", "acked": "已确认", "note": "备注", "as_of": "截至",
        "online": "在线", "offline": "离线", "last_reading": "最近读数", "site": "站点",
        "no_summary": "尚无已结束的日", "login_to_ack": "登录后可确认告警",
        "read_only": "只读：未配置用户", "bad_login": "用户名或密码错误", "refused": "请求被拒绝",
        "csrf": "表单已过期，请重新打开页面", "not_logged_in": "需要登录才能确认告警",
        "ack_refused": "没有这条未确认的活动告警", "days_known": "有数据天数",
        "alerts_count": "活动告警", "quota_tier": "定额档位", "electricity_daily": "逐日用电",
        "electricity_monthly": "逐月用电", "water_daily": "逐日用水", "water_axis": "水 water (m³)",
        "coverage_30d": "近30日覆盖率", "acked_by": "确认人", "acked_at": "确认时间",
        "reading_values": "读数",
        "unclassified": "未分项", "floor_area": "建筑面积 (m²)", "occupants": "人数",
        "share_due": "年度进度", "confidence": "可信度", "tier:guide": "引导值",
        "tier:baseline": "基准值", "tier:constraint": "约束值", "tier:target": "目标值",
        "below_tiers": "低于各档", "open": "查看",
        "ack_busy": "服务繁忙，确认可能稍后生效，请刷新页面查看",
    },
    "en": {
        "dashboard": "Energy monitoring", "fleet": "Fleet", "alerts_page": "Active alerts",
        "meters_page": "Meter health", "login": "Log in", "logout": "Log out", "user": "User",
        "password": "Password", "ack": "Acknowledge", "acked": "acknowledged", "note": "Note",
        "as_of": "as of", "online": "online", "offline": "offline", "last_reading": "Last reading",
        "site": "Site", "no_summary": "no day closed yet", "login_to_ack": "log in to acknowledge",
        "read_only": "read-only: no users configured", "bad_login": "wrong user name or password",
        "refused": "Refused", "csrf": "the form expired: open the page again",
        "not_logged_in": "acknowledging needs a login",
        "ack_refused": "no such unacknowledged active alert", "days_known": "days with data",
        "alerts_count": "active alerts", "quota_tier": "quota tier",
        "electricity_daily": "Electricity by day", "electricity_monthly": "Electricity by month",
        "water_daily": "Water by day", "water_axis": "water (m³)",
        "coverage_30d": "coverage, last 30 days", "acked_by": "acknowledged by",
        "acked_at": "acknowledged at", "reading_values": "values", "unclassified": "unclassified",
        "floor_area": "floor area (m²)", "occupants": "occupants", "share_due": "share of the year due",
        "confidence": "confidence", "tier:guide": "guide", "tier:baseline": "baseline",
        "tier:constraint": "constraint", "tier:target": "target", "below_tiers": "below every tier",
        "open": "open",
        "ack_busy": "the service is busy: the acknowledgement may still be applied; reload to see",
    },
}


def words(lang: str) -> dict[str, str]:
    out = labels(lang)
    out.update(_OWN[lang])
    return out


__all__ = ["words"]
