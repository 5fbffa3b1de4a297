"""Authentication (Bearer API keys), roles, and API key management."""
from __future__ import annotations

import uuid

import pytest

from tests.api.support import Api, assert_problem, order_body


def test_missing_key_is_401_with_challenge(anonymous: Api) -> None:
    problem = assert_problem(anonymous.get("/orders"), 401)
    r = anonymous.get("/orders")
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert problem["instance"] == "/orders"


def test_invalid_key_is_401(client) -> None:
    r = Api(client, "oms_not-a-real-key").get("/orders")
    assert_problem(r, 401)
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_non_bearer_scheme_is_401(client, secrets) -> None:
    r = client.get("/orders", headers={"Authorization": f"Basic {secrets['admin']}"})
    assert_problem(r, 401)


def test_401_comes_before_validation(anonymous: Api) -> None:
    assert_problem(anonymous.post("/orders", {"nonsense": True}), 401)


ORDER_ID = str(uuid.uuid4())

# (role, method, path, body): requests each role may NOT make.
FORBIDDEN = [
    ("analyst", "POST", "/orders", order_body("X")),
    ("auditor", "POST", "/orders", order_body("X")),
    ("analyst", "POST", "/stock/receipts", {"location_id": "x", "sku": "y", "quantity": 1}),
    ("auditor", "PUT", "/locations/x", {"name": "x", "kind": "store", "latitude": 1.0, "longitude": 1.0}),
    ("auditor", "GET", "/stock/ANY", None),
    ("auditor", "GET", "/locations", None),
    ("analyst", "GET", f"/orders/{ORDER_ID}/history", None),
    ("integrator", "GET", f"/orders/{ORDER_ID}/history", None),
    ("analyst", "GET", f"/orders/{ORDER_ID}/as-of?at=2024-01-01T00:00:00Z", None),
    ("integrator", "GET", "/api-keys", None),
    ("auditor", "POST", "/api-keys", {"name": "x", "role": "admin"}),
    ("analyst", "DELETE", f"/api-keys/{ORDER_ID}", None),
    ("integrator", "GET", "/projections", None),
    ("auditor", "POST", "/shipments/shp_x_1/pick", {}),
]


@pytest.mark.parametrize(("role", "method", "path", "body"), FORBIDDEN)
def test_wrong_role_is_403(client, secrets, role, method, path, body) -> None:
    r = Api(client, secrets[role]).request(method, path, json=body)
    problem = assert_problem(r, 403)
    assert role in problem["detail"]


# (role, method, path): requests each role may make (here answered 200 or 404 for unknown things).
ALLOWED = [
    ("integrator", "GET", "/orders"),
    ("auditor", "GET", "/orders"),
    ("analyst", "GET", "/orders"),
    ("auditor", "GET", f"/orders/{ORDER_ID}"),
    ("analyst", "GET", f"/orders/{ORDER_ID}"),
    ("auditor", "GET", f"/orders/{ORDER_ID}/history"),
    ("auditor", "GET", f"/orders/{ORDER_ID}/as-of?at=2024-01-01T00:00:00Z"),
    ("analyst", "GET", "/stock/UNKNOWN-SKU"),
    ("integrator", "GET", "/stock/UNKNOWN-SKU"),
    ("analyst", "GET", "/locations"),
    ("admin", "GET", "/api-keys"),
    ("admin", "GET", "/projections"),
]


@pytest.mark.parametrize(("role", "method", "path"), ALLOWED)
def test_role_may(client, secrets, role, method, path) -> None:
    r = Api(client, secrets[role]).request(method, path)
    assert r.status_code in (200, 404), r.text


def test_api_key_lifecycle(admin: Api, client) -> None:
    r = admin.post("/api-keys", {"name": "shop connector", "role": "integrator"})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["role"] == "integrator" and created["active"] is True
    assert created["secret"].startswith("oms_")
    assert r.headers["location"] == f"/api-keys/{created['id']}"

    listed = admin.all_pages("/api-keys")
    mine = next(k for k in listed if k["id"] == created["id"])
    assert "secret" not in mine and mine["name"] == "shop connector"

    connector = Api(client, created["secret"])
    assert connector.get("/orders").status_code == 200
    assert_problem(connector.get("/api-keys"), 403)

    r = admin.delete(f"/api-keys/{created['id']}")
    assert r.status_code == 204 and r.content == b""
    assert_problem(connector.get("/orders"), 401)
    revoked = next(k for k in admin.all_pages("/api-keys") if k["id"] == created["id"])
    assert revoked["active"] is False and revoked["revoked_at"]


def test_revoking_unknown_key_is_404(admin: Api) -> None:
    assert_problem(admin.delete(f"/api-keys/{uuid.uuid4()}"), 404)
    assert_problem(admin.delete("/api-keys/not-a-uuid"), 404)


def test_api_key_input_is_validated(admin: Api) -> None:
    problem = assert_problem(admin.post("/api-keys", {"name": "x", "role": "superuser"}), 422)
    assert "/role" in [e["pointer"] for e in problem["errors"]]
    problem = assert_problem(admin.post("/api-keys", {"name": "x", "role": "admin", "secret": "mine"}), 422)
    assert "/secret" in [e["pointer"] for e in problem["errors"]]
