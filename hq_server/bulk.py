"""Batched inserts and updates straight through the database driver.

SQLAlchemy processes every parameter of every row of an ``executemany`` in Python (about 10 µs a
row), which is most of the cost of a 2,000-op push. Here the statement is compiled once per
dialect and column set, and rows go to the driver's ``executemany`` as they are: callers pass
values the driver takes directly (str, int, float, bool, bytes, None; JSON already encoded with
:func:`json_text`).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

_json = msgspec.json.Encoder()
_WHERE = "where__"
_compiled: dict[tuple[str, str, str, tuple[str, ...]], tuple[str, tuple[str, ...] | None]] = {}


#: Most values bound in one ``IN (...)`` list.
IN_CHUNK = 500


def id_chunks(ids: Iterable[str]) -> Iterator[list[str]]:
    """The distinct non-empty ``ids`` in their order, in lists of at most :data:`IN_CHUNK`."""
    unique = list(dict.fromkeys(i for i in ids if i))
    for start in range(0, len(unique), IN_CHUNK):
        yield unique[start : start + IN_CHUNK]


def select_in(
    conn: Connection, table: sa.Table, columns: Sequence[str], key: str, ids: Iterable[str]
) -> Iterator[tuple[Any, ...]]:
    """The ``columns`` of the rows of ``table`` whose ``key`` is one of ``ids``, as the driver
    returns them (tuples; no SQLAlchemy result processing: JSON columns come as their text,
    booleans as SQLite gives them), one ``SELECT ... IN`` per :data:`IN_CHUNK` ids.

    Through SQLAlchemy, expanding the ``IN`` list and wrapping each row cost as much as the query
    itself (loading the tickets of a 2,000-op push)."""
    for chunk in id_chunks(ids):
        sql = _select_sql(conn, table, tuple(columns), key, len(chunk))
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, chunk)
            yield from cursor.fetchall()
        finally:
            cursor.close()


_selects: dict[tuple[str, str, tuple[str, ...], str], str] = {}
_IDS = "__ids__"


def _select_sql(conn: Connection, table: sa.Table, columns: tuple[str, ...], key: str, size: int) -> str:
    cache_key = (conn.dialect.name, table.name, columns, key)
    found = _selects.get(cache_key)
    if found is None:
        stmt = sa.select(*(table.c[name] for name in columns)).where(table.c[key].in_([sa.literal_column(_IDS)]))
        found = _selects[cache_key] = str(stmt.compile(dialect=conn.dialect))
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    return found.replace(_IDS, ", ".join([marker] * size))


def json_text(value: Any) -> str:
    """JSON text of a value, as :class:`hq_server.schema.JsonText` stores it."""
    return _json.encode(value).decode()


def _compile(
    conn: Connection, table: sa.Table, kind: str, keys: tuple[str, ...], where: str
) -> tuple[str, tuple[str, ...] | None]:
    cache_key = (conn.dialect.name, table.name, kind + where, keys)
    found = _compiled.get(cache_key)
    if found is None:
        stmt: sa.Insert | sa.Update
        if kind == "insert":
            stmt = table.insert().values({k: sa.bindparam(k) for k in keys})
        else:
            values: dict[str, Any] = {k: sa.bindparam(k) for k in keys}
            # A bind named like a SET column is reserved by SQLAlchemy, hence the prefix.
            stmt = table.update().where(table.c[where] == sa.bindparam(_WHERE + where)).values(values)
        compiled = stmt.compile(dialect=conn.dialect)
        positions = None
        if compiled.positional and compiled.positiontup:
            positions = tuple(name.removeprefix(_WHERE) for name in compiled.positiontup)
        found = (compiled.string, positions)
        _compiled[cache_key] = found
    return found


def _execute(conn: Connection, sql: str, positions: tuple[str, ...] | None, rows: Sequence[dict[str, Any]]) -> None:
    if positions is None:
        conn.exec_driver_sql(sql, list(rows))
        return
    values = operator.itemgetter(*positions)
    if len(positions) == 1:
        conn.exec_driver_sql(sql, [(values(row),) for row in rows])
    else:
        conn.exec_driver_sql(sql, [values(row) for row in rows])


def insert_many(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT ``rows`` (dicts with the same keys) into ``table`` in one ``executemany``."""
    if not rows:
        return
    sql, positions = _compile(conn, table, "insert", tuple(rows[0]), "")
    _execute(conn, sql, positions, rows)


def insert_values(conn: Connection, table: sa.Table, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]) -> None:
    """INSERT ``rows`` (value tuples in the order of ``columns``) into ``table`` in one
    ``executemany``: :func:`insert_many` without a dict per row, and with the tuples passed to
    the driver as they are (positional parameters in the order given, on every dialect)."""
    if rows:
        conn.exec_driver_sql(_values_sql(conn, table, columns, ""), list(rows))


def update_values(
    conn: Connection, table: sa.Table, key: str, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]
) -> None:
    """UPDATE ``columns`` of the ``table`` row whose ``key`` column equals each row's last value;
    the row's other values are those of ``columns``, in order. One ``executemany``."""
    if rows:
        conn.exec_driver_sql(_values_sql(conn, table, columns, key), list(rows))


_values_sqls: dict[tuple[str, str, tuple[str, ...], str], str] = {}


def _values_sql(conn: Connection, table: sa.Table, columns: tuple[str, ...], key: str) -> str:
    """``INSERT`` (no ``key``) or ``UPDATE ... WHERE key =`` text with positional markers."""
    cache_key = (conn.dialect.name, table.name, columns, key)
    found = _values_sqls.get(cache_key)
    if found is None:
        preparer = conn.dialect.identifier_preparer
        names = [preparer.quote(table.c[c].name) for c in columns]  # KeyError for a column it lacks
        target = preparer.format_table(table)
        marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        if key:
            assignments = ", ".join(f"{n} = {marker}" for n in names)
            found = f"UPDATE {target} SET {assignments} WHERE {preparer.quote(table.c[key].name)} = {marker}"
        else:
            found = f"INSERT INTO {target} ({', '.join(names)}) VALUES ({', '.join([marker] * len(names))})"
        _values_sqls[cache_key] = found
    return found


def update_many(
    conn: Connection, table: sa.Table, key: str, rows: Sequence[dict[str, Any]], *, columns: Sequence[str]
) -> None:
    """UPDATE the ``table`` row whose ``key`` column equals each row's ``key`` value, setting
    ``columns`` to the row's values (other keys of the rows are ignored). One ``executemany``."""
    if not rows:
        return
    sql, positions = _compile(conn, table, "update", tuple(columns), key)
    if positions is None:  # named parameters: the WHERE value goes under its own name
        rows = [{**row, _WHERE + key: row[key]} for row in rows]
    _execute(conn, sql, positions, rows)
