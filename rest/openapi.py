"""The OpenAPI 3.1 document, generated from the route table and the models of `rest.schemas`."""

from __future__ import annotations

import functools
import re
from typing import Any

from pydantic import BaseModel

from rest import schemas as s
from rest.routing import PATH_PARAMS, TOTAL_COUNT, Route

_REF = "#/components/schemas/{model}"


def _schema_ref(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=_REF)
    for name, definition in schema.pop("$defs", {}).items():
        components.setdefault(name, definition)
    components[model.__name__] = schema
    return {"$ref": _REF.format(model=model.__name__)}


def _query_parameters(model: type[BaseModel], components: dict[str, Any]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=_REF)
    for name, definition in schema.pop("$defs", {}).items():
        components.setdefault(name, definition)
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema.get("properties", {}).items():
        param: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": prop,
        }
        if "description" in prop:
            param["description"] = prop["description"]
        params.append(param)
    return params


@functools.cache
def openapi_document(routes: tuple[Route, ...]) -> dict[str, Any]:
    """The OpenAPI 3.1 document, generated from `routes` and the models of `rest.schemas`."""
    components: dict[str, Any] = {}
    error = _schema_ref(s.ErrorResponse, components)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": PATH_PARAMS[name][1]}
            for name in re.findall(r"\{(\w+)\}", route.path)
        ]
        parameters += _query_parameters(route.query, components)
        if route.response is None:
            answer: dict[str, Any] = {"type": "object"}
        elif route.many:
            answer = {"type": "array", "items": _schema_ref(route.response, components)}
        else:
            answer = _schema_ref(route.response, components)
        description = (route.handler.__doc__ or route.summary).strip()
        if route.permission is not None:
            description += (
                f"\n\nWith `actor_staff_id`, the staff member's role needs `{route.permission}`."
            )
        operation: dict[str, Any] = {
            "operationId": route.handler.__name__,
            "summary": route.summary,
            "description": description,
            "tags": [route.tag],
            "parameters": parameters,
            "responses": {
                **{
                    str(status): {
                        "description": "Created" if status == 201 else "OK",
                        "content": {"application/json": {"schema": answer}},
                    }
                    for status in (route.status, *route.also)
                },
                "4XX": {
                    "description": "Error",
                    "content": {"application/json": {"schema": error}},
                },
                "500": {
                    "description": "Internal error",
                    "content": {"application/json": {"schema": error}},
                },
            },
        }
        if route.total_count:
            operation["responses"][str(route.status)]["headers"] = {
                TOTAL_COUNT: {
                    "description": "how many match the filters, before limit and offset",
                    "schema": {"type": "integer", "minimum": 0},
                }
            }
        if route.request is not None:
            operation["requestBody"] = {
                "required": not route.body_optional,
                "content": {"application/json": {"schema": _schema_ref(route.request, components)}},
            }
        if route.permission is not None:
            operation["x-permission"] = route.permission.value
        if route.public:
            operation["security"] = []
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Dispatch bot REST API",
            "version": "1",
            "description": (
                "Bookings, fieldworkers and dispatch. Errors are "
                '`{"error": {"code", "message", "field"}}`. Times are ISO 8601 with an offset.'
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
