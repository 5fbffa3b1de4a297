"""Outbound webhooks (admin): endpoints, their signing secrets, deliveries, retries and replays.

What is sent and when is application/webhook_events.py; how it is owed and sent,
infrastructure/webhooks/ (docs/webhooks.md)."""
from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import Field

from api.deps import Admin, SystemDep
from api.pagination import LINK_HEADER, PageQuery, invalid_cursor, page_response
from api.problems import ProblemException, not_found, problem_responses
from api.responses import OrjsonResponse
from api.routing import GuardedRoute
from api.webhook_schemas import (
    DeliveryDetail,
    DeliveryList,
    DeliveryOut,
    DeliveryStatus,
    EndpointIn,
    EndpointList,
    EndpointOut,
    EndpointPatch,
    EndpointWithSecret,
    ReplayIn,
    ReplayOut,
)
from infrastructure.webhooks.addresses import refusal_of_url
from infrastructure.webhooks.store import BeyondHead, NotRetryable
from projections.queries import InvalidCursor, cursor_key, encode_cursor

router = APIRouter(prefix="/webhooks", tags=["webhooks"], route_class=GuardedRoute)

EndpointPath = Annotated[UUID, Path(description="the endpoint's id")]
DeliveryPath = Annotated[int, Path(ge=1, le=2**62, description="the delivery's id")]
NO_STORE = {"Cache-Control": "no-store"}


def _refuse_unless_public(system: Any, url: str) -> None:
    """422 for a URL that leads to a loopback, private or link-local address (SSRF), unless
    OMS_WEBHOOKS_ALLOW_PRIVATE allows them."""
    if system.settings.webhooks_allow_private:
        return
    reason = refusal_of_url(url)
    if reason is not None:
        raise ProblemException(422, f"the URL is refused: {reason}", title="Invalid input",
                               slug="webhook-url-refused", errors=[{"pointer": "/url", "detail": reason}])


def _endpoint_or_404(endpoint: dict[str, Any] | None, endpoint_id: UUID) -> dict[str, Any]:
    if endpoint is None:
        raise not_found("webhook endpoint", endpoint_id)
    return endpoint


@router.post("/endpoints", status_code=201, response_model=EndpointWithSecret,
             responses=problem_responses(401, 403, 422, 503))
def create_endpoint(body: EndpointIn, system: SystemDep, admin: Admin) -> OrjsonResponse:
    """Subscribes a URL to event types. The answer holds the signing secret, shown only here: keep
    it to verify the `webhook-signature` of everything sent (README, "Webhooks"). The endpoint is
    sent what happens from now on; a replay sends what happened before."""
    _refuse_unless_public(system, body.url)
    endpoint, secret = system.webhooks.store.create(body.url, [str(t) for t in body.event_types], body.description)
    system.webhooks.notify_sender()
    return OrjsonResponse({**endpoint, "secret": secret}, status_code=201,
                          headers={"Location": f"/webhooks/endpoints/{endpoint['id']}", **NO_STORE})


@router.get("/endpoints", response_model=EndpointList, responses=problem_responses(401, 403, 503))
def list_endpoints(system: SystemDep, admin: Admin) -> OrjsonResponse:
    """Every endpoint, oldest first (never a secret)."""
    return OrjsonResponse({"data": system.webhooks.store.list()})


@router.get("/endpoints/{endpoint_id}", response_model=EndpointOut, responses=problem_responses(401, 403, 404, 503))
def get_endpoint(endpoint_id: EndpointPath, system: SystemDep, admin: Admin) -> OrjsonResponse:
    return OrjsonResponse(_endpoint_or_404(system.webhooks.store.get(endpoint_id), endpoint_id))


@router.patch("/endpoints/{endpoint_id}", response_model=EndpointOut, responses=problem_responses(401, 403, 404, 503))
def update_endpoint(endpoint_id: EndpointPath, body: EndpointPatch, system: SystemDep, admin: Admin) -> OrjsonResponse:
    """Changes the URL, the event types, the description, or enables and disables it. Disabling
    pauses it (its pending deliveries wait, new events are not queued for it); enabling resumes
    its pending deliveries and clears why it was disabled (410 Gone, failing for days)."""
    changes = body.model_dump(exclude_unset=True)
    if "url" in changes:
        _refuse_unless_public(system, body.url)
    if "event_types" in changes:
        changes["event_types"] = [str(t) for t in body.event_types]
    updated = _endpoint_or_404(system.webhooks.store.update(endpoint_id, changes), endpoint_id)
    system.webhooks.notify_sender()
    return OrjsonResponse(updated)


@router.delete("/endpoints/{endpoint_id}", status_code=204, response_class=Response,
               responses=problem_responses(401, 403, 404, 503))
def delete_endpoint(endpoint_id: EndpointPath, system: SystemDep, admin: Admin) -> Response:
    """Deletes the endpoint with its deliveries: nothing more is sent to it."""
    if not system.webhooks.store.delete(endpoint_id):
        raise not_found("webhook endpoint", endpoint_id)
    return Response(status_code=204)


@router.post("/endpoints/{endpoint_id}/rotate-secret", response_model=EndpointWithSecret,
             responses=problem_responses(401, 403, 404, 503))
def rotate_secret(endpoint_id: EndpointPath, system: SystemDep, admin: Admin) -> OrjsonResponse:
    """A new signing secret, shown only here. For 24 hours the previous one signs too (a second
    `v1,` signature in `webhook-signature`), so a receiver can switch without missing a message."""
    rotated = system.webhooks.store.rotate_secret(endpoint_id)
    if rotated is None:
        raise not_found("webhook endpoint", endpoint_id)
    endpoint, secret = rotated
    return OrjsonResponse({**endpoint, "secret": secret}, headers=NO_STORE)


@router.post("/endpoints/{endpoint_id}/replay", status_code=202, response_model=ReplayOut,
             responses=problem_responses(401, 403, 404, 503))
def replay(endpoint_id: EndpointPath, body: ReplayIn, system: SystemDep, admin: Admin) -> OrjsonResponse:
    """Sends the endpoint again everything the event feed recorded after `since_position` (up to
    its head now) of the types it subscribes to, with the same `webhook-id`s and bodies as the
    first time, in the background: the deliveries appear in GET /webhooks/deliveries. A
    position beyond the feed's head is 422."""
    try:
        started = system.webhooks.store.request_replay(endpoint_id, body.since_position)
    except BeyondHead as error:
        raise ProblemException(422, str(error), title="Invalid input", slug="validation-error",
                               errors=[{"pointer": "/since_position", "detail": str(error)}]) from None
    if started is None:
        raise not_found("webhook endpoint", endpoint_id)
    system.webhooks.replayer.notify()
    return OrjsonResponse(started, status_code=202)


class DeliveryFilters(PageQuery):
    endpoint_id: UUID | None = Field(None, description="only this endpoint's deliveries")
    status: DeliveryStatus | None = None


@router.get("/deliveries", response_model=DeliveryList,
            responses={200: {"headers": LINK_HEADER}, **problem_responses(401, 403, 422, 503)})
def list_deliveries(request: Request, filters: Annotated[DeliveryFilters, Query()], system: SystemDep,
                    admin: Admin) -> OrjsonResponse:
    """Deliveries newest first, with the outcome of the last attempt (status code, duration,
    the start of the answer) and when the next is due; follow `next_cursor` (or `Link`). Every
    attempt of one delivery: GET /webhooks/deliveries/{id}."""
    try:
        before = int(cursor_key(filters.cursor, 1)[0]) if filters.cursor is not None else None
    except (InvalidCursor, ValueError):
        raise invalid_cursor() from None
    rows = system.webhooks.store.deliveries(endpoint_id=filters.endpoint_id, status=filters.status,
                                            limit=filters.limit + 1, before=before)
    page = rows[:filters.limit]
    next_cursor = encode_cursor(str(page[-1]["id"])) if len(rows) > filters.limit else None
    return page_response(request, page, next_cursor)


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetail,
            responses=problem_responses(401, 403, 404, 503))
def get_delivery(delivery_id: DeliveryPath, system: SystemDep, admin: Admin) -> OrjsonResponse:
    """One delivery and every attempt made at it."""
    delivery = system.webhooks.store.delivery(delivery_id)
    if delivery is None:
        raise not_found("webhook delivery", delivery_id)
    return OrjsonResponse(delivery)


@router.post("/deliveries/{delivery_id}/retry", status_code=202, response_model=DeliveryOut,
             responses=problem_responses(401, 403, 404, 409, 503))
def retry_delivery(delivery_id: DeliveryPath, system: SystemDep, admin: Admin) -> OrjsonResponse:
    """Sends the delivery's message again now. A delivered or failed delivery is owed anew: the
    answer is the new delivery (same `webhook-id`), sent after any pending one of the same order
    to that endpoint. A pending one that is due later is made due now. 409 if it waits for an
    earlier delivery, is being sent, or its endpoint is disabled."""
    try:
        retried = system.webhooks.store.retry(delivery_id)
    except NotRetryable as error:
        raise ProblemException(409, str(error), slug="delivery-not-retryable") from None
    if retried is None:
        raise not_found("webhook delivery", delivery_id)
    system.webhooks.notify_sender()
    return OrjsonResponse(retried, status_code=202, headers={"Location": f"/webhooks/deliveries/{retried['id']}"})
