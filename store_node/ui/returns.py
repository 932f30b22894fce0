"""The clerk's returns screens (see store_node/ui/__init__.py)."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
