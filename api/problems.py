"""Problem Details for HTTP APIs (RFC 9457): every error the API returns has this shape.

``{"type", "title", "status", "detail", "instance"}`` and, for invalid input, ``errors``: a list
of ``{"pointer": "/lines/0/quantity", "detail": ...}`` (a JSON Pointer into the request body) or
``{"parameter": "limit", "in": "query", "detail": ...}`` for query, path and header parameters.

Exceptions of the domain and application layers are mapped here, so routes simply let them
propagate. Unexpected errors become a 500 problem that reveals nothing of the internals.
"""
from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Iterable, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.guard import Refusal
from api.parsing import _declares_json as declares_json  # FastAPI's rule for a JSON body
from api.responses import OrjsonResponse
from application.errors import IdempotencyKeyReused, NotFound, PreconditionFailed
from application.ports import PaymentGatewayUnavailable, UnknownCarrier
from application.errors import ConcurrencyConflict, OutcomeUnknown, WriterUnavailable
from domain.errors import (
    DomainError,
    ForbiddenTransition,
    InsufficientStock,
    InvalidQuantity,
)
from projections.failures import ProjectionStalled

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
# Problem type URIs are identifiers (RFC 9457 §3.1.1); "about:blank" for plain HTTP statuses.
PROBLEM_TYPE_BASE = "urn:oms:problem:"


def problem_type(slug: str) -> str:
    return PROBLEM_TYPE_BASE + slug


class ProblemResponse(OrjsonResponse):
    media_type = PROBLEM_MEDIA_TYPE


# ---------------------------------------------------------------- models (for OpenAPI)


class FieldError(BaseModel):
    pointer: str | None = Field(None, description="JSON Pointer (RFC 6901) into the request body",
                                examples=["/lines/0/quantity"])
    parameter: str | None = Field(None, description="name of the query, path or header parameter")
    in_: str | None = Field(None, alias="in", description="query, path or header")
    detail: str


class Problem(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = Field("about:blank", examples=["urn:oms:problem:forbidden-transition"])
    title: str = Field(examples=["Forbidden transition"])
    status: int = Field(examples=[409])
    detail: str | None = Field(None, examples=["cannot ship shipment shp_..._1: it is picked, not packed"])
    instance: str | None = Field(None, examples=["/shipments/shp_..._1/ship"])
    request_id: str | None = None
    errors: list[FieldError] | None = None


_DESCRIPTIONS = {
    401: "Missing or invalid API key",
    429: "Too many failed authentications from this address: try again after Retry-After seconds",
    403: "The API key's role may not do this",
    404: "No such resource",
    409: "Conflicts with the resource's state (forbidden transition, insufficient stock, concurrent change)",
    412: "If-Match does not match the current version",
    413: "The request body is larger than the limit (OMS_MAX_BODY_BYTES, 1 MiB by default)",
    422: "Invalid input",
    503: "The store is unavailable, or the read model a read waits on is stopped (projection-stalled); try again",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` documenting the problem responses a route may return. A route
    that may answer 401 may also answer 429 (a client failing to authenticate too often)."""
    if 401 in statuses and 429 not in statuses:
        statuses = (*statuses, 429)
    return {
        status: {
            "description": _DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


# ---------------------------------------------------------------- raising problems from routes


class ProblemException(Exception):
    def __init__(self, status: int, detail: str | None = None, *, title: str | None = None,
                 slug: str | None = None, headers: dict[str, str] | None = None,
                 errors: Sequence[dict[str, Any]] | None = None) -> None:
        super().__init__(detail or title or HTTPStatus(status).phrase)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.type = problem_type(slug) if slug else "about:blank"
        self.headers = headers
        self.errors = list(errors) if errors is not None else None


def unauthorized(detail: str) -> ProblemException:
    return ProblemException(401, detail, slug="unauthorized",
                            headers={"WWW-Authenticate": 'Bearer realm="oms"'})


def too_many_failures(retry_after: int) -> ProblemException:
    return ProblemException(429, f"too many failed authentications from this address; try again in {retry_after} s",
                            title="Too many failed authentications", slug="too-many-failed-authentications",
                            headers={"Retry-After": str(retry_after)})


def forbidden(detail: str) -> ProblemException:
    return ProblemException(403, detail, slug="forbidden")


def not_found(kind: str, identifier: object) -> ProblemException:
    return ProblemException(404, f"{kind} {identifier} not found", slug="not-found")


def invalid_parameter(name: str, where: str, detail: str) -> ProblemException:
    return ProblemException(422, f"invalid {where} parameter {name}: {detail}", title="Invalid input",
                            slug="validation-error",
                            errors=[{"parameter": name, "in": where, "detail": detail}])


# ---------------------------------------------------------------- rendering


def problem(request: Request, status: int, *, title: str | None = None, detail: str | None = None,
            type_: str = "about:blank", headers: dict[str, str] | None = None,
            errors: Iterable[dict[str, Any]] | None = None,
            extensions: dict[str, Any] | None = None) -> ProblemResponse:
    body: dict[str, Any] = {
        "type": type_,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **(extensions or {}),
    }
    request_id = request.scope.get("state", {}).get("request_id")
    if request_id:
        body["request_id"] = request_id
    if errors is not None:
        body["errors"] = list(errors)
    response = ProblemResponse(body, status_code=status, headers=headers)
    if request_id and "x-request-id" not in response.headers:
        response.headers["X-Request-ID"] = request_id
    return response


def json_pointer(parts: Iterable[Any]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def content_type_error(content_type: str | None) -> dict[str, Any]:
    """A body was sent but not declared as JSON, so it was never read as JSON: say so, instead
    of "must be a JSON object" about a body that may well be one."""
    sent = f"it was {content_type[:100]}" if content_type else "it was missing"
    return {"parameter": "Content-Type", "in": "header",
            "detail": f"Content-Type must be application/json (or application/<type>+json) for a JSON body; {sent}"}


def _field_errors(errors: Sequence[Any], content_type: str | None = "application/json") -> list[dict[str, Any]]:
    """The problem's ``errors`` for pydantic's. ``content_type``: the request's, which decides
    what an object-type error at the root of the body means."""
    result = []
    for error in errors:
        loc = tuple(error.get("loc") or ())
        kind = error.get("type", "")
        message = str(error.get("msg", "invalid"))
        if kind == "json_invalid":
            ctx = error.get("ctx") or {}
            reason = ctx.get("error")
            result.append({"pointer": "", "detail": f"malformed JSON{': ' + str(reason) if reason else ''}"})
            continue
        where, path = (loc[0], loc[1:]) if loc else ("body", ())
        if where == "body":
            if kind == "missing" and not path:
                message = "a JSON request body is required"
            elif kind == "extra_forbidden":
                message = "unknown field"
            elif kind == "model_attributes_type" or (kind in ("dict_type", "model_type") and not path):
                if not path and not declares_json(content_type):
                    result.append(content_type_error(content_type))
                    continue
                message = "the request body must be a JSON object"
            result.append({"pointer": json_pointer(path), "detail": message})
        else:
            name = str(path[0]) if path else ""
            result.append({"parameter": name, "in": str(where), "detail": message})
    return result


async def _validation_error(request: Request, exc: RequestValidationError) -> ProblemResponse:
    errors = _field_errors(exc.errors(), request.headers.get("content-type"))
    first = errors[0] if errors else {}
    where = first.get("pointer") if "pointer" in first else first.get("parameter")
    detail = f"{len(errors)} invalid field(s)"
    if first:
        said = first["detail"] if where == "Content-Type" else f"{first['detail']} at {where or 'the request body'}"
        detail = said + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")
    return problem(request, 422, title="Invalid input", detail=detail,
                   type_=problem_type("validation-error"), errors=errors)


async def _problem_exception(request: Request, exc: ProblemException) -> ProblemResponse:
    return problem(request, exc.status, title=exc.title, detail=exc.detail, type_=exc.type,
                   headers=exc.headers, errors=exc.errors)


async def _refusal(request: Request, exc: Refusal) -> ProblemResponse:
    slug = "payload-too-large" if exc.status == 413 else "validation-error"
    return problem(request, exc.status, title="Payload too large" if exc.status == 413 else "Invalid input",
                   detail=exc.detail, type_=problem_type(slug), errors=exc.errors or None)


async def _http_exception(request: Request, exc: StarletteHTTPException) -> ProblemResponse:
    detail = exc.detail if isinstance(exc.detail, str) else None
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no resource at {request.url.path}"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
        allowed = getattr(request.app.state, "allowed_methods", None)
        if allowed is not None:
            return problem(request, 405, detail=detail, headers={"Allow": ", ".join(allowed(request.url.path))})
    return problem(request, exc.status_code, detail=detail, headers=getattr(exc, "headers", None))


def _mapped(status: int, slug: str, title: str | None = None):
    async def handler(request: Request, exc: Exception) -> ProblemResponse:
        detail = getattr(exc, "detail", None)
        if not isinstance(detail, str):
            detail = str(exc) or None
        return problem(request, status, title=title or getattr(exc, "title", None), detail=detail,
                       type_=problem_type(slug))
    return handler


async def _precondition_failed(request: Request, exc: PreconditionFailed) -> ProblemResponse:
    return problem(request, 412, title="Precondition failed", detail=str(exc),
                   type_=problem_type("precondition-failed"), headers={"ETag": f'"{exc.current_version}"'})


async def _unavailable(request: Request, exc: Exception) -> ProblemResponse:
    log.warning("service unavailable for %s %s: %r", request.method, request.url.path, exc)
    return problem(request, 503, title="Service unavailable",
                   detail="the store is unavailable; try again shortly",
                   type_=problem_type("service-unavailable"), headers={"Retry-After": "1"})


async def _projection_stalled(request: Request, exc: ProjectionStalled) -> ProblemResponse:
    stall = exc.stall
    return problem(request, 503, title="Read model stopped",
                   detail=f"the {stall.projection} read model is stopped at event {stall.position} and cannot "
                          f"show this request's writes yet; the operators see it in GET /health",
                   type_=problem_type("projection-stalled"), headers={"Retry-After": "5"},
                   extensions={"projection": stall.projection, "position": stall.position})


async def _outcome_unknown(request: Request, exc: OutcomeUnknown) -> ProblemResponse:
    log.warning("outcome unknown for %s %s: %r", request.method, request.url.path, exc)
    return problem(request, 503, title="Outcome unknown",
                   detail=f"{exc} (POST /orders may simply be retried: a retry with the same channel and "
                          "external_id, or Idempotency-Key, returns the order if it was placed)",
                   type_=problem_type("outcome-unknown"), headers={"Retry-After": "1"})


async def _internal_error(request: Request, exc: Exception) -> ProblemResponse:
    log.exception("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
    return problem(request, 500, title="Internal server error",
                   detail="an unexpected error occurred; it has been logged",
                   type_=problem_type("internal-error"))


def _store_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [WriterUnavailable, PaymentGatewayUnavailable,
                                         concurrent.futures.TimeoutError, TimeoutError]
    try:
        import psycopg
        import psycopg_pool

        errors += [psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout]
    except ImportError:  # pragma: no cover
        pass
    try:
        from eventsourcing import persistence

        errors += [persistence.OperationalError, persistence.InterfaceError]
    except (ImportError, AttributeError):  # pragma: no cover
        pass
    return tuple(errors)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ProblemException, _problem_exception)
    app.add_exception_handler(Refusal, _refusal)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(NotFound, _mapped(404, "not-found", "Not found"))
    app.add_exception_handler(IdempotencyKeyReused, _mapped(422, "idempotency-key-reused",
                                                            "Idempotency-Key reused"))
    app.add_exception_handler(PreconditionFailed, _precondition_failed)
    app.add_exception_handler(InvalidQuantity, _mapped(422, "invalid-quantity"))
    app.add_exception_handler(ForbiddenTransition, _mapped(409, "forbidden-transition"))
    app.add_exception_handler(InsufficientStock, _mapped(409, "insufficient-stock"))
    app.add_exception_handler(DomainError, _mapped(409, "business-rule"))
    app.add_exception_handler(ConcurrencyConflict, _mapped(409, "concurrency-conflict", "Concurrent change"))
    app.add_exception_handler(UnknownCarrier, _mapped(422, "unknown-carrier", "Unknown carrier"))
    for error in _store_errors():
        app.add_exception_handler(error, _unavailable)
    app.add_exception_handler(OutcomeUnknown, _outcome_unknown)
    app.add_exception_handler(ProjectionStalled, _projection_stalled)
    app.add_exception_handler(Exception, _internal_error)
