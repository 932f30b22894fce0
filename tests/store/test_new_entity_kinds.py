"""A store upgraded to a version that knows more entity kinds re-pulls its scope once, so what HQ
published while the older version skipped those kinds is not missing for good."""

from __future__ import annotations

from store_node import apply
from store_node.node import Node
from sync_protocol.entities import ENTITY_TYPES
from tests.hq.helpers import Hq
from tests.store.conftest import StoreFactory


def policy_rows(node: Node) -> int:
    row = node.replica.one("SELECT count(*) FROM return_policy")
    return int(row[0]) if row is not None else 0


def test_an_upgrade_that_knows_new_entity_kinds_re_pulls_what_was_skipped(hq: Hq, make_store: StoreFactory) -> None:
    assert hq.api("PUT", "/api/v1/return-policy", json={"no_reason_days": 14}).status_code == 200
    store = make_store("SH001")
    store.sync()
    assert policy_rows(store.node) == 1
    # As if an older version had pulled past the policy without knowing its kind.
    older = sorted(set(ENTITY_TYPES) - {"return_policy"})
    with store.node.replica.tx() as conn:
        conn.execute("DELETE FROM return_policy")
    store.node.replica.set(**{apply.ENTITY_KINDS_KEY: ",".join(older)})
    gen = store.node.replica.get_int("gen")
    store.sync()  # the upgraded version's first round
    assert policy_rows(store.node) == 1
    assert store.node.replica.get_int("gen") == gen + 1
    assert set(store.node.replica.get(apply.ENTITY_KINDS_KEY).split(",")) == set(ENTITY_TYPES)


def test_a_store_that_knows_every_kind_it_pulled_with_does_not_re_pull(hq: Hq, make_store: StoreFactory) -> None:
    store = make_store("SH001")
    store.sync()
    gen = store.node.replica.get_int("gen")
    store.sync()
    store.sync()
    assert store.node.replica.get_int("gen") == gen
