"""The product catalogue imported at HQ reaches the stores and answers there while HQ is away."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import StoreFactory
from tests.e2e.procs import Hq, storedesk, wait_until

pytestmark = pytest.mark.e2e

CSV = (
    "product_code,name_zh,name_en,price,colour,size\n"
    "JN-2041,修身牛仔裤,Slim jeans,299,蓝,M\n"
    "JN-2041,修身牛仔裤,Slim jeans,299,蓝,L\n"
)


def test_imported_catalogue_reaches_an_online_store_and_is_searchable_offline(
    hq: Hq, make_store: StoreFactory, tmp_path: Path
) -> None:
    store = make_store("SH050")
    wait_until(store.synced)
    csv_file = tmp_path / "products.csv"
    csv_file.write_text(CSV, encoding="utf-8")
    done = storedesk("hq", "import-products", str(csv_file), "--db", hq.db)
    assert done.returncode == 0, done.stderr

    def found() -> list[dict[str, object]]:
        items: list[dict[str, object]] = store.api.get("/api/v1/products", params={"q": "jn-20"}).json()["items"]
        return items

    items = wait_until(found, timeout=10)
    assert items[0]["code"] == "JN-2041" and items[0]["price"] == "299.00"
    assert [sku["size"] for sku in items[0]["skus"]] == ["M", "L"]  # type: ignore[index, union-attr]

    hq.stop()
    assert store.api.get("/api/v1/products", params={"q": "牛仔"}).json()["items"][0]["code"] == "JN-2041"
