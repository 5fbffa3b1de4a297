"""Shipments: pick, pack, ship (label from the carrier unless a tracking number is given), deliver."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Request

from api.deps import (
    Commander,
    IfMatch,
    SystemDep,
    expected_versions,
    command_context,
    recorded,
)
from api.problems import problem_responses
from api.responses import OrjsonResponse, order_response
from api.schemas import DeliverIn, OrderOut, PackIn, PickIn, ShipIn
from application import commands
from application.service import Outcome
from infrastructure.api_keys import ApiKey

router = APIRouter(prefix="/shipments", tags=["shipments"])

ShipmentId = Annotated[str, Path(max_length=100, examples=["shp_0123456789abcdef0123456789abcdef_1"])]
RESPONSES = problem_responses(401, 403, 404, 409, 412, 422, 503)


def _respond(request: Request, key: ApiKey, outcome: Outcome) -> OrjsonResponse:
    headers: dict[str, str] = {}
    recorded(request, key, outcome.position, headers)
    return order_response(outcome.document, 200, headers)


@router.post("/{shipment_id}/pick", response_model=OrderOut, responses=RESPONSES)
def pick(shipment_id: ShipmentId, request: Request, system: SystemDep, key: Commander,
         body: Annotated[PickIn | None, Body()] = None, if_match: IfMatch = None) -> OrjsonResponse:
    """The shipment's items were picked (it must be ready and the payment authorised)."""
    outcome = system.service.pick(commands.PickShipment(shipment_id, expected_versions(if_match)),
                                  command_context(request, key, "PickShipment"))
    return _respond(request, key, outcome)


@router.post("/{shipment_id}/pack", response_model=OrderOut, responses=RESPONSES)
def pack(shipment_id: ShipmentId, request: Request, system: SystemDep, key: Commander,
         body: Annotated[PackIn | None, Body()] = None, if_match: IfMatch = None) -> OrjsonResponse:
    """The shipment was packed (it must have been picked)."""
    outcome = system.service.pack(commands.PackShipment(shipment_id, expected_versions(if_match)),
                                  command_context(request, key, "PackShipment"))
    return _respond(request, key, outcome)


@router.post("/{shipment_id}/ship", response_model=OrderOut, responses=RESPONSES)
def ship(shipment_id: ShipmentId, body: ShipIn, request: Request, system: SystemDep, key: Commander,
         if_match: IfMatch = None) -> OrjsonResponse:
    """The shipment left with ``carrier`` (it must have been packed); payment for it is captured."""
    outcome = system.service.ship(commands.ShipShipment(shipment_id, body.carrier, body.tracking_number,
                                                         expected_versions(if_match)),
                                  command_context(request, key, "ShipShipment"))
    return _respond(request, key, outcome)


@router.post("/{shipment_id}/deliver", response_model=OrderOut, responses=RESPONSES)
def deliver(shipment_id: ShipmentId, request: Request, system: SystemDep, key: Commander,
            body: Annotated[DeliverIn | None, Body()] = None, if_match: IfMatch = None) -> OrjsonResponse:
    """The carrier delivered the shipment (``delivered_at`` defaults to now)."""
    delivered_at = body.delivered_at if body is not None else None
    outcome = system.service.deliver(commands.DeliverShipment(shipment_id, delivered_at, expected_versions(if_match)),
                                     command_context(request, key, "DeliverShipment"))
    return _respond(request, key, outcome)
