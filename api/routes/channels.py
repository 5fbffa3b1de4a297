"""Sales channels: an admin configures them; Shopify and WooCommerce post their order webhooks
here, signed with the channel's secret, and an Amazon connector posts the orders it pulls.

Every delivery with a valid signature (or key) is recorded as it came before anything else
happens (``GET /channels/{id}/deliveries``), so none is lost: one that is not the platform's
order is answered 422 and kept, one whose topic is not about orders is acknowledged."""
from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import replace
from typing import Annotated, Any
from urllib.parse import parse_qs

import orjson
from fastapi import APIRouter, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import Admin, SystemDep, command_context, recorded, require_role
from api.problems import ProblemException, not_found, problem_responses
from api.responses import OrjsonResponse, order_response
from api.routing import GuardedRoute, any_content_type
from api.schemas import (
    ChannelDeliveryList,
    ChannelDeliveryOut,
    ChannelIn,
    ChannelList,
    ChannelOut,
    DeliveryOutcome,
    OrderOut,
)
from application.addresses import placed
from application.channel_import import MAPPERS, NotAnOrder
from application.commands import ImportChannelOrder
from application.context import CommandContext
from application.ids import new_request_id
from domain.countries import COUNTRIES
from infrastructure.api_keys import ApiKey, Role
from infrastructure.channels import PlatformChanged

router = APIRouter(prefix="/channels", tags=["channels"], route_class=GuardedRoute)

ChannelPath = Annotated[str, Path(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
                                   description="the channel id (an order's `channel`)")]

# Platform: (signature header, topic header, delivery id header); None for one that posts with an API key.
WEBHOOKS: dict[str, tuple[str, str, str]] = {
    "shopify": ("X-Shopify-Hmac-Sha256", "X-Shopify-Topic", "X-Shopify-Webhook-Id"),
    "woocommerce": ("X-WC-Webhook-Signature", "X-WC-Webhook-Topic", "X-WC-Webhook-Delivery-ID"),
}
# The headers of a delivery kept with its body (for audit and for processing it again).
KEPT_HEADERS = ("content-type", "user-agent", "x-shopify-topic", "x-shopify-shop-domain", "x-shopify-api-version",
                "x-shopify-webhook-id", "x-shopify-event-id", "x-shopify-triggered-at", "x-wc-webhook-source",
                "x-wc-webhook-topic", "x-wc-webhook-resource", "x-wc-webhook-event", "x-wc-webhook-id",
                "x-wc-webhook-delivery-id", "x-request-id")
CONNECTOR = require_role(Role.INTEGRATOR)


def _document(channel: dict[str, Any]) -> dict[str, Any]:
    return {**channel, "orders_url": f"/channels/{channel['channel_id']}/orders"}


@router.put("/{channel_id}", response_model=ChannelOut,
            responses={201: {"model": ChannelOut, "description": "The channel was created"},
                       **problem_responses(401, 403, 409, 422, 503)})
def configure_channel(channel_id: ChannelPath, body: ChannelIn, system: SystemDep, admin: Admin) -> OrjsonResponse:
    """Creates or updates a channel. Its webhook secret is write-only: never returned, rotated
    by a new PUT (a PUT without one keeps it). A channel keeps its platform (409)."""
    if body.platform in WEBHOOKS and body.webhook_secret is None and system.channels.webhook_secret(channel_id) is None:
        raise ProblemException(422, f"a {body.platform} channel needs the webhook_secret its webhooks are signed with",
                               slug="validation-error", errors=[{"pointer": "/webhook_secret", "detail": "required"}])
    try:
        channel, created = system.channels.configure(channel_id, body.platform, body.name, body.webhook_secret)
    except PlatformChanged as error:
        raise ProblemException(409, str(error), slug="platform-changed") from None
    return OrjsonResponse(_document(channel), status_code=201 if created else 200,
                          headers={"Location": f"/channels/{channel_id}"})


@router.get("", response_model=ChannelList, responses=problem_responses(401, 403, 503))
def list_channels(system: SystemDep, admin: Admin) -> OrjsonResponse:
    return OrjsonResponse({"data": [_document(c) for c in system.channels.list()]})


@router.get("/{channel_id}", response_model=ChannelOut, responses=problem_responses(401, 403, 404, 503))
def get_channel(channel_id: ChannelPath, system: SystemDep, admin: Admin) -> OrjsonResponse:
    channel = system.channels.get(channel_id)
    if channel is None:
        raise not_found("channel", channel_id)
    return OrjsonResponse(_document(channel))


@router.get("/{channel_id}/deliveries", response_model=ChannelDeliveryList,
            responses=problem_responses(401, 403, 404, 503))
def list_deliveries(channel_id: ChannelPath, system: SystemDep, admin: Admin,
                    outcome: Annotated[DeliveryOutcome | None, Query()] = None,
                    before: Annotated[int | None, Query(ge=1, le=2**62, description="deliveries older than this id")] = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 100) -> OrjsonResponse:
    """What the channel delivered, newest first, with what became of each (the raw bodies are
    at ``GET /channels/{id}/deliveries/{delivery_id}``)."""
    if system.channels.get(channel_id) is None:
        raise not_found("channel", channel_id)
    return OrjsonResponse({"data": system.channels.deliveries(channel_id, outcome=outcome, before=before,
                                                              limit=limit)})


@router.get("/{channel_id}/deliveries/{delivery}", response_model=ChannelDeliveryOut,
            responses=problem_responses(401, 403, 404, 503))
def get_delivery(channel_id: ChannelPath, delivery: Annotated[int, Path(ge=1, le=2**62)], system: SystemDep,
                 admin: Admin) -> OrjsonResponse:
    found = system.channels.delivery(channel_id, delivery)
    if found is None:
        raise not_found("delivery", delivery)
    return OrjsonResponse(found)


@router.post("/{channel_id}/orders", status_code=201, response_model=OrderOut,
             responses={200: {"description": "The order was known already (a repeated delivery, or a later one: "
                                             "paid, cancelled, updated, applied to it), with the order; or a "
                                             "delivery recorded and acknowledged without an order (a topic that "
                                             "is not about orders, WooCommerce's ping): "
                                             "`{\"delivery\", \"outcome\": \"ignored\" | \"ping\"}`",
                                  "content": {"application/json": {"schema": {"anyOf": [
                                      {"$ref": "#/components/schemas/OrderOut"},
                                      {"$ref": "#/components/schemas/DeliveryAcknowledged"}]}}}},
                        **problem_responses(401, 403, 404, 409, 422, 503)},
             openapi_extra={"security": [{"ShopifySignature": []}, {"WooCommerceSignature": []}, {"HTTPBearer": []}],
                            "requestBody": {"required": True, "content": {"application/json": {
                                "schema": {"$ref": "#/components/schemas/ChannelOrder"}}}}})
@any_content_type
async def channel_order(channel_id: ChannelPath, request: Request, system: SystemDep) -> Response:
    """A channel's order, as its platform sends it: Shopify's and WooCommerce's order webhooks
    (signed with the channel's secret; ``X-Shopify-Topic`` or ``X-WC-Webhook-Topic`` says what
    happened), or an Amazon connector's ``{"order", "order_items"}`` (with an API key that may
    reach the channel). 201 with the order the first time, 200 with it after that."""
    channel = await run_in_threadpool(system.channels.get, channel_id)
    if channel is None:
        raise not_found("channel", channel_id)
    platform = channel["platform"]
    raw = await request.body()
    context, key, topic, delivery_id = await _authenticated(request, channel_id, platform, raw)
    delivery = await run_in_threadpool(
        system.channels.record, channel_id, topic=topic, delivery_id=delivery_id,
        headers={name: request.headers[name] for name in KEPT_HEADERS if name in request.headers},
        body=raw.decode("utf-8", errors="replace"))
    settle = system.channels.settle
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        if platform == "woocommerce" and "webhook_id" in parse_qs(raw.decode("latin-1")):
            await run_in_threadpool(settle, delivery, "ping", detail="WooCommerce's test delivery of a new webhook")
            return OrjsonResponse({"delivery": delivery, "outcome": "ping"})
        await run_in_threadpool(settle, delivery, "rejected", detail="the body is not JSON")
        raise ProblemException(422, "the body is not JSON", slug="validation-error") from None
    try:
        if not isinstance(body, dict):
            raise NotAnOrder("", f"a {platform} order is a JSON object")
        cmd = MAPPERS[platform](body, channel_id, topic)
    except NotAnOrder as error:
        await run_in_threadpool(settle, delivery, "rejected", detail=f"{error.pointer or '/'}: {error.detail}")
        raise ProblemException(422, f"this is not a {platform} order as its platform sends it: {error.detail}",
                               title="Not an order", slug="not-an-order",
                               errors=[{"pointer": error.pointer, "detail": error.detail}]) from None
    if cmd is None:
        await run_in_threadpool(settle, delivery, "ignored", detail=f"the topic {topic} is not about orders")
        return OrjsonResponse({"delivery": delivery, "outcome": "ignored", "topic": topic})
    cmd = await run_in_threadpool(_located, cmd, system.geocoder)
    repeated = delivery_id is not None and await run_in_threadpool(
        system.channels.seen, channel_id, delivery_id, delivery)
    if repeated:
        cmd = replace(cmd, apply_changes=False)
    try:
        outcome = await system.commands.execute(cmd, context)
    except Exception as error:
        await run_in_threadpool(settle, delivery, "failed", external_id=cmd.external_id, detail=str(error)[:2000])
        raise
    document = outcome.document
    result, detail = _result(cmd, document, outcome.created, outcome.position is not None)
    if repeated and not outcome.created:
        result, detail = "duplicate", f"the platform delivered {delivery_id} before: not applied again"
    await run_in_threadpool(settle, delivery, result, external_id=cmd.external_id, order_id=document["id"],
                            detail=detail)
    headers = {"Location": f"/orders/{document['id']}", "X-OMS-Delivery": str(delivery)}
    if key is not None:  # a connector's key reads its own writes next
        recorded(request, key, outcome.position, headers)
    elif outcome.position is not None:
        headers["X-OMS-Position"] = str(outcome.position)
    return order_response(document, 201 if outcome.created else 200, headers)


async def _authenticated(request: Request, channel_id: str, platform: str,
                         raw: bytes) -> tuple[CommandContext, ApiKey | None, str | None, str | None]:
    """Who sends the delivery (and with which API key, if any), what it is about (its topic)
    and the platform's id for it."""
    request_id = request.scope.get("state", {}).get("request_id") or new_request_id()
    if platform in WEBHOOKS:
        signature_header, topic_header, delivery_header = WEBHOOKS[platform]
        secret = await run_in_threadpool(request.app.state.system.channels.webhook_secret, channel_id)
        if secret is None or not signed(raw, secret, request.headers.get(signature_header)):
            raise ProblemException(401, f"the {signature_header} header does not sign this body with the channel's "
                                        f"webhook secret (PUT /channels/{channel_id})", slug="bad-signature")
        context = CommandContext(f"channel:{channel_id}", f"{platform} webhook", "ImportChannelOrder", request_id)
        return context, None, request.headers.get(topic_header), request.headers.get(delivery_header)
    if platform == "amazon":
        key = await CONNECTOR(request)
        if not key.reaches(channel_id):
            raise not_found("channel", channel_id)
        return command_context(request, key, "ImportChannelOrder"), key, None, None
    raise ProblemException(409, f"channel {channel_id} is an api channel: its orders are placed with POST /orders",
                           slug="api-channel")


def signed(raw: bytes, secret: str, header: str | None) -> bool:
    """Shopify's and WooCommerce's scheme: the base64 HMAC-SHA256 of the raw body, keyed with the
    secret; compared in constant time."""
    if not header:
        return False
    expected = base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest())
    return hmac.compare_digest(expected, header.strip().encode("latin-1", errors="replace"))


def _located(cmd: ImportChannelOrder, geocoder: Any) -> ImportChannelOrder:
    """The shipping address placed for sourcing: the channel's coordinates, else the geocoder's
    (before the command goes to the writer)."""
    address = cmd.shipping_address
    if not address:
        return cmd
    if address.get("country") not in COUNTRIES:
        return replace(cmd, shipping_address={**address, "latitude": None, "longitude": None,
                                              "coordinates_precision": "unknown"})
    return replace(cmd, shipping_address=placed(address, geocoder))


def _result(cmd: ImportChannelOrder, document: Any, created: bool, changed: bool) -> tuple[str, str | None]:
    """What became of a delivery, for its record."""
    if created:
        return "placed", None
    if cmd.cancel_reason is not None and document["status"] != "cancelled":
        return ("applied" if changed else "unchanged"), "not cancelled: part of the order has shipped"
    return ("applied" if changed else "unchanged"), None



__all__ = ["router", "signed"]
