"""UI texts of the tickets screens: key -> (Simplified Chinese, English); merged into
:data:`store_node.ui.texts.UI_TEXTS`."""

from __future__ import annotations

TEXTS: dict[str, tuple[str, str]] = {}
