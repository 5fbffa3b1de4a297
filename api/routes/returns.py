"""Returns: receiving returned goods (restocks resellable units and refunds)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

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
from api.schemas import OrderOut, ReceiveReturnIn, ReturnDocument
from api.routing import GuardedRoute
from application import commands

router = APIRouter(prefix="/returns", tags=["returns"], route_class=GuardedRoute)

ReturnId = Annotated[str, Path(max_length=100, examples=["ret_0123456789abcdef0123456789abcdef_1"])]


@router.get("/{return_id}", response_model=ReturnDocument,
            responses={200: {"headers": ORDER_PART_HEADERS}, **problem_responses(401, 403, 404, 422, 503)})
def get_return(return_id: ReturnId, system: SystemDep, key: OrderReader,
               _fresh: Annotated[None, Depends(consistent("orders"))]) -> Response:
    """The return, as in its order's document, with ``order_id`` and a link to the order."""
    document = system.queries.return_(return_id, key.channels)
    if document is None:
        raise not_found("return", return_id)
    return order_part_response(document)


@router.post("/{return_id}/receive", response_model=OrderOut,
             responses=problem_responses(401, 403, 404, 409, 412, 422, 503))
async def receive_return(return_id: Annotated[str, Path(max_length=100)], body: ReceiveReturnIn, request: Request,
                         key: Commander, if_match: IfMatch = None) -> OrjsonResponse:
    """The returned goods arrived at ``location_id``: resellable units go back on hand, and the
    refund is issued."""
    lines = tuple(commands.ReceivedLine(line.sku, line.quantity, line.condition) for line in body.lines)
    headers: dict[str, str] = {}
    outcome = await carry_out(request, key, commands.ReceiveReturn(
        return_id, body.location_id, lines, expected_versions=expected_versions(if_match)), headers)
    return order_response(outcome.document, 200, headers)
