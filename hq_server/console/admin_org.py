"""The console's administration screens (org); admin only (see hq_server/console/__init__.py).

    GET       /console/admin                      the index of every admin screen
    GET       /console/admin/users                accounts
    GET/POST  /console/admin/users/new            create an account
    GET/POST  /console/admin/users/{id}           edit an account
    POST      /console/admin/users/{id}/password  reset its password
    GET       /console/admin/stores               stores (region, address, contact, nodes)
    GET/POST  /console/admin/stores/{code}        edit a store; its nodes
    GET/POST  /console/admin/regions              regions; create one
    GET/POST  /console/admin/departments          departments; create or rename one
    GET/POST  /console/admin/enroll               issue a node token (shown once)
    GET       /console/admin/sync                 sync health of every store's nodes

Any other role gets the 403 page (forms too); not signed in, the sign-in page. Every form POST
has its CSRF token checked (403 page otherwise)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hq_server.console import admin_org_nodes, admin_org_stores, admin_org_users
from hq_server.console.admin_org_base import admin_caller, admin_page

#: (path, title key, description key) of every admin screen; the service ones are
#: hq_server/console/admin_service.py's.
SCREENS: list[tuple[str, list[tuple[str, str, str]]]] = [
    (
        "ao_group_org",
        [
            ("/console/admin/users", "ao_users", "ao_users_about"),
            ("/console/admin/stores", "ao_stores", "ao_stores_about"),
            ("/console/admin/regions", "ao_regions", "ao_regions_about"),
            ("/console/admin/departments", "ao_departments", "ao_departments_about"),
        ],
    ),
    (
        "ao_group_nodes",
        [
            ("/console/admin/enroll", "ao_enroll", "ao_enroll_about"),
            ("/console/admin/sync", "ao_sync", "ao_sync_about"),
        ],
    ),
    (
        "ao_group_service",
        [
            ("/console/admin/ticket-types", "ao_ticket_types", "ao_ticket_types_about"),
            ("/console/admin/routing", "ao_routing", "ao_routing_about"),
            ("/console/admin/sla", "ao_sla", "ao_sla_about"),
            ("/console/admin/return-policy", "ao_return_policy", "ao_return_policy_about"),
            ("/console/admin/thresholds", "ao_thresholds", "ao_thresholds_about"),
        ],
    ),
]


async def index(request: Request) -> Response:
    caller = await admin_caller(request)
    if isinstance(caller, Response):
        return caller
    return admin_page(request, caller, "console_admin.html", screens=SCREENS)


routes: list[BaseRoute] = [
    Route("/console/admin", index, methods=["GET"]),
    *admin_org_users.routes,
    *admin_org_stores.routes,
    *admin_org_nodes.routes,
]
