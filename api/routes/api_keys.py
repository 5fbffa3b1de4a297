"""API keys (admin only): the secret is shown once, at creation."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from api.deps import Admin, SystemDep
from api.pagination import LINK_HEADER, PageQuery, invalid_cursor, page_response
from api.problems import not_found, problem_responses
from api.responses import OrjsonResponse
from api.schemas import ApiKeyCreated, ApiKeyIn, ApiKeyList
from api.routing import GuardedRoute
from infrastructure.api_keys import ApiKey
from projections.queries import InvalidCursor, decode_cursor, page_of

router = APIRouter(prefix="/api-keys", tags=["api-keys"], route_class=GuardedRoute)


def key_document(key: ApiKey) -> dict[str, Any]:
    return {"id": str(key.id), "name": key.name, "role": key.role.value, "created_at": key.created_at,
            "revoked_at": key.revoked_at, "active": key.active,
            "channels": sorted(key.channels) if key.channels is not None else None}


@router.post("", status_code=201, response_model=ApiKeyCreated, responses=problem_responses(401, 403, 422, 503))
def create_api_key(body: ApiKeyIn, system: SystemDep, admin: Admin) -> OrjsonResponse:
    """Creates a key with a role; the response holds its secret, which is never shown again. An
    integrator key can be limited to ``channels``: it then places, reads, lists and changes only
    their orders (any other order is 404 to it, as one that does not exist)."""
    key, secret = system.api_keys.create(body.name, body.role, body.channels)
    return OrjsonResponse({**key_document(key), "secret": secret}, status_code=201,
                          headers={"Location": f"/api-keys/{key.id}", "Cache-Control": "no-store"})


@router.get("", response_model=ApiKeyList,
            responses={200: {"headers": LINK_HEADER}, **problem_responses(401, 403, 422, 503)})
def list_api_keys(request: Request, page: Annotated[PageQuery, Query()], system: SystemDep,
                  admin: Admin) -> OrjsonResponse:
    """Every key, active or revoked (never a secret), oldest first, a page at a time; follow
    ``next_cursor`` (or the ``Link: rel="next"`` header)."""
    try:
        after = decode_cursor(page.cursor) if page.cursor is not None else None
    except InvalidCursor:
        raise invalid_cursor() from None
    keys, next_cursor = page_of(system.api_keys.list(limit=page.limit + 1, after=after), page.limit,
                                lambda key: (key.created_at, key.id))
    return page_response(request, [key_document(k) for k in keys], next_cursor)


@router.delete("/{key_id}", status_code=204, response_class=Response,
               responses=problem_responses(401, 403, 404, 503))
def revoke_api_key(key_id: Annotated[str, Path(max_length=64)], system: SystemDep, admin: Admin) -> Response:
    """Revokes a key at once (revoking twice is fine)."""
    if not system.api_keys.revoke(key_id):
        raise not_found("API key", key_id)
    return Response(status_code=204)
