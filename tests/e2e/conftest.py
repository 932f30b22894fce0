"""Fixtures for end-to-end tests: real HQ and store processes on loopback ports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.procs import Hq, Store, wait_until
from tests.e2e.proxy import FaultyProxy

StoreFactory = Callable[..., Store]


@pytest.fixture
def hq(tmp_path: Path) -> Iterator[Hq]:
    service = Hq(str(tmp_path / "hq.db"), tmp_path)
    service.start()
    yield service
    service.stop()
    service.api.close()


@pytest.fixture
def make_store(tmp_path: Path, hq: Hq) -> Iterator[StoreFactory]:
    started: list[Store] = []

    def factory(
        code: str = "SH012",
        *,
        hq_url: str | None = None,
        token: str | None = None,
        env: dict[str, str] | None = None,
        start: bool = True,
        wait_enrolled: bool = True,
    ) -> Store:
        token = token or hq.enroll(code, name=f"{code} 门店", region="east")
        store = Store(code, hq_url or hq.url, token, tmp_path / code, tmp_path, env)
        started.append(store)
        if start:
            store.start()
            if wait_enrolled:
                # A new PC learns its identity (node, store code) from its first hello with HQ.
                wait_until(lambda: store.sync_status()["enrolled"], timeout=15)
        return store

    yield factory
    for store in started:
        store.stop()
        store.api.close()


@pytest.fixture
def proxy(hq: Hq) -> Iterator[FaultyProxy]:
    service = FaultyProxy(hq.url)
    service.start()
    yield service
    service.stop()
