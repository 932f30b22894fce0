"""Reference data HQ owns (regions, stores, departments, ticket types): rows and log entries.

The ``put_*`` functions run inside a write transaction and are the only writers of these tables;
each writes the row and its change-log entry (global scope: every store pulls reference data).
The ``list_*`` functions are the reads the staff API and the rules need.
"""

from __future__ import annotations

from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server import changelog
from hq_server.schema import departments, regions, stores, ticket_forms, ticket_types
from sync_protocol.entities import encode_entity
from sync_protocol.forms import Form
from sync_protocol.hlc import HybridClock
from sync_protocol.messages import ReferenceItem
from sync_protocol.ops import new_id

#: Departments HQ starts with: code -> (Chinese name, English name).
DEFAULT_DEPARTMENTS: dict[str, tuple[str, str]] = {
    "qc": ("质检", "Quality control"),
    "it": ("IT", "IT"),
    "operations": ("运营", "Operations"),
    "warehouse": ("仓储", "Warehouse"),
    "finance": ("财务", "Finance"),
    "logistics": ("物流", "Logistics"),
    "claims": ("售后理赔", "Claims"),
    "cs": ("客服", "Customer service"),
}

#: The department a ticket type goes to unless routing decides otherwise.
DEFAULT_TYPE_DEPARTMENTS: dict[str, str] = {
    "quality": "qc",
    "equipment": "it",
    "display": "operations",
    "complaint": "cs",
    "after_sales": "claims",
    "stock": "warehouse",
    "other": "cs",
    "replenishment": "warehouse",
    "stock_exception": "operations",
    "refund": "finance",
    "return_exception": "finance",
}


def log_item(conn: Connection, clock: HybridClock, entity: str, item: ReferenceItem) -> None:
    """Append a reference item's new version to the change log (every store pulls it)."""
    changelog.append(conn, clock, [changelog.Entry(entity, item.id, None, None, encode_entity(item))])


def put_department(
    conn: Connection, clock: HybridClock, code: str, name_zh: str, name_en: str = "", *, sort: int = 0
) -> None:
    """Create or rename a department."""
    values = {"name_zh": name_zh, "name_en": name_en, "sort": sort, "active": True}
    _upsert(conn, departments, departments.c.code, code, values)
    item = ReferenceItem(id=code, code=code, name_zh=name_zh, name_en=name_en, attrs={"sort": sort, "active": True})
    log_item(conn, clock, "department", item)


def put_ticket_type(
    conn: Connection,
    clock: HybridClock,
    code: str,
    name_zh: str,
    name_en: str = "",
    *,
    default_department: str | None = None,
    sort: int = 0,
) -> None:
    """Create or change a ticket type."""
    values = {
        "name_zh": name_zh,
        "name_en": name_en,
        "default_department": default_department,
        "sort": sort,
        "active": True,
    }
    _upsert(conn, ticket_types, ticket_types.c.code, code, values)
    log_ticket_type(conn, clock, code)


def log_ticket_type(conn: Connection, clock: HybridClock, code: str) -> None:
    """Publish ticket type ``code`` as it stands, with its form, to every store."""
    row = conn.execute(sa.select(ticket_types).where(ticket_types.c.code == code)).mappings().one()
    attrs: dict[str, object] = {
        "default_department": row["default_department"] or "",
        "sort": row["sort"],
        "active": bool(row["active"]),
    }
    # (Migration 2 publishes the default types before migration 8 makes the forms table.)
    form = forms_of(conn).get(code) if sa.inspect(conn).has_table("ticket_forms") else None
    if form is not None and form.fields:
        attrs["form"] = msgspec.to_builtins(form)
    item = ReferenceItem(id=code, code=code, name_zh=row["name_zh"], name_en=row["name_en"], attrs=attrs)
    log_item(conn, clock, "ticket_type", item)


def forms_of(conn: Connection) -> dict[str, Form]:
    """The form of every ticket type that has one."""
    query = sa.select(ticket_forms.c.ticket_type, ticket_forms.c.form)
    return {str(code): msgspec.convert(form, Form) for code, form in conn.execute(query)}


def put_form(conn: Connection, clock: HybridClock, code: str, form: Form, now_ms: int) -> None:
    """Set the form of ticket type ``code`` and publish the type again."""
    conn.execute(ticket_forms.delete().where(ticket_forms.c.ticket_type == code))
    conn.execute(ticket_forms.insert().values(ticket_type=code, form=msgspec.to_builtins(form), updated_at=now_ms))
    log_ticket_type(conn, clock, code)


def ensure_region(conn: Connection, clock: HybridClock, code: str, now_ms: int) -> str:
    """The id of the region ``code``, created (and logged) if new."""
    found = conn.execute(sa.select(regions.c.id).where(regions.c.code == code)).scalar_one_or_none()
    if found is not None:
        return str(found)
    region_id = new_id()
    conn.execute(regions.insert().values(id=region_id, code=code, name=code, created_at=now_ms))
    log_item(conn, clock, "region", ReferenceItem(id=region_id, code=code, name_zh=code))
    return region_id


def ensure_store(
    conn: Connection,
    clock: HybridClock,
    code: str,
    *,
    name: str | None,
    region_id: str | None,
    now_ms: int,
) -> dict[str, Any]:
    """The store ``code`` as a row mapping, created if new; ``name``/``region_id`` update it."""
    # The columns of version 1 (enrolment also runs on a database of an older version in tests).
    columns = [stores.c[name] for name in ("id", "code", "name", "region_id", "address", "lat", "lon", "active")]
    row = conn.execute(sa.select(*columns).where(stores.c.code == code)).mappings().first()
    if row is None:
        values: dict[str, Any] = {
            "id": new_id(),
            "code": code,
            "name": name or code,
            "region_id": region_id,
            "address": "",
            "lat": None,
            "lon": None,
            "active": True,
            "created_at": now_ms,
            "updated_at": now_ms,
        }
        conn.execute(stores.insert().values(**values))
    else:
        values = dict(row)
        changed: dict[str, Any] = {}
        if name and name != values["name"]:
            changed["name"] = name
        if region_id and region_id != values["region_id"]:
            changed["region_id"] = region_id
        if not changed:
            return values
        changed["updated_at"] = now_ms
        conn.execute(stores.update().where(stores.c.id == values["id"]).values(**changed))
        values = find_store(conn, code) or {**values, **changed}
    log_item(conn, clock, "store", store_item(conn, values))
    return values


def store_item(conn: Connection, store: dict[str, Any]) -> ReferenceItem:
    """A store as reference data."""
    region_code = ""
    if store["region_id"]:
        region_code = str(
            conn.execute(sa.select(regions.c.code).where(regions.c.id == store["region_id"])).scalar_one()
        )
    attrs: dict[str, object] = {
        "region_id": store["region_id"] or "",
        "region_code": region_code,
        "address": store["address"],
        "lat": store["lat"],
        "lon": store["lon"],
        "contact": store.get("contact", ""),
        "phone": store.get("phone", ""),
        "active": bool(store["active"]),
    }
    return ReferenceItem(id=store["id"], code=store["code"], name_zh=store["name"], attrs=attrs)


def ticket_type_codes(conn: Connection) -> frozenset[str]:
    """Codes of every ticket type HQ knows."""
    return frozenset(str(code) for code in conn.execute(sa.select(ticket_types.c.code)).scalars())


def department_codes(conn: Connection) -> frozenset[str]:
    """Codes of every department HQ knows."""
    return frozenset(str(code) for code in conn.execute(sa.select(departments.c.code)).scalars())


def list_departments(conn: Connection) -> list[dict[str, Any]]:
    query = sa.select(departments).order_by(departments.c.sort, departments.c.code)
    return [dict(row) for row in conn.execute(query).mappings()]


def list_ticket_types(conn: Connection) -> list[dict[str, Any]]:
    query = sa.select(ticket_types).order_by(ticket_types.c.sort, ticket_types.c.code)
    return [dict(row) for row in conn.execute(query).mappings()]


def list_stores(conn: Connection) -> list[dict[str, Any]]:
    query = (
        sa.select(stores, regions.c.code.label("region_code"))
        .select_from(stores.outerjoin(regions, stores.c.region_id == regions.c.id))
        .order_by(stores.c.code)
    )
    return [dict(row) for row in conn.execute(query).mappings()]


#: A store's editable texts and their longest lengths; coordinates and their bounds (degrees).
STORE_TEXT_LIMITS: dict[str, int] = {"name": 80, "address": 500, "contact": 80, "phone": 32}
COORDINATE_BOUNDS: dict[str, float] = {"lat": 90.0, "lon": 180.0}


def update_store(
    conn: Connection, clock: HybridClock, key: str, values: dict[str, Any], now_ms: int
) -> dict[str, Any] | None:
    """Write ``values`` (checked columns) to the store ``key`` (code or id) and publish it to the
    stores; the store as it now is, or None when there is no such store."""
    store = find_store(conn, key)
    if store is None:
        return None
    if values:
        values = {**values, "updated_at": now_ms}
        conn.execute(stores.update().where(stores.c.id == store["id"]).values(**values))
        store = {**store, **values}
        log_item(conn, clock, "store", store_item(conn, store))
    return store


def find_store(conn: Connection, key: str) -> dict[str, Any] | None:
    """A store by code or id."""
    query = sa.select(stores).where(sa.or_(stores.c.code == key, stores.c.id == key))
    row = conn.execute(query).mappings().first()
    return dict(row) if row is not None else None


def _upsert(conn: Connection, table: sa.Table, key: sa.Column[Any], value: str, values: dict[str, Any]) -> None:
    updated = conn.execute(table.update().where(key == value).values(**values))
    if updated.rowcount == 0:
        conn.execute(table.insert().values({key.name: value, **values}))
