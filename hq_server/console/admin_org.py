"""The console's administration screens (org); admin only (see hq_server/console/__init__.py)."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
