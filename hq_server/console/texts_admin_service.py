"""Console texts of the admin_service screens: key -> (Simplified Chinese, English)."""

from __future__ import annotations

TEXTS: dict[str, tuple[str, str]] = {}
