"""Console texts of the reports screens: key -> (Simplified Chinese, English)."""

from __future__ import annotations

TEXTS: dict[str, tuple[str, str]] = {}
