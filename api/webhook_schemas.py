"""Request and response models of the webhook API (api/routes/webhooks.py), and the bodies the
OMS sends to endpoints (documented in the OpenAPI document's ``webhooks`` section)."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from api.schemas import Input, OrderOut, Output, StockAtLocation, _whole_number, text
from application.webhook_events import EVENT_TYPES, SUBSCRIBABLE

WebhookEventType = StrEnum("WebhookEventType", {t.replace(".", "_").replace("*", "every"): t  # type: ignore[misc]
                                                for t in SUBSCRIBABLE}, module=__name__)
WebhookEventType.__doc__ = "A webhook event type; `*` subscribes to every type, those added later too."

MAX_URL_LENGTH = 2000


def _parsable(url: str) -> str:
    """A URL with a host and, if any, a valid port (what the pattern cannot say)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port that is no number or out of range
    except ValueError as error:
        raise PydanticCustomError("url", "not a valid URL: {error}", {"error": str(error)}) from None
    if not parts.hostname:
        raise PydanticCustomError("url", "the URL has no host")
    return url


WebhookUrl = Annotated[
    str,
    StringConstraints(min_length=8, max_length=MAX_URL_LENGTH,
                      pattern=r"^https?://[^\x00-\x20\x7f/?#@\\]+([/?#][^\x00-\x20\x7f]*)?$"),
    AfterValidator(_parsable),
    Field(description="where the OMS posts (http or https; redirects are not followed). It must lead to a public "
                      "address: a host that is or resolves to a loopback, private or link-local address is "
                      "refused (422), and checked again whenever something is sent.",
          examples=["https://erp.example.com/oms-webhooks"]),
]
EventTypes = Annotated[list[WebhookEventType], Field(min_length=1, max_length=len(SUBSCRIBABLE) * 2,
                                                     description="what the endpoint is sent; `*` is everything",
                                                     examples=[["order.created", "shipment.shipped"]])]
Description = Annotated[str, text(500)]


class EndpointIn(Input):
    url: WebhookUrl
    event_types: EventTypes
    description: Description | None = None


def _no_null_defaults(schema: dict[str, Any]) -> None:
    """Absent means unchanged; null is no value these fields take, so none is documented."""
    for name in ("url", "event_types", "enabled"):
        schema["properties"][name].pop("default", None)


class EndpointPatch(Input):
    """Only what is given changes (an empty object changes nothing)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_no_null_defaults)

    url: WebhookUrl = None  # type: ignore[assignment]  # (absent: unchanged; never null)
    event_types: EventTypes = None  # type: ignore[assignment]
    enabled: Annotated[bool, Field(strict=True)] = Field(  # type: ignore[assignment]
        None, description="false pauses the endpoint: its pending deliveries wait and new events are not queued "
                          "for it; true resumes them")
    description: Description | None = Field(None, description="null clears it")


class ReplayIn(Input):
    since_position: Annotated[int, Field(ge=0, le=2**62), BeforeValidator(_whole_number)] = Field(
        description="re-send what the event feed recorded after this position (an X-OMS-Position, or a "
                    "delivery's position), up to the feed's head now")


class EndpointOut(Output):
    id: str
    url: str
    event_types: list[WebhookEventType]
    description: str | None = None
    enabled: bool
    disabled_reason: str | None = Field(None, description="why it is disabled: 410 Gone, failing for days, or the API")
    disabled_at: datetime | None = None
    failing_since: datetime | None = Field(None, description="since when every attempt to it has failed (null: the "
                                                             "last one succeeded)")
    since_position: int = Field(description="it is sent what the event feed records after this position (the "
                                            "feed's head when it was created); a replay reaches further back")
    created_at: datetime
    updated_at: datetime


class EndpointWithSecret(EndpointOut):
    secret: str = Field(description="`whsec_` and base64: verifies the `webhook-signature` of what is sent. Shown "
                                    "only in this response; after a rotation, the previous secret also signs for "
                                    "24 hours", examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])


class EndpointList(Output):
    data: list[EndpointOut]


DeliveryStatus = Literal["pending", "delivered", "failed"]


class DeliveryOut(Output):
    id: int
    endpoint_id: str
    webhook_id: str = Field(description="the webhook-id header: the same in every retry and replay of the message")
    type: WebhookEventType
    position: int = Field(description="the event's position in the event feed")
    origin: Literal["event", "replay", "retry"] = Field(description="owed by the event itself, a replay, or a retry "
                                                                    "of an earlier delivery")
    status: DeliveryStatus = Field(description="pending (to be sent, or being retried), delivered (a 2xx answer) or "
                                               "failed (given up after the last retry, or 410 Gone)")
    attempts: int
    next_attempt_at: datetime | None = Field(None, description="when it is tried next; null while it waits for an "
                                                               "earlier delivery of the same order to this endpoint, "
                                                               "or while the endpoint is disabled")
    in_flight: bool = Field(description="being sent right now")
    last_attempt_at: datetime | None = None
    status_code: int | None = Field(None, description="the HTTP status of the last answer")
    duration_ms: int | None = Field(None, description="how long the last attempt took")
    response_excerpt: str | None = Field(None, description="the start of the last answer's body")
    error: str | None = Field(None, description="why the last attempt got no answer (timeout, refused address, ...)")
    delivered_at: datetime | None = None
    created_at: datetime


class AttemptOut(Output):
    attempt: int
    started_at: datetime
    duration_ms: int | None = None
    status_code: int | None = None
    response_excerpt: str | None = None
    error: str | None = None
    outcome: Literal["delivered", "failed", "refused", "interrupted"]


class DeliveryDetail(DeliveryOut):
    attempt_log: list[AttemptOut] = Field(description="every attempt, oldest first")


class DeliveryList(Output):
    data: list[DeliveryOut]
    next_cursor: str | None = Field(None, description="pass as ?cursor= for the next page; null on the last")


class ReplayOut(Output):
    id: int
    endpoint_id: str
    since_position: int
    until_position: int = Field(description="the feed's head when the replay was asked for: what it reaches")
    status: Literal["running", "finished"]
    created_at: datetime


# ---------------------------------------------------------------- what endpoints are sent


class ShipmentSubject(BaseModel):
    shipment_id: str


class ReturnSubject(BaseModel):
    return_id: str


class RefundSubject(BaseModel):
    return_id: str
    amount: str = Field(description="the amount refunded, in the order's currency", examples=["99.90"])


class ShipmentEventData(OrderOut):
    subject: ShipmentSubject


class ReturnEventData(OrderOut):
    subject: ReturnSubject


class RefundEventData(OrderOut):
    subject: RefundSubject


DATA_MODELS: dict[str, type[BaseModel]] = {
    "shipment.shipped": ShipmentEventData, "shipment.delivered": ShipmentEventData,
    "return.requested": ReturnEventData, "return.received": ReturnEventData,
    "refund.issued": RefundEventData, "stock.low": StockAtLocation,
}


def payload_model(webhook_type: str) -> type[BaseModel]:
    """The body sent for ``webhook_type``: ``{"type", "timestamp", "data"}``."""
    from pydantic import create_model

    name = "Webhook" + "".join(part.title() for part in webhook_type.replace(".", "_").split("_"))
    fields: dict[str, Any] = {
        "type": (Literal[webhook_type], ...),  # type: ignore[valid-type]
        "timestamp": (datetime, Field(description="when the event happened (the same in every retry and replay)")),
        "data": (DATA_MODELS.get(webhook_type, OrderOut),
                 Field(description="the stock of the SKU at the location" if webhook_type == "stock.low" else
                       "the order as GET /orders/{id} showed it just after the event")),
    }
    return create_model(name, __base__=Output, __doc__=EVENT_TYPES[webhook_type], **fields)
