"""Lists that can grow are read a page at a time, all alike (``GET /orders``, ``/locations``,
``/api-keys``): ``?limit=`` (1 to 200, default 50) and ``?cursor=``, the ``next_cursor`` of the
page before. A page answers ``{"data": [...], "next_cursor": ...}`` (null on the last page)
and, when another page follows, ``Link: <its URL>; rel="next"`` with the same query otherwise.
The cursors are opaque (projections/queries.py makes and reads them); one this API did not
issue is 422."""
from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

from api.problems import ProblemException, invalid_parameter
from api.responses import OrjsonResponse


class PageQuery(BaseModel):
    """The query of a paginated list (unknown parameters are refused)."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(50, ge=1, le=200, description="items per page")
    cursor: Annotated[str, Field(min_length=1, max_length=500)] | None = Field(
        None, description="the next_cursor of the page before (absent: the first page)")


def invalid_cursor() -> ProblemException:
    return invalid_parameter("cursor", "query", "not a cursor this API issued")


def page_response(request: Request, data: list[Any], next_cursor: str | None) -> OrjsonResponse:
    """A page, with the ``Link`` to the next one when there is one."""
    headers = {}
    if next_cursor:
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
        params.append(("cursor", next_cursor))
        headers["Link"] = f'<{request.url.path}?{urlencode(params)}>; rel="next"'
    return OrjsonResponse({"data": data, "next_cursor": next_cursor}, headers=headers)


# The header, as the OpenAPI responses of a paginated list declare it.
LINK_HEADER = {"Link": {"description": 'the next page: `<URL>; rel="next"` (absent on the last page)',
                        "schema": {"type": "string"}}}
