"""The product catalogue: CSV import, the staff API, and what stores pull (hq_server.products)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hq_server import products
from hq_server.errors import InvalidInput
from sync_protocol.entities import decode_entity
from tests.hq.helpers import Hq

CSV = """\ufeffproduct_code,name_zh,name_en,category,price,colour,size,barcode
JN-2041,修身牛仔裤,Slim jeans,jeans,299.00,蓝,S,6901
JN-2041,修身牛仔裤,Slim jeans,jeans,299.00,蓝,M,6902
JN-2041,修身牛仔裤,Slim jeans,jeans,299.00,黑,M,

KN-1180,针织衫,Knit sweater,knitwear,199.5,灰,L,
"""


def product_changes(hq: Hq) -> dict[str, object]:
    node = hq.enroll("SH001")
    changes, _ = node.pull_all()
    return {c.entity_id: decode_entity("product", c.data) for c in changes if c.entity == "product"}


def test_csv_rows_become_products_with_their_skus() -> None:
    found = products.parse_csv(CSV)
    assert [p.code for p in found] == ["JN-2041", "KN-1180"]
    jeans = found[0]
    assert jeans.price_cents == 29900 and jeans.category == "jeans"
    assert [(s.code, s.colour, s.size, s.barcode) for s in jeans.skus] == [
        ("JN-2041-蓝-S", "蓝", "S", "6901"),
        ("JN-2041-蓝-M", "蓝", "M", "6902"),
        ("JN-2041-黑-M", "黑", "M", ""),
    ]
    assert found[1].price_cents == 19950


@pytest.mark.parametrize(
    ("text", "code", "field", "line"),
    [
        ("product_code,name_zh,colour\nA,甲,红\n", "csv_missing_column", "size", 1),
        ("product_code,name_zh,colour,size\nA,甲,红,\n", "csv_required", "size", 2),
        ("product_code,name_zh,colour,size,price\nA,甲,红,M,9.9\nB,乙,红,M,abc\n", "invalid_csv_value", "price", 3),
        ("product_code,name_zh,colour,size,price\nA,甲,红,M,-1\n", "invalid_csv_value", "price", 2),
        ("product_code,name_zh,colour,size,price\nA,甲,红,M,1.234\n", "invalid_csv_value", "price", 2),
        ("product_code,name_zh,colour,size,price\nA,甲,红,M,NaN\n", "invalid_csv_value", "price", 2),
        ("product_code,name_zh,colour,size,price\nA,甲,红,M,Infinity\n", "invalid_csv_value", "price", 2),
        ("product_code,name_zh,colour,size\nA B,甲,红,M\n", "invalid_csv_value", "product_code", 2),
        ("product_code,name_zh,colour,size\nA,甲,红,M\nA,甲,红,M\n", "csv_duplicate_sku", "sku_code", 3),
    ],
)
def test_bad_csv_is_refused_naming_line_and_column(text: str, code: str, field: str, line: int) -> None:
    with pytest.raises(InvalidInput) as info:
        products.parse_csv(text)
    assert (info.value.code, info.value.field, info.value.params["line"]) == (code, field, line)


def test_imported_products_reach_every_store_with_their_skus(hq: Hq) -> None:
    done = products.import_products(hq.ctx.db, hq.ctx.clock, products.parse_csv(CSV))
    assert (done.products, done.skus, done.changed) == (2, 4, 2)
    pulled = product_changes(hq)
    jeans = pulled["JN-2041"]
    assert jeans.name_zh == "修身牛仔裤"  # type: ignore[attr-defined]
    assert [s["size"] for s in jeans.attrs["skus"]] == ["S", "M", "M"]  # type: ignore[attr-defined]


def test_reimporting_the_same_file_changes_and_logs_nothing(hq: Hq) -> None:
    products.import_products(hq.ctx.db, hq.ctx.clock, products.parse_csv(CSV))
    node = hq.enroll("SH001")
    _, cursor = node.pull_all()
    again = products.import_products(hq.ctx.db, hq.ctx.clock, products.parse_csv(CSV))
    assert again.changed == 0
    assert node.pull(cursor).changes == []


def test_changed_product_is_logged_again_with_its_new_sku_list(hq: Hq) -> None:
    products.import_products(hq.ctx.db, hq.ctx.clock, products.parse_csv(CSV))
    node = hq.enroll("SH001")
    _, cursor = node.pull_all()
    update = "product_code,name_zh,price,colour,size\nKN-1180,针织开衫,219,灰,XL\n"
    done = products.import_products(hq.ctx.db, hq.ctx.clock, products.parse_csv(update))
    assert done.changed == 1
    changes, _ = node.pull_all(cursor)
    assert [c.entity_id for c in changes if c.entity == "product"] == ["KN-1180"]
    knit = hq.api("GET", "/api/v1/products/KN-1180").json()
    assert knit["name_zh"] == "针织开衫" and knit["price"] == "219.00"
    assert [s["size"] for s in knit["skus"]] == ["XL"]


def test_sku_code_of_another_product_is_refused_and_nothing_is_written(hq: Hq) -> None:
    products.import_products(hq.ctx.db, hq.ctx.clock, products.parse_csv(CSV))
    clash = "product_code,name_zh,colour,size,sku_code\nNEW-1,新品,白,M,JN-2041-蓝-S\n"
    with pytest.raises(InvalidInput) as info:
        products.import_products(hq.ctx.db, hq.ctx.clock, products.parse_csv(clash))
    assert info.value.code == "sku_of_other_product"
    assert hq.api("GET", "/api/v1/products/NEW-1").status_code == 404


def test_staff_api_searches_products_by_code_prefix_name_and_category(hq: Hq) -> None:
    products.import_products(hq.ctx.db, hq.ctx.clock, products.parse_csv(CSV))
    by_code = hq.api("GET", "/api/v1/products", params={"q": "jn-"}).json()
    assert [p["code"] for p in by_code["items"]] == ["JN-2041"] and by_code["total"] == 1
    by_name = hq.api("GET", "/api/v1/products", params={"q": "针织"}).json()
    assert [p["code"] for p in by_name["items"]] == ["KN-1180"]
    by_category = hq.api("GET", "/api/v1/products", params={"category": "jeans"}).json()
    assert [p["code"] for p in by_category["items"]] == ["JN-2041"]
    assert hq.api("GET", "/api/v1/products", params={"q": "%"}).json()["items"] == []
    missing = hq.api("GET", "/api/v1/products/NOPE")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "product_not_found"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "storedesk_cli", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_import_products_command_reports_counts_and_bad_files_without_a_traceback(tmp_path: Path) -> None:
    db = str(tmp_path / "hq.db")
    good = tmp_path / "products.csv"
    good.write_text(CSV, encoding="utf-8")
    done = cli("hq", "import-products", str(good), "--db", db)
    assert done.returncode == 0, done.stderr
    assert "2" in done.stdout and "4" in done.stdout

    bad = tmp_path / "bad.csv"
    bad.write_text("product_code,name_zh,colour,size,price\nA,甲,红,M,abc\n", encoding="utf-8")
    refused = cli("hq", "import-products", str(bad), "--db", db)
    assert refused.returncode == 2
    assert "第 2 行" in refused.stderr and "Traceback" not in refused.stderr

    missing = cli("hq", "import-products", str(tmp_path / "nope.csv"), "--db", db)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
