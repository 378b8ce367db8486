"""Building categories of Chinese public institutions (the site model's `category`), with what each
covers; the quota tables and the indicators group by them."""

from __future__ import annotations

# public-building categories (公共机构 / 公共建筑), following the quota standards' grouping
CATEGORIES: dict[str, str] = {
    "office": "government or institutional office building (机关办公)",
    "admin_centre": "administrative centre housing several bodies (行政中心)",
    "school": "school, college or university building (学校: teaching, dormitory, canteen ...)",
    "hospital": "hospital or clinic (医院)",
    "venue": "sports, cultural or exhibition venue (场馆)",
    "research": "research institute or laboratory (科研)",
    "hotel": "hotel or guest house (宾馆)",
    "commercial": "shop, mall or commercial office (商业)",
    "data_centre": "data centre or server building (数据中心)",
    "other": "anything else",
}


__all__ = ["CATEGORIES"]
