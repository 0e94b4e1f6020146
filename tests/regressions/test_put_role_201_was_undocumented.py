"""Bug: `PUT /roles/{name}` answers 201 when it creates a role, but the OpenAPI document listed only
200, so a client generated from the document (or schemathesis) treated the 201 as an error.

Now a route names its other success statuses (`Route.also`) and the document lists both.
"""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.integration.test_api import call


async def test_the_document_lists_the_201_the_route_answers(api: TestClient) -> None:
    _, document = await call(api, "GET", "/openapi.json", token=None)
    responses = document["paths"]["/roles/{name}"]["put"]["responses"]
    assert {"200", "201"} <= set(responses)
    assert responses["201"]["content"] == responses["200"]["content"]

    assert (await call(api, "PUT", "/roles/crew", {"permissions": ["view"]}))[0] == 201
    assert (await call(api, "PUT", "/roles/crew", {"permissions": ["view"]}))[0] == 200
