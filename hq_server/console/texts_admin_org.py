"""Console texts of the admin_org screens: key -> (Simplified Chinese, English)."""

from __future__ import annotations

TEXTS: dict[str, tuple[str, str]] = {}
