"""Orders: place, read, list, cancel, request returns; history and as-of state for auditors."""
from __future__ import annotations

import hashlib
from typing import Annotated
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from api.deps import (
    Auditor,
    Commander,
    IfMatch,
    OrderReader,
    SystemDep,
    carry_out,
    consistent,
    etag,
    expected_versions,
    require_role,
)
from api.pagination import LINK_HEADER, PageQuery, invalid_cursor, page_response
from api.parsing import TextHeader, json_body, openapi_body
from api.routing import GuardedRoute, authenticated_by
from api.problems import not_found, problem_responses
from api.responses import OrjsonResponse, order_response
from api.schemas import (
    CancelIn,
    FulfillmentStatus,
    History,
    HoldIn,
    Instant,
    OrderIn,
    OrderList,
    OrderOut,
    OrderStatus,
    PaymentStatus,
    ReturnIn,
    ReturnOut,
)
from application import commands
from application.addresses import placed
from application.errors import channel_not_found
from infrastructure.api_keys import Role

try:  # the read model's own error for a cursor it did not issue
    from projections.queries import InvalidCursor
except ImportError:  # pragma: no cover - projections not installed yet
    InvalidCursor = ValueError  # type: ignore[misc,assignment]

router = APIRouter(prefix="/orders", tags=["orders"], route_class=GuardedRoute)

OrderIdPath = Annotated[str, Path(max_length=64, description="the order id (a UUID)")]


def parse_order_id(order_id: str) -> UUID:
    """Order ids are UUIDs; anything else names no order (404, not 422)."""
    try:
        return UUID(order_id)
    except ValueError:
        raise not_found("order", order_id) from None


# ---------------------------------------------------------------- commands


IDEMPOTENCY_KEY = TextHeader(
    "Idempotency-Key", max_length=255,
    description="Retries with the same key and body return the first result; a different body is 422")
COMMANDER = require_role(Role.INTEGRATOR)


@router.post("", status_code=201, response_model=OrderOut,
             responses={200: {"model": OrderOut,
                              "description": "The order already existed (same channel and external_id, or "
                                             "a retry with the same Idempotency-Key); nothing was recorded"},
                        **problem_responses(401, 403, 404, 409, 422, 503)},
             openapi_extra={"requestBody": openapi_body(OrderIn), "parameters": [IDEMPOTENCY_KEY.openapi()],
                            "security": [{COMMANDER.scheme_name: []}]})
@authenticated_by(COMMANDER)
async def place_order(request: Request) -> OrjsonResponse:
    """Places an order: it is sourced from the nearest locations with stock and reserved at once;
    payment is authorised by itself right after (poll the order, or read it back). A key limited
    to channels places only into them: any other ``channel`` is 404, not found for this key."""
    # Every order passes here, so the route reads its parts itself (api/parsing.py): the same
    # key check, body model and header as parameters would be, without FastAPI's solving of them.
    key = await COMMANDER(request)
    body = await json_body(request, OrderIn)
    if not key.reaches(body.channel):  # before the command: its replay of an order must not show one
        raise channel_not_found(body.channel)
    idempotency_key = IDEMPOTENCY_KEY(request)
    fingerprint = None
    if idempotency_key is not None:
        canonical = orjson.dumps(body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
        fingerprint = hashlib.sha256(canonical).hexdigest()
    fields = body.model_dump()  # one pass: customer, address and payment as dicts
    address = fields["shipping_address"]
    if address["latitude"] is not None:  # and so is longitude (AddressIn)
        address["coordinates_precision"] = "given"
    else:  # placed before the writer sees it, in a thread: a process's first lookup builds the index
        fields["shipping_address"] = await run_in_threadpool(placed, address, request.app.state.system.geocoder)
    cmd = commands.PlaceOrder(
        **{**fields, "lines": tuple(commands.OrderLine(**line) for line in fields["lines"])},
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
        key_owner=str(key.id),
    )
    headers: dict[str, str] = {}
    outcome = await carry_out(request, key, cmd, headers)
    headers["Location"] = f"/orders/{outcome.document['id']}"
    if not outcome.created:
        headers["Idempotent-Replayed"] = "true"
    return order_response(outcome.document, 201 if outcome.created else 200, headers)


@router.post("/{order_id}/cancel", response_model=OrderOut,
             responses=problem_responses(401, 403, 404, 409, 412, 422, 503))
async def cancel_order(order_id: OrderIdPath, body: CancelIn, request: Request, key: Commander,
                       if_match: IfMatch = None) -> Response:
    """Cancels the order, releasing its reservations and voiding the payment (409 once shipped)."""
    uuid = parse_order_id(order_id)
    headers: dict[str, str] = {}
    outcome = await carry_out(request, key, commands.CancelOrder(
        str(uuid), body.reason, expected_versions=expected_versions(if_match)), headers)
    return order_response(outcome.document, 200, headers)


@router.post("/{order_id}/hold", response_model=OrderOut,
             responses=problem_responses(401, 403, 404, 409, 412, 422, 503))
async def hold_order(order_id: OrderIdPath, body: HoldIn, request: Request, key: Commander,
                     if_match: IfMatch = None) -> Response:
    """Stops picking, packing and shipping until the hold is released (409 once nothing is left
    to fulfil, or when the order is already on hold)."""
    uuid = parse_order_id(order_id)
    headers: dict[str, str] = {}
    outcome = await carry_out(request, key, commands.HoldOrder(
        str(uuid), body.reason, body.detail, expected_versions=expected_versions(if_match)), headers)
    return order_response(outcome.document, 200, headers)


@router.post("/{order_id}/release", response_model=OrderOut,
             responses=problem_responses(401, 403, 404, 409, 412, 422, 503))
async def release_order(order_id: OrderIdPath, request: Request, key: Commander,
                        if_match: IfMatch = None) -> Response:
    """Releases the order's hold: fulfilment goes on (409 when it is not on hold, or held
    because its payment was declined)."""
    uuid = parse_order_id(order_id)
    headers: dict[str, str] = {}
    outcome = await carry_out(request, key, commands.ReleaseOrder(
        str(uuid), expected_versions=expected_versions(if_match)), headers)
    return order_response(outcome.document, 200, headers)


@router.post("/{order_id}/returns", status_code=201, response_model=ReturnOut,
             responses=problem_responses(401, 403, 404, 409, 412, 422, 503))
async def request_return(order_id: OrderIdPath, body: ReturnIn, request: Request, key: Commander,
                         if_match: IfMatch = None) -> Response:
    """Requests a return of delivered units (409 for more than was delivered). Its ``ETag`` is
    the order's version, as for every change of the order."""
    uuid = parse_order_id(order_id)
    lines = tuple(commands.ReturnedLine(line.sku, line.quantity, line.reason) for line in body.lines)
    headers: dict[str, str] = {}
    outcome = await carry_out(request, key, commands.RequestReturn(
        str(uuid), lines, expected_versions=expected_versions(if_match)), headers)
    document = outcome.document
    headers["Location"] = f"/returns/{document['id']}"
    headers["ETag"] = etag(document["order_version"])
    return order_response(document, 201, headers)


# ---------------------------------------------------------------- reads


class OrderFilters(PageQuery):
    status: OrderStatus | None = None
    payment_status: PaymentStatus | None = None
    fulfillment_status: FulfillmentStatus | None = None
    channel: Annotated[str, Field(min_length=1, max_length=50)] | None = None
    sku: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    created_after: Instant | None = Field(None, description="RFC 3339, with a time zone")
    created_before: Instant | None = Field(None, description="RFC 3339, with a time zone")


@router.get("", response_model=OrderList,
            responses={200: {"headers": LINK_HEADER}, **problem_responses(401, 403, 422, 503)})
def list_orders(request: Request, filters: Annotated[OrderFilters, Query()], system: SystemDep,
                key: OrderReader, _fresh: Annotated[None, Depends(consistent("orders"))]) -> OrjsonResponse:
    """Orders newest first, filtered; follow ``next_cursor`` (or the ``Link: rel="next"`` header).
    A key limited to channels lists only their orders."""
    try:
        data, next_cursor = system.queries.list_orders(
            status=filters.status, payment_status=filters.payment_status,
            fulfillment_status=filters.fulfillment_status, channel=filters.channel, channels=key.channels,
            sku=filters.sku,
            created_after=filters.created_after, created_before=filters.created_before,
            limit=filters.limit, cursor=filters.cursor)
    except InvalidCursor:
        raise invalid_cursor() from None
    return page_response(request, data, next_cursor)


@router.get("/{order_id}", response_model=OrderOut,
            responses={304: {"description": "Not modified (If-None-Match)"},
                       **problem_responses(401, 403, 404, 503)})
def get_order(order_id: OrderIdPath, system: SystemDep, key: OrderReader,
              _fresh: Annotated[None, Depends(consistent("orders"))],
              if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None) -> OrjsonResponse:
    """The order document, with its ``ETag`` for ``If-Match`` on later commands."""
    uuid = parse_order_id(order_id)
    document = system.queries.order(uuid, key.channels)
    if document is None:  # (also an order outside the key's channels: 404, as if it did not exist)
        raise not_found("order", order_id)
    tag = etag(document["version"])
    if if_none_match is not None and tag in [t.strip().removeprefix("W/") for t in if_none_match.split(",")]:
        return Response(status_code=304, headers={"ETag": tag})  # type: ignore[return-value]
    return order_response(document)


@router.get("/{order_id}/history", response_model=History, responses=problem_responses(401, 403, 404, 503))
def order_history(order_id: OrderIdPath, system: SystemDep, key: Auditor,
                  _fresh: Annotated[None, Depends(consistent("order_history", "notifications"))]) -> OrjsonResponse:
    """Every event of the order, oldest first, with who caused it and in which request; and the
    messages its customer was sent, each with the position of the event that caused it."""
    uuid = parse_order_id(order_id)
    events = system.queries.history(uuid)
    if not events:
        raise not_found("order", order_id)
    return OrjsonResponse({"data": events, "notifications": system.notifications.queries.of_order(uuid)})


@router.get("/{order_id}/as-of", response_model=OrderOut, responses=problem_responses(401, 403, 404, 422, 503))
def order_as_of(order_id: OrderIdPath, system: SystemDep, key: Auditor,
                at: Annotated[Instant, Query(description="RFC 3339 instant with a time zone")]) -> OrjsonResponse:
    """The order as it was at ``at``, rebuilt from the event store (not the read model)."""
    uuid = parse_order_id(order_id)
    return order_response(system.service.order_as_of(uuid, at))
