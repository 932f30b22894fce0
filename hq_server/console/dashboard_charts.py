"""The charts of the dashboard: which figures of a report table each chart draws.

A chart is drawn in the browser by ``hq_server/static/charts.js`` from a JSON spec the page carries
in a ``<script type="application/json">`` island. The spec is made here from the very
:class:`~hq_server.report_labels.Table` the page shows under the chart (and the API exports as
CSV), so the chart, the table and the CSV always show the same figures; the table is the source of
truth.

Spec: ``{"title", "orientation": "horizontal"|"vertical", "layout": "grouped"|"stacked",
"unit", "categories": [label], "series": [{"name", "values": [number or null]}]}``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hq_server.report_labels import SPAN_LABELS, Table, pick
from hq_server.reports import STEPS


@dataclass(frozen=True)
class ChartSpec:
    """How a table becomes a chart.

    ``labels``: the columns whose values, joined, name a bar (a category). ``series``: the figure
    columns, one series each; ``("type:*",)`` takes every ``type:`` column (the type mix).
    ``layout``: bars of a category side by side (grouped) or on one another (stacked).
    ``unit``: a text key naming the unit on the value axis. ``join``: between label parts.
    """

    labels: tuple[str, ...]
    series: tuple[str, ...]
    layout: str = "grouped"
    unit: str = ""
    join: str = " · "
    orientation: str = "horizontal"


TYPE_MIX = ("type:*",)
#: (report, table) -> its chart. The transfer lead times overall (one row) is :func:`steps_chart`.
CHARTS: dict[tuple[str, str], ChartSpec] = {
    ("volume", "stores"): ChartSpec(("store_name",), TYPE_MIX, "stacked", "d_unit_tickets"),
    ("volume", "regions"): ChartSpec(("region_name",), TYPE_MIX, "stacked", "d_unit_tickets"),
    ("problems", "problems"): ChartSpec(("type_name", "product_code"), ("tickets",), unit="d_unit_tickets"),
    ("response-times", "departments"): ChartSpec(
        ("department_name",),
        ("first_response_median_min", "first_response_p90_min", "resolution_median_min", "resolution_p90_min"),
        unit="d_unit_minutes",
    ),
    ("sla-breaches", "breaches"): ChartSpec(
        ("department_name", "store_name"),
        ("first_response_breaches", "resolution_breaches"),
        unit="d_unit_tickets",
    ),
    ("satisfaction", "departments"): ChartSpec(("department_name",), ("mean_score",), unit="d_unit_score"),
    ("satisfaction", "agents"): ChartSpec(("agent_name",), ("mean_score",), unit="d_unit_score"),
    ("return-reasons", "reasons"): ChartSpec(("reason_name",), ("returns", "units"), unit="d_unit_count"),
    ("return-reasons", "categories"): ChartSpec(("reason_name", "category"), ("units",), unit="d_unit_units"),
    ("transfer-lead-times", "routes"): ChartSpec(
        ("from_store_name", "to_store_name"),
        ("request_to_receive_median_h", "request_to_receive_p90_h"),
        unit="d_unit_hours",
        join=" → ",
    ),
}


def _number(value: Any) -> float | int | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def chart(report: str, table: Table, lang: str, text: Callable[[str], str]) -> dict[str, Any] | None:
    """The chart spec of ``table`` of ``report`` (None: the table has no chart or no rows);
    ``text`` gives a console text in the page's language."""
    if (report, table.name) == ("transfer-lead-times", "overall"):
        return drawn(steps_chart(table, lang, text)) if table.rows else None
    spec = CHARTS.get((report, table.name))
    if spec is None or not table.rows:
        return None
    if spec.series == TYPE_MIX:
        columns = [c for c in table.columns if c.key.startswith("type:")]
    else:
        columns = [c for c in table.columns if c.key in spec.series]
    categories = [spec.join.join(str(row.get(key) or "") for key in spec.labels) for row in table.rows]
    series = [{"name": c.label, "values": [_number(row.get(c.key)) for row in table.rows]} for c in columns]
    return drawn(
        {
            "title": table.title,
            "orientation": spec.orientation,
            "layout": spec.layout,
            "unit": text(spec.unit) if spec.unit else "",
            "categories": categories,
            "series": series,
        }
    )


def drawn(spec: dict[str, Any]) -> dict[str, Any] | None:
    """``spec``, or None when it has no bar to draw (every figure missing or 0): the table says it."""
    values = [v for series in spec["series"] for v in series["values"]]
    return spec if any(v is not None and v > 0 for v in values) else None


def steps_chart(table: Table, lang: str, text: Callable[[str], str]) -> dict[str, Any]:
    """The overall transfer lead times (one row) as columns: a category per step, median and p90."""
    row = table.rows[0]
    steps = [step for step, _, _ in STEPS]
    return {
        "title": table.title,
        "orientation": "vertical",
        "layout": "grouped",
        "unit": text("d_unit_hours"),
        "categories": [pick(SPAN_LABELS[step], lang) for step in steps],
        "series": [
            {"name": text(f"d_{figure}"), "values": [_number(row.get(f"{step}_{figure}_h")) for step in steps]}
            for figure in ("median", "p90")
        ],
    }
