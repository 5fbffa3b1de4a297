"""Returns: receiving returned goods (restocks resellable units and refunds)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from api.deps import (
    Commander,
    IfMatch,
    carry_out,
    expected_versions,
)
from api.problems import problem_responses
from api.responses import OrjsonResponse, order_response
from api.schemas import OrderOut, ReceiveReturnIn
from application import commands

router = APIRouter(prefix="/returns", tags=["returns"])


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
