"""The replica's returns, the synced return policy and the orders a return is checked against:
the reads :mod:`store_node.return_actions`, :mod:`store_node.return_views` and
:mod:`store_node.apply` share."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import msgspec

from store_node.errors import NotFound
from store_node.node import Node
from store_node.replica import in_chunks
from sync_protocol.errors import InvalidField
from sync_protocol.orders import FoundOrder, OrderState
from sync_protocol.return_policy import ReturnPolicy, parse_policy
from sync_protocol.returns import ReturnState

#: The id of the chain's policy (entity ``return_policy``).
POLICY_ID = "chain"
_state_decoder = msgspec.json.Decoder(ReturnState)
_order_decoder = msgspec.json.Decoder(OrderState)
_policy_decoder = msgspec.json.Decoder(ReturnPolicy)


def encode_return(state: ReturnState) -> str:
    return msgspec.json.encode(state).decode()


def decode_return(row: sqlite3.Row) -> ReturnState:
    """The state in a row's ``data``; the row's number, status and code win (a refusal marks the
    status first; a number HQ gave another return is moved aside in the row)."""
    state = _state_decoder.decode(row["data"])
    return msgspec.structs.replace(state, number=row["number"], status=row["status"], code=row["code"])


def find_return(node: Node, key: str) -> ReturnState:
    """A return of the replica by id or number; :class:`NotFound` when it has neither."""
    row = node.replica.one(
        "SELECT * FROM returns WHERE id = ? OR number = ? ORDER BY id = ? DESC LIMIT 1", (key, key, key)
    )
    if row is None:
        raise NotFound(f"no return {key}", code="return_not_found", value=key)
    return decode_return(row)


def pending_units(node: Node, order_ids: Sequence[str]) -> dict[str, dict[int, int]]:
    """Per order, line_no -> units in this store's returns HQ has not decided yet."""
    found: dict[str, dict[int, int]] = {}
    for chunk, marks in in_chunks(list(dict.fromkeys(order_ids))):
        for r in node.replica.query(
            "SELECT r.order_id, json_extract(l.value, '$.line_no') AS line_no,"
            " sum(json_extract(l.value, '$.qty')) AS qty FROM returns AS r, json_each(r.data, '$.lines') AS l"
            f" WHERE r.status = 'pending' AND r.order_id IN ({marks}) GROUP BY r.order_id, line_no",
            tuple(chunk),
        ):
            found.setdefault(r["order_id"], {})[int(r["line_no"])] = int(r["qty"])
    return found


def local_policy(node: Node) -> tuple[ReturnPolicy, str]:
    """The chain's policy as last synced (``"hq"``), else HQ's defaults (``"default"``)."""
    row = node.replica.one("SELECT data FROM return_policy WHERE id = ?", (POLICY_ID,))
    if row is None:
        return ReturnPolicy(), "default"
    try:
        return parse_policy(_policy_decoder.decode(row["data"])), "hq"
    except (msgspec.DecodeError, msgspec.ValidationError, InvalidField):
        return ReturnPolicy(), "default"


def find_order(node: Node, key: str) -> FoundOrder:
    """An order of the replica (own or looked up) by number or id; 404 ``order_not_found``."""
    row = node.replica.one(
        "SELECT data, store_code, store_name FROM orders WHERE number = ? OR id = ? ORDER BY number = ? DESC LIMIT 1",
        (key, key, key),
    )
    if row is None:
        raise NotFound(f"no order {key}", code="order_not_found", value=key)
    return FoundOrder(
        order=_order_decoder.decode(row["data"]), store_code=row["store_code"], store_name=row["store_name"]
    )
