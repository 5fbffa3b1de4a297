"""Shipments: pick, pack, ship (label from the carrier unless a tracking number is given), deliver."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Request, Response

from api.deps import (
    Commander,
    IfMatch,
    OrderReader,
    SystemDep,
    carry_out,
    consistent,
    expected_versions,
)
from api.problems import not_found, problem_responses
from api.responses import ORDER_PART_HEADERS, OrjsonResponse, order_part_response, order_response
from api.schemas import DeliverIn, OrderOut, PackIn, PickIn, ShipIn, ShipmentDocument
from api.routing import GuardedRoute
from application import commands
from application.commands import Command
from infrastructure.api_keys import ApiKey

router = APIRouter(prefix="/shipments", tags=["shipments"], route_class=GuardedRoute)

ShipmentId = Annotated[str, Path(max_length=100, examples=["shp_0123456789abcdef0123456789abcdef_1"])]
RESPONSES = problem_responses(401, 403, 404, 409, 412, 422, 503)


@router.get("/{shipment_id}", response_model=ShipmentDocument,
            responses={200: {"headers": ORDER_PART_HEADERS}, **problem_responses(401, 403, 404, 422, 503)})
def get_shipment(shipment_id: ShipmentId, system: SystemDep, key: OrderReader,
                 _fresh: Annotated[None, Depends(consistent("orders"))]) -> Response:
    """The shipment, as in its order's document, with ``order_id`` and a link to the order."""
    document = system.queries.shipment(shipment_id, key.channels)
    if document is None:
        raise not_found("shipment", shipment_id)
    return order_part_response(document)


async def _carried_out(request: Request, key: ApiKey, cmd: Command) -> Response:
    headers: dict[str, str] = {}
    outcome = await carry_out(request, key, cmd, headers)
    return order_response(outcome.document, 200, headers)


@router.post("/{shipment_id}/pick", response_model=OrderOut, responses=RESPONSES)
async def pick(shipment_id: ShipmentId, request: Request, key: Commander,
               body: Annotated[PickIn | None, Body()] = None, if_match: IfMatch = None) -> Response:
    """The shipment's items were picked (it must be ready and the payment authorised)."""
    return await _carried_out(request, key, commands.PickShipment(shipment_id, expected_versions(if_match)))


@router.post("/{shipment_id}/pack", response_model=OrderOut, responses=RESPONSES)
async def pack(shipment_id: ShipmentId, request: Request, key: Commander,
               body: Annotated[PackIn | None, Body()] = None, if_match: IfMatch = None) -> Response:
    """The shipment was packed (it must have been picked)."""
    return await _carried_out(request, key, commands.PackShipment(shipment_id, expected_versions(if_match)))


@router.post("/{shipment_id}/ship", response_model=OrderOut, responses=RESPONSES)
async def ship(shipment_id: ShipmentId, body: ShipIn, request: Request, key: Commander,
               if_match: IfMatch = None) -> Response:
    """The shipment left with ``carrier`` (it must have been packed); payment for it is captured."""
    return await _carried_out(request, key, commands.ShipShipment(
        shipment_id, body.carrier, body.tracking_number, expected_versions(if_match)))


@router.post("/{shipment_id}/deliver", response_model=OrderOut, responses=RESPONSES)
async def deliver(shipment_id: ShipmentId, request: Request, key: Commander,
                  body: Annotated[DeliverIn | None, Body()] = None, if_match: IfMatch = None) -> Response:
    """The carrier delivered the shipment (``delivered_at`` defaults to now)."""
    delivered_at = body.delivered_at if body is not None else None
    return await _carried_out(request, key, commands.DeliverShipment(
        shipment_id, delivered_at, expected_versions(if_match)))
