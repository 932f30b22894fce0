"""What customers tell the chain: satisfaction (surveys) per department and agent, and the
reasons of accepted returns. Plain rows, like :mod:`hq_server.report_tickets`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server.report_scope import ReportScope, department_allows, mean, ratio, store_conditions, ticket_conditions
from hq_server.schema import return_lines, returns, surveys, tickets

#: A score counted as satisfied (4 or 5 of 1..5).
SATISFIED_FROM = 4
#: The ticket type whose department works returns (refund tasks): a scope limited to departments
#: sees return reasons only when it includes that department.
RETURNS_TICKET_TYPE = "refund"


@dataclass(frozen=True)
class SatisfactionRow:
    """The surveys of one department or one agent (``key``: department code or agent id, ``""``
    for tickets resolved without an agent): ``sent`` surveys, ``answered`` ones, their ``mean``
    score (half up to 2 decimals), how many scored 4 or 5 (``satisfied``) and their share of the
    answered ones (half up to 4 decimals); mean and share are None without answers."""

    key: str
    sent: int
    answered: int
    mean: float | None
    satisfied: int
    satisfied_share: float | None


@dataclass(frozen=True)
class Satisfaction:
    departments: list[SatisfactionRow]
    agents: list[SatisfactionRow]


def satisfaction(conn: Connection, scope: ReportScope) -> Satisfaction:
    """Surveys of tickets created in scope, per department and per agent (the survey's: the ticket's
    department and assignee when it was resolved), each sorted by code."""
    s = surveys.c
    answered = sa.func.count(s.score)
    satisfied = sa.func.sum(sa.case((s.score >= SATISFIED_FROM, 1), else_=0))
    query = (
        sa.select(s.department, s.assignee, sa.func.count(), answered, sa.func.sum(s.score), satisfied)
        .select_from(surveys.join(tickets, tickets.c.id == s.ticket_id))
        .where(*ticket_conditions(scope, department=s.department))
        .group_by(s.department, s.assignee)
    )
    by_department: dict[str, list[int]] = {}
    by_agent: dict[str, list[int]] = {}
    for department, assignee, *figures in conn.execute(query):
        values = [int(v or 0) for v in figures]
        for tally in (by_department.setdefault(department, [0, 0, 0, 0]), by_agent.setdefault(assignee, [0, 0, 0, 0])):
            for i, value in enumerate(values):
                tally[i] += value
    return Satisfaction(_satisfaction_rows(by_department), _satisfaction_rows(by_agent))


def _satisfaction_rows(tallies: dict[str, list[int]]) -> list[SatisfactionRow]:
    return [
        SatisfactionRow(key, sent, answered, mean(total, answered), happy, ratio(happy, answered))
        for key, (sent, answered, total, happy) in sorted(tallies.items())
    ]


@dataclass(frozen=True)
class CategoryRow:
    reason: str
    category: str
    units: int
    amount_cents: int


@dataclass(frozen=True)
class ReturnReasonRow:
    """Accepted returns of one reason: how many, the units taken back, the refunded amount (cents;
    an exchange refunds only the difference), and the units and amount per product category."""

    reason: str
    returns: int
    units: int
    refund_cents: int
    categories: list[CategoryRow] = field(default_factory=list)


def return_reasons(conn: Connection, scope: ReportScope) -> list[ReturnReasonRow]:
    """Accepted returns taken in (``at``) in scope at a store in scope, per reason: most units first,
    then by reason code; categories most units first, then by code. The same figures as
    ``GET /api/v1/returns/reasons`` (:func:`hq_server.returns_api.reasons_report`) for the same
    range and store, plus the amount per category. Empty for a scope of departments without the
    one that works returns."""
    if not department_allows(conn, scope, RETURNS_TICKET_TYPE):
        return []
    r, lines = returns.c, return_lines.c
    where = sa.and_(
        r.status == "accepted", r.at >= scope.start_ms, r.at < scope.end_ms, *store_conditions(scope, r.store_id)
    )
    per_reason = conn.execute(
        sa.select(r.reason, sa.func.count(), sa.func.sum(r.refund_cents)).where(where).group_by(r.reason)
    ).all()
    per_category = conn.execute(
        sa.select(r.reason, lines.category, sa.func.sum(lines.qty), sa.func.sum(lines.amount_cents))
        .select_from(returns.join(return_lines, lines.return_id == r.id))
        .where(where)
        .group_by(r.reason, lines.category)
    ).all()
    categories: dict[str, list[CategoryRow]] = {}
    for reason, category, units, amount in per_category:
        categories.setdefault(reason, []).append(CategoryRow(reason, category, int(units or 0), int(amount or 0)))
    rows = []
    for reason, count, refund in per_reason:
        found = sorted(categories.get(reason, []), key=lambda c: (-c.units, c.category))
        rows.append(ReturnReasonRow(reason, int(count), sum(c.units for c in found), int(refund or 0), found))
    rows.sort(key=lambda row: (-row.units, row.reason))
    return rows
