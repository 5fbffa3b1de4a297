"""Every command the API accepts can be carried to the writer process and back: requests
generated from the OpenAPI document's own request schemas (Schemathesis's generator, on
Hypothesis) for every command route of the API the test suite serves, whose writer runs in a
process of its own. The handlers run in the writer process (an unknown shipment is found unknown
there), so every generated command crosses the wire with all its fields. Whatever the request,
the answer is a documented status and never a server error, and the connection to the writer
serves the next command."""
from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from schemathesis.core import NotSet
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from tests.api.support import Api

COMMAND_METHODS = ("POST", "PUT", "PATCH")


@pytest.fixture(scope="module")
def command_operations(client: TestClient) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    return [op for op in operations if op.method.upper() in COMMAND_METHODS]


def test_every_command_route_is_exercised(command_operations: list[Any]) -> None:
    paths = {op.path for op in command_operations}
    assert {"/orders", "/shipments/{shipment_id}/deliver", "/orders/{order_id}/hold",
            "/returns/{return_id}/receive", "/stock/receipts", "/locations/{location_id}"} <= paths


def test_generated_commands_are_answered_without_server_errors(command_operations, client: TestClient,
                                                               secrets: dict[str, str]) -> None:
    for operation in command_operations:  # each its own budget of examples, however rare its body
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE))
        def answered(case: Any) -> None:
            body = {} if isinstance(case.body, NotSet) else {"json": case.body}
            response = client.request(case.method, case.formatted_path, params=case.query, **body,
                                      headers={**(case.headers or {}), "Authorization": f"Bearer {secrets['admin']}"})
            assert response.status_code < 500, (case.method, case.formatted_path, case.body, response.text)
            assert str(response.status_code) in operation.definition.raw["responses"], (
                case.method, case.formatted_path, response.status_code, response.text)

        answered()


def test_the_writer_connection_still_serves_commands_afterwards(integrator: Api) -> None:
    order = integrator.confirmed_order()
    assert integrator.post(f"/orders/{order['id']}/cancel", {"reason": "after the generated commands"}).status_code == 200
