"""The console's administration screens (service); admin only (see hq_server/console/__init__.py).

    /console/admin/ticket-types                 ticket types with their default department
    /console/admin/ticket-types/{code}          a type's form editor (POST .../form saves)
    /console/admin/routing                      routing rules in words, their JSON; POST saves
    /console/admin/routing/{id}                 POST: move up, move down, delete one rule
    /console/admin/sla                          SLA policies table and the calendars list
    /console/admin/sla/policies                 POST: save the policies table
    /console/admin/sla/calendars/{department}   a department's business hours (``*``: the default)
    /console/admin/return-policy                the return policy form and its summary
    /console/admin/thresholds                   replenishment thresholds by store; POST sets/removes

Every page and POST is for administrators only (the 403 page for any other role); every POST
carries the session's CSRF token and goes through the same validation as the settings API.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from hq_server.console import admin_service_routing, admin_service_sla, admin_service_stock, admin_service_types

routes: list[BaseRoute] = [
    *admin_service_types.routes,
    *admin_service_routing.routes,
    *admin_service_sla.routes,
    *admin_service_stock.routes,
]
