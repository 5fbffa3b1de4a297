"""Carriers tell us where parcels are: EasyPost's webhooks (``tracker.updated``), signed with the
account's webhook secret. Every event is recorded as it came before anything else happens; one
for a tracking number no shipment has is answered 202 and listed for an operator."""
from __future__ import annotations

import hashlib
import hmac
import unicodedata
from datetime import datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.deps import Admin, SystemDep
from api.problems import ProblemException, problem_responses
from api.responses import OrjsonResponse
from api.routing import GuardedRoute
from api.schemas import CarrierAccountIn, CarrierAccountOut, CarrierEventList
from application import commands
from application.context import CommandContext
from application.ids import new_request_id
from domain.entities import TrackingEvent, TrackingStatus

router = APIRouter(prefix="/carriers", tags=["carriers"], route_class=GuardedRoute)

EASYPOST = "easypost"
SIGNATURE_HEADER = "X-Hmac-Signature"
STATUSES = {status.value for status in TrackingStatus}


@router.put("/easypost", response_model=CarrierAccountOut, responses=problem_responses(401, 403, 422, 503))
def configure_easypost(body: CarrierAccountIn, system: SystemDep, admin: Admin) -> OrjsonResponse:
    """Sets (or rotates) the secret EasyPost signs its webhooks with; it is never shown again."""
    return OrjsonResponse(system.carrier_accounts.configure(EASYPOST, body.webhook_secret))


@router.get("/easypost/unmatched", response_model=CarrierEventList, responses=problem_responses(401, 403, 503))
def unmatched_easypost_events(system: SystemDep, admin: Admin) -> OrjsonResponse:
    """Events received for tracking numbers no shipment has (newest first), and any that failed."""
    events = system.carrier_accounts.events(EASYPOST, "unmatched") + system.carrier_accounts.events(EASYPOST, "failed")
    return OrjsonResponse({"data": sorted(events, key=lambda e: e["id"], reverse=True)})


@router.post("/easypost/events", status_code=200,
             responses={202: {"description": "Recorded; no shipment has this tracking number (listed at "
                                             "GET /carriers/easypost/unmatched)"},
                        **problem_responses(401, 422, 503)},
             openapi_extra={"security": [{"EasyPostSignature": []}],
                            "requestBody": {"required": True, "content": {"application/json": {
                                "schema": {"$ref": "#/components/schemas/EasyPostEvent"}}}}})
async def easypost_event(request: Request, system: SystemDep) -> Response:
    """An EasyPost webhook: a ``tracker.updated`` event adds the tracker's details to the
    shipment that left with its tracking code; ``delivered`` completes it."""
    raw = await request.body()
    accounts = system.carrier_accounts
    secret = await run_in_threadpool(accounts.webhook_secret, EASYPOST)
    if secret is None or not signed(raw, secret, request.headers.get(SIGNATURE_HEADER)):
        raise ProblemException(401, "the X-Hmac-Signature header does not sign this body with the EasyPost "
                                    "webhook secret (PUT /carriers/easypost)", slug="bad-signature")
    body = orjson.loads(raw)
    if not isinstance(body, dict):
        raise ProblemException(422, "an EasyPost event is a JSON object", slug="validation-error")
    result = body.get("result") if isinstance(body.get("result"), dict) else {}
    tracking_code = result.get("tracking_code") if isinstance(result.get("tracking_code"), str) else None
    description = body.get("description") if isinstance(body.get("description"), str) else None
    event_id = body.get("id") if isinstance(body.get("id"), str) else None
    recorded = await run_in_threadpool(accounts.record, EASYPOST, body, event_id=event_id,
                                       description=description, tracking_code=tracking_code, outcome="received")
    if description != "tracker.updated" or not tracking_code:
        await run_in_threadpool(accounts.settle, recorded, "ignored")
        return OrjsonResponse({"event": recorded, "outcome": "ignored"})
    shipments = await run_in_threadpool(system.queries.shipments_tracked_as, tracking_code)
    if not shipments:
        await run_in_threadpool(accounts.settle, recorded, "unmatched")
        return OrjsonResponse({"event": recorded, "outcome": "unmatched"}, status_code=202)
    events = tuple(e for e in map(tracking_event, result.get("tracking_details") or []) if e is not None)
    context = CommandContext("carrier:easypost", "EasyPost webhook", "TrackShipment",
                             request.scope.get("state", {}).get("request_id") or new_request_id())
    try:
        for shipment_id in shipments:
            await system.commands.execute(commands.TrackShipment(shipment_id, events), context)
    except Exception:
        await run_in_threadpool(accounts.settle, recorded, "failed")
        raise
    await run_in_threadpool(accounts.settle, recorded, "applied")
    return OrjsonResponse({"event": recorded, "outcome": "applied", "shipments": shipments})


def signed(raw: bytes, secret: str, header: str | None) -> bool:
    """EasyPost's scheme: ``hmac-sha256-hex=`` and the hex HMAC-SHA256 of the raw body, keyed with
    the secret normalised to NFKD; compared in constant time."""
    if not header or not header.startswith("hmac-sha256-hex="):
        return False
    expected = hmac.new(unicodedata.normalize("NFKD", secret).encode(), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("hmac-sha256-hex=").lower())


def tracking_event(detail: Any) -> TrackingEvent | None:
    """One of a tracker's ``tracking_details``; None for one without a time."""
    if not isinstance(detail, dict) or not isinstance(detail.get("datetime"), str):
        return None
    try:
        at = datetime.fromisoformat(detail["datetime"].replace("Z", "+00:00"))
    except ValueError:
        return None
    where = detail.get("tracking_location") if isinstance(detail.get("tracking_location"), dict) else {}
    location = ", ".join(str(where[k]) for k in ("city", "state", "zip", "country") if where.get(k)) or None
    status = detail.get("status") if detail.get("status") in STATUSES else TrackingStatus.UNKNOWN.value
    message = detail.get("message") if isinstance(detail.get("message"), str) else None
    return TrackingEvent(str(status), message, at, location)
