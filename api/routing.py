"""Every route runs behind the same guard (``GuardedRoute``, the route class of every router):
parameters checked for text PostgreSQL cannot hold, the API key checked before the body is read,
the body read up to a limit (413 beyond it, without reading the rest) and checked
(``api.guard``). Only then does FastAPI solve the route's parameters and call it."""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from api.deps import ApiKeyBearer
from api.guard import Refusal, check_json_body, check_parameters
from api.parsing import _declares_json as declares_json
from api.problems import content_type_error, problem_responses

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
Handler = Callable[[Request], Awaitable[Response]]


class GuardedRoute(APIRoute):
    """The route class of every router (``APIRouter(route_class=GuardedRoute)``; a test holds
    every route of the app to it): the guard runs before FastAPI's own handling of the request.
    The limits are the app's (``app.state.limits``, from the settings)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        _document(self)

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        authenticate = getattr(self.endpoint, AUTHENTICATED_BY, None) or _authenticator(self.dependant)
        any_content_type = getattr(self.endpoint, ANY_CONTENT_TYPE, False)

        async def guarded(request: Request) -> Response:
            check_parameters("path", request.path_params.items())
            check_parameters("query", request.query_params.multi_items())
            if request.method in BODY_METHODS:
                if authenticate is not None:
                    await authenticate(request)  # before a byte of the body is read
                limits: Limits = request.app.state.limits
                raw = await _read_body(request, limits.max_body_bytes)
                if raw:
                    content_type = request.headers.get("content-type")
                    if declares_json(content_type):
                        check_json_body(raw, limits.max_json_depth)
                    elif not any_content_type:
                        error = content_type_error(content_type)
                        raise Refusal(422, error["detail"], [error])
            return await handler(request)

        return guarded


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 1_048_576
    max_json_depth: int = 32


AUTHENTICATED_BY = "__authenticated_by__"
ANY_CONTENT_TYPE = "__any_content_type__"


def any_content_type(endpoint: Any) -> Any:
    """For a route that takes what another system sends as it sends it (a WooCommerce webhook's
    first delivery is a form, not JSON): the route records it and answers for it itself. A body
    declared as JSON is still checked."""
    setattr(endpoint, ANY_CONTENT_TYPE, True)
    return endpoint


def authenticated_by(bearer: ApiKeyBearer) -> Callable[[Any], Any]:
    """For a route that checks its key itself (``POST /orders``): the guard checks it first too,
    before the body is read."""
    def mark(endpoint: Any) -> Any:
        setattr(endpoint, AUTHENTICATED_BY, bearer)
        return endpoint
    return mark


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, kept on the request for the route; 413 as soon as it is known to exceed
    ``limit``: from Content-Length before reading, else while streaming."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # what Request.body() returns from now on (Starlette's own cache)
    return body


def _document(route: APIRoute) -> None:
    """The guard's answers, in the route's OpenAPI responses."""
    statuses = []
    if route.methods & BODY_METHODS:
        statuses += [413, 422]
    if route.dependant.path_params or route.dependant.query_params:
        statuses.append(422)
    for status, response in problem_responses(*statuses).items():
        route.responses.setdefault(status, response)


def _too_large(limit: int) -> Refusal:
    return Refusal(413, f"the request body is larger than {limit:,} bytes")


def _authenticator(dependant: Dependant) -> ApiKeyBearer | None:
    return next((d.call for d in _dependencies(dependant) if isinstance(d.call, ApiKeyBearer)), None)


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for dependency in dependant.dependencies:
        yield dependency
        yield from _dependencies(dependency)


__all__ = ["GuardedRoute", "Limits", "any_content_type", "authenticated_by"]
