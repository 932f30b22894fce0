"""A store node tells HQ its outbox and its version on every pull and wait (sync health)."""

from __future__ import annotations

from tests.hq.helpers import Hq
from tests.hq.test_node_reports import reported
from tests.store.conftest import StoreFactory


def test_a_store_node_reports_its_outbox_and_version_when_it_syncs(hq: Hq, make_store: StoreFactory) -> None:
    store = make_store("SH001")
    store.sync()
    pending, protocol, client = reported(hq, store.enrollment.node_id)
    assert pending == 0 and protocol == 1 and client is not None and client.startswith("storedesk/")
