"""Stock: receipts, adjustments and levels per SKU."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from api.deps import (
    Commander,
    StockReader,
    SystemDep,
    carry_out,
    consistent,
)
from api.problems import not_found, problem_responses
from api.responses import OrjsonResponse
from api.schemas import StockAdjustmentIn, StockAtLocation, StockOut, StockReceiptIn
from api.routing import GuardedRoute
from application import commands

router = APIRouter(prefix="/stock", tags=["stock"], route_class=GuardedRoute)


@router.post("/receipts", response_model=StockAtLocation, status_code=201,
             responses=problem_responses(401, 403, 404, 409, 422, 503))
async def receive_stock(body: StockReceiptIn, request: Request, key: Commander) -> OrjsonResponse:
    """Goods received at a location (404 for an unknown location)."""
    headers: dict[str, str] = {}
    outcome = await carry_out(request, key, commands.ReceiveStock(body.location_id, body.sku, body.quantity), headers)
    return OrjsonResponse(outcome.document, status_code=201, headers=headers)


@router.post("/adjustments", response_model=StockAtLocation, status_code=201,
             responses=problem_responses(401, 403, 404, 409, 422, 503))
async def adjust_stock(body: StockAdjustmentIn, request: Request, key: Commander) -> OrjsonResponse:
    """A count correction; on-hand can never go below what is reserved (409)."""
    headers: dict[str, str] = {}
    cmd = commands.AdjustStock(body.location_id, body.sku, body.quantity_delta, body.reason)
    outcome = await carry_out(request, key, cmd, headers)
    return OrjsonResponse(outcome.document, status_code=201, headers=headers)


@router.get("/{sku}", response_model=StockOut, responses=problem_responses(401, 403, 404, 503))
def get_stock(sku: Annotated[str, Path(min_length=1, max_length=100)], system: SystemDep,
              key: StockReader,
              _fresh: Annotated[None, Depends(consistent("stock_levels"))]) -> OrjsonResponse:
    """On hand, reserved and available: in total and per location."""
    stock = system.queries.stock(sku)
    if stock is None:
        raise not_found("sku", sku)
    return OrjsonResponse(stock)
