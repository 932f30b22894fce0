"""Tables as CSV that Excel opens right: UTF-8 with a byte-order mark, CRLF line ends.

Cells: ``None`` is empty, a bool ``true``/``false``, a number as Python writes it (``30``,
``3.67``), a list its items joined by spaces; text as it is, except that text starting with
``=``, ``+``, ``-``, ``@`` or a tab or carriage return gets a leading ``'`` so a spreadsheet never
runs it as a formula (CSV injection). The header is one row of labels.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

BOM = "\ufeff"
CONTENT_TYPE = "text/csv; charset=utf-8"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    """One value as CSV cell text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return " ".join(cell(item) for item in value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def to_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """The CSV text (BOM first) of a header row and the rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([cell(label) for label in header])
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return BOM + out.getvalue()


def to_csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """:func:`to_csv` encoded as UTF-8 (the BOM becomes ``EF BB BF``)."""
    return to_csv(header, rows).encode("utf-8")
