"""The words of HQ's reports in Chinese and English, and the :class:`Table` a report is shown as.

A :class:`Table` has columns (a key and a label) and rows (dicts keyed by column key, and a few
more keys the JSON carries but the CSV does not). :class:`Names` turns the codes a report counts
(stores, regions, departments, ticket types, agents, return reasons) into names in one language.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server.report_scope import HOUR_MS, MINUTE_MS, Durations, in_units
from hq_server.schema import agents, departments, regions, stores, ticket_types
from sync_protocol.return_policy import REASON_LABELS

#: Column key -> (Chinese, English).
COLUMN_LABELS: dict[str, tuple[str, str]] = {
    "region_code": ("区域编号", "Region code"),
    "region_name": ("区域", "Region"),
    "store_code": ("门店编号", "Store code"),
    "store_name": ("门店", "Store"),
    "tickets": ("工单数", "Tickets"),
    "rank": ("排名", "Rank"),
    "type": ("类型编号", "Type code"),
    "type_name": ("工单类型", "Ticket type"),
    "product_code": ("商品编号", "Product code"),
    "product_name": ("商品", "Product"),
    "department": ("部门编号", "Department code"),
    "department_name": ("部门", "Department"),
    "first_response_breaches": ("首次响应超时", "First-response breaches"),
    "resolution_breaches": ("解决超时", "Resolution breaches"),
    "breached": ("超时工单号（前 50）", "Breached tickets (first 50)"),
    "agent": ("坐席编号", "Agent id"),
    "agent_name": ("坐席", "Agent"),
    "sent": ("已发问卷", "Surveys sent"),
    "answered": ("已回答", "Answered"),
    "mean_score": ("平均分", "Mean score"),
    "satisfied": ("4–5 分份数", "Scored 4–5"),
    "satisfied_share": ("4–5 分占比", "Share scoring 4–5"),
    "reason": ("原因编号", "Reason code"),
    "reason_name": ("退货原因", "Return reason"),
    "returns": ("退货单数", "Returns"),
    "units": ("件数", "Units"),
    "refund": ("退款金额（元）", "Refunded (yuan)"),
    "category": ("品类", "Category"),
    "amount": ("金额（元）", "Amount (yuan)"),
    "from_store_code": ("调出门店编号", "Source store code"),
    "from_store_name": ("调出门店", "Source store"),
    "to_store_code": ("调入门店编号", "Requesting store code"),
    "to_store_name": ("调入门店", "Requesting store"),
    "transfers": ("调货单数", "Transfers"),
}
#: Measured spans -> (Chinese, English): the ticket reports' and the transfer steps.
SPAN_LABELS: dict[str, tuple[str, str]] = {
    "first_response": ("首次响应", "First response"),
    "resolution": ("解决", "Resolution"),
    "request_to_approve": ("申请→批准", "Request → approve"),
    "approve_to_ship": ("批准→发货", "Approve → ship"),
    "ship_to_receive": ("发货→收货", "Ship → receive"),
    "request_to_receive": ("申请→收货", "Request → receive"),
}
#: Names of what has no name: no store, no region, no department, no agent.
NONE_LABELS: dict[str, tuple[str, str]] = {
    "store": ("无门店（线上等）", "No store (online etc.)"),
    "region": ("未分区域", "No region"),
    "department": ("未分派部门", "Not routed"),
    "agent": ("未分配坐席", "Unassigned"),
}
#: Report -> table -> title (Chinese, English), in the order the tables are shown.
TITLES: dict[str, dict[str, tuple[str, str]]] = {
    "volume": {
        "stores": ("各门店工单量与类型", "Tickets per store"),
        "regions": ("各区域工单量与类型", "Tickets per region"),
    },
    "problems": {"problems": ("高频问题 Top 10（类型 + 商品）", "Top 10 recurring problems (type + product)")},
    "response-times": {"departments": ("各部门首次响应与解决时长", "First response and resolution per department")},
    "sla-breaches": {"breaches": ("SLA 超时（按部门与门店）", "SLA breaches per department and store")},
    "satisfaction": {
        "departments": ("各部门满意度", "Satisfaction per department"),
        "agents": ("各坐席满意度", "Satisfaction per agent"),
    },
    "return-reasons": {
        "reasons": ("退货原因", "Return reasons"),
        "categories": ("退货原因（按品类）", "Return reasons per category"),
    },
    "transfer-lead-times": {
        "overall": ("调货时效（全部）", "Transfer lead times (all)"),
        "routes": ("调货时效（按线路）", "Transfer lead times per route"),
    },
}
REPORT_TITLES: dict[str, tuple[str, str]] = {
    "volume": ("工单量与类型分布", "Ticket volume and type mix"),
    "problems": ("高频问题", "Recurring problems"),
    "response-times": ("响应与解决时长", "Response and resolution times"),
    "sla-breaches": ("SLA 超时", "SLA breaches"),
    "satisfaction": ("满意度", "Satisfaction"),
    "return-reasons": ("退货原因", "Return reasons"),
    "transfer-lead-times": ("调货时效", "Transfer lead times"),
}
REPORT_NAMES: tuple[str, ...] = tuple(REPORT_TITLES)


def pick(pair: tuple[str, str], lang: str) -> str:
    """The ``lang`` half of a (Chinese, English) pair; Chinese when the English one is empty."""
    return pair[1] if lang == "en" and pair[1] else pair[0]


@dataclass(frozen=True)
class Column:
    key: str
    label: str


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]

    def json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "columns": [{"key": c.key, "label": c.label} for c in self.columns],
            "rows": self.rows,
        }

    def header(self) -> list[str]:
        return [c.label for c in self.columns]

    def cells(self) -> list[list[object]]:
        """The rows as the columns' values, in column order (the CSV rows)."""
        return [[row.get(c.key) for c in self.columns] for row in self.rows]


class Names:
    """The people-facing names of the codes a report shows, in one language."""

    def __init__(self, conn: Connection, lang: str) -> None:
        self.lang = lang
        d, t = departments.c, ticket_types.c
        self._departments = {
            str(r[0]): (str(r[1]), str(r[2])) for r in conn.execute(sa.select(d.code, d.name_zh, d.name_en))
        }
        self._types = {str(r[0]): (str(r[1]), str(r[2])) for r in conn.execute(sa.select(t.code, t.name_zh, t.name_en))}
        self._stores = {str(r[0]): str(r[1]) for r in conn.execute(sa.select(stores.c.id, stores.c.name))}
        self._regions = {str(r[0]): str(r[1]) for r in conn.execute(sa.select(regions.c.id, regions.c.name))}
        self._agents = {str(r[0]): str(r[1]) for r in conn.execute(sa.select(agents.c.id, agents.c.name))}

    def none(self, kind: str) -> str:
        return pick(NONE_LABELS[kind], self.lang)

    def department(self, code: str) -> str:
        return (
            pick(self._departments[code], self.lang) if code in self._departments else code or self.none("department")
        )

    def type(self, code: str) -> str:
        return pick(self._types[code], self.lang) if code in self._types else code

    def store(self, store_id: str | None) -> str:
        return self._stores.get(store_id, store_id) if store_id is not None else self.none("store")

    def region(self, region_id: str | None) -> str:
        return self._regions.get(region_id, region_id) if region_id is not None else self.none("region")

    def agent(self, agent_id: str) -> str:
        return self._agents.get(agent_id, agent_id) if agent_id else self.none("agent")

    def reason(self, code: str) -> str:
        return pick(REASON_LABELS[code], self.lang) if code in REASON_LABELS else code

    def column(self, key: str) -> Column:
        return Column(key, pick(COLUMN_LABELS[key], self.lang))

    def columns(self, *keys: str) -> list[Column]:
        return [self.column(key) for key in keys]

    def span_columns(self, span: str, unit: str) -> list[Column]:
        """The count, median and p90 columns of a measured span (``unit``: ``min`` or ``h``)."""
        name = pick(SPAN_LABELS[span], self.lang)
        if self.lang == "en":
            labels = (f"{name}: count", f"{name}: median ({unit})", f"{name}: p90 ({unit})")
        else:
            zh_unit = "分钟" if unit == "min" else "小时"
            labels = (f"{name}数量", f"{name}中位数（{zh_unit}）", f"{name} P90（{zh_unit}）")
        keys = (f"{span}_count", f"{span}_median_{unit}", f"{span}_p90_{unit}")
        return [Column(k, label) for k, label in zip(keys, labels, strict=True)]


def span_cells(span: str, found: Durations, unit: str) -> dict[str, Any]:
    """A span's figures as row cells: count, median and p90 in ``unit`` (and in ms)."""
    unit_ms = MINUTE_MS if unit == "min" else HOUR_MS
    places = 1 if unit == "min" else 2
    return {
        f"{span}_count": found.count,
        f"{span}_median_{unit}": in_units(found.median_ms, unit_ms, places),
        f"{span}_p90_{unit}": in_units(found.p90_ms, unit_ms, places),
        f"{span}_median_ms": found.median_ms,
        f"{span}_p90_ms": found.p90_ms,
    }
