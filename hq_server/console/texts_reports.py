"""Console texts of the reports screens: key -> (Simplified Chinese, English)."""

from __future__ import annotations

TEXTS: dict[str, tuple[str, str]] = {
    "d_title": ("报表", "Dashboard"),
    "d_filters": ("筛选", "Filters"),
    "d_from": ("开始日期（含）", "From (included)"),
    "d_to": ("结束日期（不含）", "To (excluded)"),
    "d_region": ("区域", "Region"),
    "d_all_regions": ("全部区域", "All regions"),
    "d_all_my_regions": ("我负责的全部区域", "All my regions"),
    "d_apply": ("查询", "Apply"),
    "d_reset": ("重置", "Reset"),
    "d_range": (
        "统计区间：{start} 至 {end}（北京时间，不含结束时刻）",
        "Range: {start} to {end} (Beijing time, end excluded)",
    ),
    "d_default_range": ("未选日期时为最近 30 天。", "Without dates: the last 30 days."),
    "d_your_regions": (
        "您负责的区域：{regions}；只显示这些区域的门店。",
        "Your regions: {regions}; only their stores are shown.",
    ),
    "d_your_departments": ("只含您的部门：{departments}。", "Your departments only: {departments}."),
    "d_region_shown": ("当前区域：{region}", "Region shown: {region}"),
    "d_contents": ("目录", "Contents"),
    "d_export_csv": ("导出 CSV", "Export CSV"),
    "d_no_rows": ("此区间内没有数据。", "No figures in this range."),
    "d_chart_of": ("{title}（图表）", "{title} (chart)"),
    "d_table_note": (
        "图表与下表数字相同；CSV 导出与下表一致。",
        "The chart shows the figures of the table below; the CSV export matches the table.",
    ),
    "d_bad_filter": ("筛选条件有误：{message}", "The filter is not valid: {message}"),
    "d_unit_tickets": ("工单数", "tickets"),
    "d_unit_minutes": ("分钟", "minutes"),
    "d_unit_hours": ("小时", "hours"),
    "d_unit_score": ("平均分（1–5）", "mean score (1–5)"),
    "d_unit_count": ("数量", "count"),
    "d_unit_units": ("件数", "units"),
    "d_median": ("中位数", "median"),
    "d_p90": ("P90", "p90"),
}
