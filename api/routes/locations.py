"""Stock locations: warehouses and stores orders are sourced from."""
from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from api.deps import (
    Commander,
    StockReader,
    SystemDep,
    carry_out,
    consistent,
)
from api.pagination import LINK_HEADER, PageQuery, invalid_cursor, page_response
from api.problems import not_found, problem_responses
from api.responses import OrjsonResponse
from api.schemas import LocationIn, LocationList, LocationOut
from api.routing import GuardedRoute
from application import commands
from projections.queries import InvalidCursor

router = APIRouter(prefix="/locations", tags=["locations"], route_class=GuardedRoute)

LOCATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
LocationId = Annotated[str, Path(min_length=1, max_length=64, pattern=LOCATION_ID.pattern, examples=["berlin-wh"])]


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


@router.get("", response_model=LocationList,
            responses={200: {"headers": LINK_HEADER}, **problem_responses(401, 403, 422, 503)})
def list_locations(request: Request, page: Annotated[PageQuery, Query()], system: SystemDep, key: StockReader,
                   _fresh: Annotated[None, Depends(consistent("locations"))]) -> OrjsonResponse:
    """Locations by id, a page at a time; follow ``next_cursor`` (or the ``Link: rel="next"`` header)."""
    try:
        data, next_cursor = system.queries.location_page(limit=page.limit, cursor=page.cursor)
    except InvalidCursor:
        raise invalid_cursor() from None
    return page_response(request, data, next_cursor)


@router.get("/{location_id}", response_model=LocationOut, responses=problem_responses(401, 403, 404, 422, 503))
def get_location(location_id: Annotated[str, Path(min_length=1, max_length=64, examples=["berlin-wh"])],
                 system: SystemDep, key: StockReader,
                 _fresh: Annotated[None, Depends(consistent("locations"))]) -> OrjsonResponse:
    """The location (404 when no location has this id)."""
    # An id no location can have (PUT refuses it) names none: 404 without a query.
    location = system.queries.location(location_id) if LOCATION_ID.fullmatch(location_id) else None
    if location is None:
        raise not_found("location", location_id)
    return OrjsonResponse(location)
