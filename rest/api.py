"""The REST API under `/api/v1` (CONTRACT §4): an aiohttp sub-application over the dispatch core.

One route table (`ROUTES`, below: the table of contents of the API) drives both the router and the
OpenAPI document; the bodies, query strings and answers are the pydantic models of `rest.schemas`.
Every request goes through:

1. the error middleware (`rest.errors`): every error is `{"error": {"code", "message", "field"}}`;
2. the auth middleware (`rest.routing`): `Authorization: Bearer $API_TOKEN` (only `openapi.json`
   is public);
3. `rest.routing.endpoint`: query and body validation (nothing is written for a bad input), the
   actor (`actor_staff_id`, else the integrator with full rights), the booking of a
   `/bookings/{id}` path, and the route's permission (roles are read from the database on every
   call);
4. the view (one module per resource: `rest.settings`, `rest.services`, `rest.fieldworkers`,
   `rest.staff`, `rest.bookings`, `rest.booking_actions`, `rest.templates`): every write happens
   inside one `ctx.tx.run(...)` (one transaction, retried on a transient conflict, with the outbox
   rows of the core's events).

A refused permission on a booking is recorded as a `permission_refused` history row, in its own
transaction, and nothing else changes.
"""

from __future__ import annotations

from aiohttp import web

from dispatch.model import Permission
from dispatch.settings import CompanySettings
from rest import booking_actions, bookings, fieldworkers, services, settings, staff, templates
from rest import schemas as s
from rest.errors import error_middleware
from rest.openapi import openapi_document
from rest.routing import (
    OPENAPI_ROUTE,
    ApiContext,
    Call,
    Route,
    auth_middleware,
    endpoint,
    router_path,
)

__all__ = ["ROUTES", "ApiContext", "create_api"]


async def get_openapi(_call: Call) -> web.StreamResponse:
    """This API's OpenAPI 3.1 document (public)."""
    return web.json_response(openapi_document(ROUTES))


# -- the route table and the app ------------------------------------------------------------------

_SETTINGS = Permission.MANAGE_SETTINGS

ROUTES: tuple[Route, ...] = (
    Route("GET", "/openapi.json", get_openapi, "OpenAPI document", permission=None, public=True),
    Route("GET", "/settings", settings.get_settings, "Company settings", response=CompanySettings),
    Route(
        "PUT",
        "/settings",
        settings.put_settings,
        "Change company settings",
        request=s.SettingsUpdate,
        response=CompanySettings,
        permission=_SETTINGS,
    ),
    Route(
        "POST",
        "/services",
        services.create_service,
        "Add a service",
        request=s.ServiceIn,
        response=s.ServiceOut,
        status=201,
        permission=_SETTINGS,
    ),
    Route(
        "GET",
        "/services",
        services.list_services,
        "List services",
        response=s.ServiceOut,
        many=True,
        query=s.PageQuery,
    ),
    Route("GET", "/services/{id}", services.get_service, "Get a service", response=s.ServiceOut),
    Route(
        "PATCH",
        "/services/{id}",
        services.patch_service,
        "Change a service",
        request=s.ServicePatch,
        response=s.ServiceOut,
        permission=_SETTINGS,
    ),
    Route(
        "POST",
        "/fieldworkers",
        fieldworkers.create_fieldworker,
        "Add a fieldworker",
        request=s.FieldworkerIn,
        response=s.FieldworkerOut,
        status=201,
        permission=_SETTINGS,
    ),
    Route(
        "GET",
        "/fieldworkers",
        fieldworkers.list_fieldworkers,
        "List fieldworkers",
        response=s.FieldworkerOut,
        many=True,
        query=s.PageQuery,
    ),
    Route(
        "GET",
        "/fieldworkers/{id}",
        fieldworkers.get_fieldworker,
        "Get a fieldworker",
        response=s.FieldworkerOut,
    ),
    Route(
        "PATCH",
        "/fieldworkers/{id}",
        fieldworkers.patch_fieldworker,
        "Change a fieldworker",
        request=s.FieldworkerPatch,
        response=s.FieldworkerOut,
        permission=_SETTINGS,
    ),
    Route(
        "POST",
        "/staff",
        staff.create_staff,
        "Add a staff member",
        request=s.StaffIn,
        response=s.StaffOut,
        status=201,
        permission=_SETTINGS,
    ),
    Route(
        "GET",
        "/staff",
        staff.list_staff,
        "List staff",
        response=s.StaffOut,
        many=True,
        query=s.PageQuery,
    ),
    Route("GET", "/staff/{id}", staff.get_staff, "Get a staff member", response=s.StaffOut),
    Route(
        "PATCH",
        "/staff/{id}",
        staff.patch_staff,
        "Change a staff member",
        request=s.StaffPatch,
        response=s.StaffOut,
        permission=_SETTINGS,
    ),
    Route("GET", "/roles", staff.list_roles, "List roles", response=s.RoleOut, many=True),
    Route("GET", "/roles/{name}", staff.get_role, "Get a role", response=s.RoleOut),
    Route(
        "PUT",
        "/roles/{name}",
        staff.put_role,
        "Create or replace a role",
        request=s.RoleIn,
        response=s.RoleOut,
        also=(201,),
        permission=_SETTINGS,
    ),
    Route(
        "POST",
        "/bookings",
        bookings.create_booking,
        "Create a booking",
        request=s.BookingIn,
        response=s.BookingOut,
        status=201,
        permission=Permission.SEND_REQUESTS,
    ),
    Route(
        "GET",
        "/bookings",
        bookings.list_bookings,
        "List bookings, newest first",
        response=s.BookingOut,
        many=True,
        query=s.BookingListQuery,
        total_count=True,
    ),
    Route("GET", "/bookings/{id}", bookings.get_booking, "Get a booking", response=s.BookingOut),
    Route(
        "PATCH",
        "/bookings/{id}",
        bookings.patch_booking,
        "Change or cancel a booking",
        request=s.BookingPatch,
        response=s.BookingOut,
        permission=Permission.ASSIGN,
    ),
    Route(
        "GET",
        "/bookings/{id}/available-fieldworkers",
        booking_actions.available_fieldworkers,
        "Eligible and excluded fieldworkers for a job",
        response=s.AvailableOut,
        query=s.AvailableQuery,
    ),
    Route(
        "POST",
        "/bookings/{id}/job-requests",
        booking_actions.send_job_requests,
        "Send job requests to chosen fieldworkers",
        request=s.JobRequestsIn,
        response=s.SendOut,
        permission=Permission.SEND_REQUESTS,
    ),
    Route(
        "POST",
        "/bookings/{id}/assign",
        booking_actions.assign_booking,
        "Assign or reassign jobs",
        request=s.AssignIn,
        response=s.AssignOut,
        permission=Permission.ASSIGN,
    ),
    Route(
        "POST",
        "/fieldworkers/{id}/invite-code",
        fieldworkers.regenerate_invite_code,
        "Issue a fresh invite code",
        response=s.FieldworkerOut,
        permission=_SETTINGS,
    ),
    Route(
        "POST",
        "/fieldworkers/{id}/reassign",
        fieldworkers.reassign_fieldworker,
        "Re-dispatch a fieldworker's assigned jobs in a time range",
        request=s.ReassignIn,
        response=s.ReassignOut,
        permission=Permission.ASSIGN,
    ),
    Route(
        "POST",
        "/bookings/{id}/respond",
        booking_actions.respond_booking,
        "Respond on a fieldworker's behalf",
        request=s.RespondIn,
        response=s.RespondOut,
        permission=Permission.RESPOND_ON_BEHALF,
    ),
    Route(
        "POST",
        "/bookings/{id}/rebroadcast",
        booking_actions.rebroadcast_booking,
        "Ask eligible fieldworkers not yet asked",
        request=s.RebroadcastIn,
        body_optional=True,
        response=s.RebroadcastOut,
        permission=Permission.SEND_REQUESTS,
    ),
    Route(
        "POST",
        "/bookings/{id}/complete",
        booking_actions.complete_booking,
        "Mark assigned jobs completed",
        request=s.CompleteIn,
        body_optional=True,
        response=s.BookingOut,
        permission=Permission.ASSIGN,
    ),
    Route(
        "GET",
        "/bookings/{id}/history",
        booking_actions.booking_history,
        "A booking's history, oldest first",
        response=s.HistoryOut,
        many=True,
    ),
    Route(
        "GET",
        "/templates",
        templates.list_templates,
        "List every message template (a JSON list, one per event and channel)",
        response=s.TemplateOut,
        many=True,
    ),
    Route(
        "GET",
        "/templates/{event}/{channel}",
        templates.get_template,
        "Get the template in force for an event and channel",
        response=s.TemplateOut,
    ),
    Route(
        "PUT",
        "/templates/{event}/{channel}",
        templates.put_template,
        "Replace a template (checked first; 422 names each problem's line)",
        request=s.TemplateIn,
        response=s.TemplateOut,
        permission=_SETTINGS,
    ),
    Route(
        "DELETE",
        "/templates/{event}/{channel}",
        templates.delete_template,
        "Restore the default template",
        response=s.TemplateOut,
        permission=_SETTINGS,
    ),
    Route(
        "POST",
        "/templates/{event}/{channel}/preview",
        templates.preview_template,
        "Render a template with a booking's data or sample data",
        request=s.PreviewIn,
        body_optional=True,
        response=s.PreviewOut,
    ),
    Route(
        "GET",
        "/notifications",
        booking_actions.list_notifications,
        "Outbox entries",
        response=s.NotificationOut,
        many=True,
        query=s.NotificationQuery,
    ),
)


def create_api(ctx: ApiContext) -> web.Application:
    """The `/api/v1` sub-application (mount with `app.add_subapp("/api/v1", create_api(ctx))`)."""
    app = web.Application(middlewares=[error_middleware, auth_middleware(ctx.api_token)])
    for route in ROUTES:
        app.router.add_route(
            route.method,
            router_path(route.path),
            endpoint(ctx, route),
            name=OPENAPI_ROUTE if route.public else None,
        )
    return app
