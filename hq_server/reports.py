"""HQ's reports (issue 8): pure query functions over a :class:`ReportScope`, returning plain rows.

    ticket_volume(conn, scope)             tickets per store and per region, with the type mix
    top_problems(conn, scope)              the 10 (type, product) pairs with the most tickets
    response_times(conn, scope)            first response and resolution per department
    sla_breaches(conn, scope, now_ms)      breaches per department and store, with ticket numbers
    satisfaction(conn, scope)              surveys per department and per agent
    return_reasons(conn, scope)            accepted returns per reason and category
    transfer_lead_times(conn, scope)       transfer steps, overall and per route

Counting and grouping are SQL that both engines run alike; medians and p90 are nearest-rank in
Python (:func:`nearest_rank`), never an engine's percentile function. The functions live in
:mod:`hq_server.report_tickets`, :mod:`hq_server.report_feedback` and
:mod:`hq_server.report_stock`; the HTTP side is :mod:`hq_server.reports_api`, which shows them as
the tables of :mod:`hq_server.report_tables` (words in :mod:`hq_server.report_labels`).
"""

from __future__ import annotations

from hq_server.report_feedback import (
    CategoryRow,
    ReturnReasonRow,
    Satisfaction,
    SatisfactionRow,
    return_reasons,
    satisfaction,
)
from hq_server.report_scope import HOUR_MS, MINUTE_MS, Durations, ReportScope, durations, nearest_rank
from hq_server.report_stock import STEPS, LeadTimeRow, LeadTimes, transfer_lead_times
from hq_server.report_tickets import (
    BreachRow,
    ProblemRow,
    ResponseTimeRow,
    Volume,
    VolumeRow,
    response_times,
    sla_breaches,
    ticket_volume,
    top_problems,
)

__all__ = [
    "HOUR_MS",
    "MINUTE_MS",
    "STEPS",
    "BreachRow",
    "CategoryRow",
    "Durations",
    "LeadTimeRow",
    "LeadTimes",
    "ProblemRow",
    "ReportScope",
    "ResponseTimeRow",
    "ReturnReasonRow",
    "Satisfaction",
    "SatisfactionRow",
    "Volume",
    "VolumeRow",
    "durations",
    "nearest_rank",
    "response_times",
    "return_reasons",
    "satisfaction",
    "sla_breaches",
    "ticket_volume",
    "top_problems",
    "transfer_lead_times",
]
