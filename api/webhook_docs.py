"""The OpenAPI document's ``webhooks`` section: what the OMS posts to an endpoint, one entry per
event type, with the Standard Webhooks headers a receiver verifies.

(No ``from __future__ import annotations`` here: FastAPI reads each entry's body model from the
annotations of a function made per type, which must hold the model itself, not its name.)"""
from typing import Annotated, Any

from fastapi import APIRouter, Header

from api.webhook_schemas import payload_model
from application.webhook_events import EVENT_TYPES

RECEIVER_ANSWERS = {
    "2XX": {"description": "Delivered: any 2xx answer, within 10 seconds. Anything else (or no answer) is tried "
                           "again after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h, each with some jitter, then "
                           "given up; redirects are not followed."},
    "410": {"description": "Gone: the endpoint is disabled, and nothing more is sent to it until it is enabled "
                           "again (PATCH /webhooks/endpoints/{id})."},
}

WebhookId = Annotated[str, Header(alias="webhook-id", description=(
    "the message's id, the same in every retry and replay (`msg_<feed position>_<type>`): drop a message whose "
    "id was seen before"), examples=["msg_1042_order_created"])]
WebhookTimestamp = Annotated[str, Header(alias="webhook-timestamp", description=(
    "when this attempt was signed, in seconds since 1970 (UTC): refuse one too far from now (Standard Webhooks "
    "libraries allow 5 minutes)"), examples=["1733313600"])]
WebhookSignature = Annotated[str, Header(alias="webhook-signature", description=(
    "`v1,` and the base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}` keyed with the endpoint's "
    "secret (the base64 after `whsec_`); during a secret's rotation a second one, space-separated, made with the "
    "previous secret. Any one matching verifies the message."),
    examples=["v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="])]


def _receiver(model: Any) -> Any:
    def receive(body: model, webhook_id: WebhookId, webhook_timestamp: WebhookTimestamp,  # type: ignore[valid-type]
                webhook_signature: WebhookSignature) -> None:
        """(documentation only: the receiver is the integrator's)"""

    return receive


def document_webhooks(router: APIRouter) -> None:
    """Adds one entry per event type to ``router`` (the app's ``webhooks``)."""
    for webhook_type, description in EVENT_TYPES.items():
        router.add_api_route(
            webhook_type, _receiver(payload_model(webhook_type)), methods=["POST"], tags=["webhooks"],
            summary=f"{webhook_type}", description=f"{description}\n\nSigned as Standard Webhooks 1.0 has it: verify "
                                                   "the signature before trusting the body (README, \"Webhooks\").",
            operation_id=f"webhook_{webhook_type.replace('.', '_')}", status_code=200, responses=RECEIVER_ANSWERS)
