"""The language of an answer and the rendering of people-facing texts.

Texts live in :mod:`sync_protocol.texts` (Simplified Chinese by default, English on request);
this module picks the language from ``Accept-Language`` and fills in field and status names.
HQ and the store node render their answers with it.
"""

from __future__ import annotations

from sync_protocol.stock import ACTION_LABELS, TRANSFER_STATUS_LABELS
from sync_protocol.texts import DEFAULT_LANG, field_label, text
from sync_protocol.tickets import STATUS_LABELS


def lang_of(accept_language: str | None) -> str:
    """``en`` when the caller prefers English, else Chinese (the default)."""
    if accept_language and accept_language.strip().lower().startswith("en"):
        return "en"
    return DEFAULT_LANG


def status_label(status: str, lang: str = DEFAULT_LANG) -> str:
    """The people-facing name of a ticket status."""
    labels = STATUS_LABELS.get(status)
    if labels is None:
        return status
    return labels[1] if lang == "en" else labels[0]


def render(code: str, lang: str = DEFAULT_LANG, *, field: str | None = None, **params: object) -> str:
    """The text for ``code`` with the field's name and status names filled in."""
    values: dict[str, object] = dict(params)
    if field is not None:
        values.setdefault("field", field_label(field, lang))
    for key in ("from", "to"):
        status = values.get(f"{key}_status")
        if isinstance(status, str):
            values.setdefault(f"{key}_label", status_label(status, lang))
    for key, labels in (("status", TRANSFER_STATUS_LABELS), ("action", ACTION_LABELS)):
        value = values.get(key)
        if isinstance(value, str) and value in labels:
            values.setdefault(f"{key}_label", labels[value][1 if lang == "en" else 0])
    return text(code, lang, **values)
