"""Stock locations: warehouses and stores orders are sourced from."""
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
from api.problems import problem_responses
from api.responses import OrjsonResponse
from api.schemas import LocationIn, LocationList, LocationOut
from application import commands

router = APIRouter(prefix="/locations", tags=["locations"])

LocationId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
                                 examples=["berlin-wh"])]


@router.put("/{location_id}", response_model=LocationOut, status_code=201,
            responses={200: {"model": LocationOut, "description": "Updated"},
                       **problem_responses(401, 403, 422, 503)})
async def put_location(location_id: LocationId, body: LocationIn, request: Request, key: Commander) -> OrjsonResponse:
    """Registers a location (201) or updates it (200)."""
    headers: dict[str, str] = {}
    outcome = await carry_out(request, key, commands.RegisterLocation(
        location_id, body.name, body.kind, body.latitude, body.longitude), headers)
    if outcome.created:
        headers["Location"] = f"/locations/{location_id}"
    return OrjsonResponse(outcome.document, status_code=201 if outcome.created else 200, headers=headers)


@router.get("", response_model=LocationList, responses=problem_responses(401, 403, 503))
def list_locations(system: SystemDep, key: StockReader,
                   _fresh: Annotated[None, Depends(consistent("locations"))]) -> OrjsonResponse:
    return OrjsonResponse({"data": system.queries.locations()})
