"""Products and their SKUs (size x colour): HQ's catalogue, imported from CSV, pulled by every store.

A product is reference data: :func:`import_products` is the only writer of ``products`` and
``skus``, and writes one change-log entry (entity ``product``, global scope) per product whose
row or SKUs changed, carrying the product with all its SKUs. Re-importing the same file changes
nothing and logs nothing.

CSV (UTF-8, a BOM is fine), one row per SKU, header names as below; optional columns may be left
out. ``sku_code`` defaults to ``product_code-colour-size``.

    product_code,name_zh,name_en,category,price,colour,size,sku_code,barcode,min_stock
    JN-2041,修身牛仔裤,Slim jeans,jeans,299.00,蓝,M,,6901234567890,3

``min_stock`` is the replenishment threshold of each SKU of the product at every store (a store's
own threshold, set through the API, wins); give it on the product's first row or leave it empty.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hq_server import changelog
from hq_server.db import Database
from hq_server.errors import InvalidInput
from hq_server.schema import products, skus
from sync_protocol.entities import encode_entity
from sync_protocol.hlc import HybridClock
from sync_protocol.messages import ReferenceItem

REQUIRED_COLUMNS = ("product_code", "name_zh", "colour", "size")
OPTIONAL_COLUMNS = ("name_en", "category", "price", "sku_code", "barcode", "min_stock")
MAX_MIN_STOCK = 100_000
CODE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: A SKU code may carry the colour and size as written (``JN-2041-蓝-M``): anything but spaces.
SKU_CODE_PATTERN = re.compile(r"\S{1,64}")
MAX_NAME = 120
MAX_ATTR = 40


@dataclass
class Sku:
    code: str
    colour: str
    size: str
    barcode: str = ""


@dataclass
class Product:
    code: str
    name_zh: str
    name_en: str = ""
    category: str = ""
    price_cents: int | None = None
    skus: list[Sku] = field(default_factory=list)
    min_stock: int | None = None


@dataclass(frozen=True)
class ImportSummary:
    products: int
    skus: int
    changed: int


def _bad(line: int, column: str, code: str = "invalid_csv_value", **params: object) -> InvalidInput:
    return InvalidInput(code, field=column, line=line, column=column, **params)


def _price_cents(line: int, text: str) -> int | None:
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _bad(line, "price") from None
    if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.01")) or value > Decimal("100000000"):
        raise _bad(line, "price")
    return int(value * 100)


def _min_stock(line: int, text: str) -> int | None:
    if not text:
        return None
    if not text.isdigit() or int(text) > MAX_MIN_STOCK:
        raise _bad(line, "min_stock")
    return int(text)


def _text(line: int, row: dict[str, str], column: str, limit: int, *, required: bool = False) -> str:
    value = (row.get(column) or "").strip()
    if required and not value:
        raise _bad(line, column, "csv_required")
    if len(value) > limit:
        raise _bad(line, column)
    return value


def _code(line: int, column: str, value: str, pattern: re.Pattern[str] = CODE_PATTERN) -> str:
    if not pattern.fullmatch(value):
        raise _bad(line, column)
    return value


def parse_csv(text: str) -> list[Product]:
    """Products from CSV text; :class:`InvalidInput` names the line and column of the first error."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    header = [name.strip() for name in reader.fieldnames or []]
    reader.fieldnames = header
    for column in REQUIRED_COLUMNS:
        if column not in header:
            raise InvalidInput("csv_missing_column", field=column, line=1, column=column)
    found: dict[str, Product] = {}
    seen_skus: set[str] = set()
    for line, row in enumerate(reader, start=2):
        if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
            continue  # a blank line
        code = _code(line, "product_code", _text(line, row, "product_code", 64, required=True))
        colour = _text(line, row, "colour", MAX_ATTR, required=True)
        size = _text(line, row, "size", MAX_ATTR, required=True)
        sku_code = _text(line, row, "sku_code", 64) or f"{code}-{colour}-{size}".replace(" ", "")
        _code(line, "sku_code", sku_code, SKU_CODE_PATTERN)
        if sku_code in seen_skus:
            raise _bad(line, "sku_code", "csv_duplicate_sku", value=sku_code)
        seen_skus.add(sku_code)
        product = found.get(code)
        if product is None:
            product = found[code] = Product(
                code=code,
                name_zh=_text(line, row, "name_zh", MAX_NAME, required=True),
                name_en=_text(line, row, "name_en", MAX_NAME),
                category=_text(line, row, "category", MAX_ATTR),
                price_cents=_price_cents(line, _text(line, row, "price", 20)),
            )
        threshold = _min_stock(line, _text(line, row, "min_stock", 10))
        if threshold is not None:
            product.min_stock = threshold
        if any(s.colour == colour and s.size == size for s in product.skus):
            raise _bad(line, "size", "csv_duplicate_sku", value=f"{code} {colour} {size}")
        product.skus.append(Sku(code=sku_code, colour=colour, size=size, barcode=_text(line, row, "barcode", 64)))
    return list(found.values())


def product_item(product: Product) -> ReferenceItem:
    """A product with its SKUs as reference data for the stores."""
    attrs: dict[str, object] = {
        "category": product.category,
        "price_cents": product.price_cents,
        "min_stock": product.min_stock,
        "skus": [{"code": s.code, "colour": s.colour, "size": s.size, "barcode": s.barcode} for s in product.skus],
    }
    return ReferenceItem(
        id=product.code, code=product.code, name_zh=product.name_zh, name_en=product.name_en, attrs=attrs
    )


def _load(conn: Connection, codes: Iterable[str] | None = None) -> dict[str, Product]:
    query = sa.select(products).order_by(products.c.code)
    sku_query = sa.select(skus).order_by(skus.c.product_code, skus.c.sort)
    if codes is not None:
        wanted = list(codes)
        query = query.where(products.c.code.in_(wanted))
        sku_query = sku_query.where(skus.c.product_code.in_(wanted))
    found = {
        row.code: Product(row.code, row.name_zh, row.name_en, row.category, row.price_cents, min_stock=row.min_stock)
        for row in conn.execute(query)
    }
    for row in conn.execute(sku_query):
        found[row.product_code].skus.append(Sku(row.code, row.colour, row.size, row.barcode))
    return found


def import_products(db: Database, clock: HybridClock, items: list[Product]) -> ImportSummary:
    """Create or update ``items`` (each with its full list of SKUs) in one transaction.

    A SKU code that belongs to another product is refused (nothing is written). A product's SKUs
    are replaced by the list imported; the entry the stores pull carries the whole list.
    """
    now_ms = time.time_ns() // 1_000_000
    changed = 0
    with db.write() as conn:
        current = _load(conn, [p.code for p in items])
        owners = _sku_owners(conn, [s.code for p in items for s in p.skus])
        entries: list[changelog.Entry] = []
        for product in items:
            for sku in product.skus:
                owner = owners.get(sku.code)
                if owner is not None and owner != product.code:
                    raise InvalidInput("sku_of_other_product", field="sku_code", value=sku.code, product=owner)
            before = current.get(product.code)
            if before == product:
                continue
            _write(conn, product, before, now_ms)
            entries.append(changelog.Entry("product", product.code, None, None, encode_entity(product_item(product))))
            changed += 1
        changelog.append(conn, clock, entries)
    return ImportSummary(products=len(items), skus=sum(len(p.skus) for p in items), changed=changed)


def _sku_owners(conn: Connection, codes: list[str]) -> dict[str, str]:
    owners: dict[str, str] = {}
    for start in range(0, len(codes), 500):
        query = sa.select(skus.c.code, skus.c.product_code).where(skus.c.code.in_(codes[start : start + 500]))
        owners.update({str(code): str(owner) for code, owner in conn.execute(query)})
    return owners


def _write(conn: Connection, product: Product, before: Product | None, now_ms: int) -> None:
    values = {
        "name_zh": product.name_zh,
        "name_en": product.name_en,
        "category": product.category,
        "price_cents": product.price_cents,
        "min_stock": product.min_stock,
        "updated_at": now_ms,
    }
    if before is None:
        conn.execute(products.insert().values(code=product.code, **values))
    else:
        conn.execute(products.update().where(products.c.code == product.code).values(**values))
        conn.execute(skus.delete().where(skus.c.product_code == product.code))
    rows = [
        {
            "code": s.code,
            "product_code": product.code,
            "colour": s.colour,
            "size": s.size,
            "barcode": s.barcode,
            "sort": n,
        }
        for n, s in enumerate(product.skus)
    ]
    if rows:
        conn.execute(skus.insert(), rows)


def list_products(
    conn: Connection, *, q: str = "", category: str = "", limit: int = 50, offset: int = 0
) -> tuple[list[Product], int]:
    """Products whose code starts with ``q`` or whose name contains it, by code; and the total."""
    where: list[Any] = []
    if q:
        pattern = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(
            sa.or_(
                products.c.code.ilike(f"{pattern}%", escape="\\"),
                products.c.name_zh.like(f"%{pattern}%", escape="\\"),
                products.c.name_en.ilike(f"%{pattern}%", escape="\\"),
            )
        )
    if category:
        where.append(products.c.category == category)
    total = int(conn.execute(sa.select(sa.func.count()).select_from(products).where(*where)).scalar_one())
    query = sa.select(products.c.code).where(*where).order_by(products.c.code).limit(limit).offset(offset)
    codes = [str(code) for code in conn.execute(query).scalars()]
    found = _load(conn, codes)
    return [found[code] for code in codes], total


def get_product(conn: Connection, code: str) -> Product | None:
    return _load(conn, [code]).get(code)
