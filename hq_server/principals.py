"""Who is asking HQ, and what they may see: roles and scope (issue 8).

Scope is a tree, HQ → region → store, plus departments:

- ``admin``: everything, and the settings (users, stores, types, rules, policies).
- ``integration``: the admin token of the API (an integration, not a person): as ``admin``.
- ``cs_supervisor``: every ticket and every report; no settings.
- ``group_lead`` and ``agent``: the tickets of their departments and those shared with one of
  them; a group lead also sees their departments' reports and may reassign within them.
- ``regional_manager``: the stores of their regions (their tickets, stock, returns, reports).
- ``store_manager`` and ``clerk``: one store, at the store node (their accounts sync to it); HQ's
  console and staff API refuse them.

A :class:`Principal` is built once per request from the session cookie or the bearer token; the
handlers ask it, never the role name, whether something is in scope: a thing by id with the
``check_*`` methods (403 ``out_of_scope``, also for a guessed id), a list through the SQL conditions
(:meth:`Principal.ticket_condition`, :meth:`Principal.store_condition`) so pages and totals only
count what the caller may see.

Acting on tickets (edit, status, assignment, shares, internal notes, links, merges, new tickets)
needs :attr:`Principal.works_tickets`: a regional manager reads the tickets of their stores and may
comment on them (the comment reaches the store), nothing more (403 ``read_only``). The department a
user acts for (:meth:`Principal.acting_department`) must be one of theirs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server.errors import Forbidden
from hq_server.schema import stores, ticket_shares, tickets
from sync_protocol.tickets import TicketState

#: Role code -> (Chinese, English).
ROLE_LABELS: dict[str, tuple[str, str]] = {
    "admin": ("系统管理员", "Administrator"),
    "cs_supervisor": ("客服主管", "CS supervisor"),
    "group_lead": ("组长", "Group lead"),
    "agent": ("坐席", "Agent"),
    "regional_manager": ("区域经理", "Regional manager"),
    "store_manager": ("店长", "Store manager"),
    "clerk": ("店员", "Clerk"),
}
ROLES: tuple[str, ...] = tuple(ROLE_LABELS)
INTEGRATION = "integration"
#: Roles that work in HQ's console and staff API.
HQ_ROLES = frozenset({"admin", "cs_supervisor", "group_lead", "agent", "regional_manager"})
#: Roles of a store's staff (they sign in at their store node).
STORE_ROLES = frozenset({"store_manager", "clerk"})
_EVERYTHING = frozenset({"admin", INTEGRATION})
_ALL_TICKETS = _EVERYTHING | {"cs_supervisor"}
_DEPARTMENTAL = frozenset({"group_lead", "agent"})


@dataclass(frozen=True)
class Principal:
    """The caller of one request."""

    role: str
    #: The user's id and login name ("" for the integration token).
    user_id: str = ""
    username: str = ""
    display_name: str = ""
    departments: frozenset[str] = field(default_factory=frozenset)
    #: Region ids (regional managers).
    regions: frozenset[str] = field(default_factory=frozenset)
    #: The store of a store manager or clerk.
    store_id: str | None = None

    @property
    def is_admin(self) -> bool:
        """May change HQ's settings (users, stores, ticket types, rules, policies, tokens)."""
        return self.role in _EVERYTHING

    @property
    def sees_every_store(self) -> bool:
        """Not limited to some stores (a regional manager is; departmental roles are limited by
        department instead)."""
        return self.role != "regional_manager"

    @property
    def works_tickets(self) -> bool:
        """May act on tickets (reply, note, share, reassign, resolve), within scope."""
        return self.role in _ALL_TICKETS | _DEPARTMENTAL

    @property
    def sees_reports(self) -> bool:
        return self.role in _ALL_TICKETS | {"group_lead", "regional_manager"}

    def may_see_ticket(self, *, department: str, store_region: str | None, shared_with: Iterable[str] = ()) -> bool:
        """Whether a ticket of ``department``, at a store of ``store_region``, shared with the
        departments ``shared_with``, is in scope."""
        if self.role in _ALL_TICKETS:
            return True
        if self.role in _DEPARTMENTAL:
            return department in self.departments or not self.departments.isdisjoint(shared_with)
        if self.role == "regional_manager":
            return store_region is not None and store_region in self.regions
        return False

    def may_see_store(self, *, store_region: str | None) -> bool:
        """Whether a store (its stock, returns, orders, dashboards) is in scope."""
        if self.role == "regional_manager":
            return store_region is not None and store_region in self.regions
        return self.role in HQ_ROLES | {INTEGRATION}

    @property
    def sees_every_ticket(self) -> bool:
        return self.role in _ALL_TICKETS

    @property
    def is_departmental(self) -> bool:
        """Limited to the tickets of their departments (and those shared with them)."""
        return self.role in _DEPARTMENTAL

    def region_store_ids(self) -> sa.Select[tuple[str]]:
        """The ids of the stores of the principal's regions (a regional manager's stores)."""
        return sa.select(stores.c.id).where(stores.c.region_id.in_(sorted(self.regions)))

    def ticket_condition(self) -> sa.ColumnElement[bool] | None:
        """A condition on ``tickets`` that keeps the tickets in scope (None: all of them)."""
        if self.role in _ALL_TICKETS:
            return None
        if self.role in _DEPARTMENTAL:
            departments = sorted(self.departments)
            shared = sa.select(ticket_shares.c.ticket_id).where(ticket_shares.c.department.in_(departments))
            return sa.or_(tickets.c.department.in_(departments), tickets.c.id.in_(shared.scalar_subquery()))
        if self.role == "regional_manager":
            return tickets.c.store_id.in_(self.region_store_ids().scalar_subquery())
        return sa.false()

    def store_condition(self, column: sa.ColumnElement[str | None]) -> sa.ColumnElement[bool] | None:
        """A condition keeping the rows whose store (``column``) is in scope (None: every store)."""
        if self.role == "regional_manager":
            return column.in_(self.region_store_ids().scalar_subquery())
        if self.role in HQ_ROLES | {INTEGRATION}:
            return None
        return sa.false()

    def may_see_store_id(self, conn: Connection, store_id: str | None) -> bool:
        """:meth:`may_see_store` for a store by id (None: no store, e.g. an online order; only
        callers who see every store see those)."""
        if self.sees_every_store:
            return self.may_see_store(store_region=None)
        if not store_id:
            return False
        region = conn.execute(sa.select(stores.c.region_id).where(stores.c.id == store_id)).scalar_one_or_none()
        return self.may_see_store(store_region=None if region is None else str(region))

    def check_store(self, conn: Connection, store_id: str | None) -> None:
        """403 ``out_of_scope`` unless the store ``store_id`` is in scope."""
        if not self.may_see_store_id(conn, store_id):
            raise Forbidden("out_of_scope")

    def may_see_ticket_state(self, conn: Connection, ticket: TicketState) -> bool:
        """:meth:`may_see_ticket` for a stored ticket (its store's region and shares read as needed)."""
        if self.role in _ALL_TICKETS:
            return True
        region: str | None = None
        shared: list[str] = []
        if self.role == "regional_manager" and ticket.store_id:
            found = conn.execute(
                sa.select(stores.c.region_id).where(stores.c.id == ticket.store_id)
            ).scalar_one_or_none()
            region = None if found is None else str(found)
        if self.role in _DEPARTMENTAL and ticket.department not in self.departments:
            c = ticket_shares.c
            shared = [str(d) for d in conn.execute(sa.select(c.department).where(c.ticket_id == ticket.id)).scalars()]
        return self.may_see_ticket(department=ticket.department, store_region=region, shared_with=shared)

    def check_ticket(self, conn: Connection, ticket: TicketState) -> None:
        """403 ``out_of_scope`` unless ``ticket`` is in scope."""
        if not self.may_see_ticket_state(conn, ticket):
            raise Forbidden("out_of_scope")

    def check_works_tickets(self) -> None:
        """403 ``read_only`` for a caller who reads tickets but does not act on them."""
        if not self.works_tickets:
            raise Forbidden("read_only")

    def check_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("admin_only")

    def acting_department(self, asked: str | None, *, prefer: Iterable[str] = ()) -> str | None:
        """The department the caller acts for (None: HQ as a whole, who may do all).

        ``asked``: the ``X-StoreDesk-Department`` header. The integration token, an administrator
        and a CS supervisor act as HQ without it and may name any department with it. A group lead
        or agent must name one of their departments (403 ``not_your_department``); without the
        header they act for the first of ``prefer`` (e.g. the ticket's department, or the shared
        department whose task it is) that is theirs, else for their first department by code. A
        regional manager acts for none (403 ``read_only``)."""
        if self.role in _ALL_TICKETS:
            return asked
        if self.role in _DEPARTMENTAL:
            if asked is not None:
                if asked not in self.departments:
                    raise Forbidden("not_your_department", department=asked)
                return asked
            for department in prefer:
                if department in self.departments:
                    return department
            return min(self.departments) if self.departments else ""
        raise Forbidden("read_only")

    def label(self, lang: str = "zh") -> str:
        pair = ROLE_LABELS.get(self.role)
        if pair is None:
            return self.role
        return pair[1] if lang == "en" else pair[0]


#: The caller holding HQ's admin token (integrations, scripts, the tests' staff client).
INTEGRATION_PRINCIPAL = Principal(role=INTEGRATION, username="integration", display_name="API")
