"""Request parts read by the route itself, for the route on every order's path (``POST /orders``).

A body parameter costs FastAPI a ``json.loads`` into Python objects and a validation of those,
and every parameter and dependency a step of its dependency solving; pydantic validates the raw
bytes in one pass at a fraction of that (``make bench-instructions``, docs/performance.md finding
33). What the client sees stays what parameters give: failures are raised as FastAPI's
``RequestValidationError`` with the same locations, so they become the same 422 problems, and
``openapi_body``/``openapi_header`` declare the parts as FastAPI would (the models named here are
added to the document's components by ``api.app``).
"""
from __future__ import annotations

from email.message import Message
from typing import Annotated, Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, StringConstraints, TypeAdapter, ValidationError
from starlette.requests import Request

M = TypeVar("M", bound=BaseModel)

# Models the OpenAPI document must carry although no route declares them as a body parameter.
manual_body_models: list[type[BaseModel]] = []


def openapi_body(model: type[BaseModel]) -> dict[str, Any]:
    """The ``requestBody`` of a route that reads ``model`` with ``json_body``."""
    if model not in manual_body_models:
        manual_body_models.append(model)
    return {"required": True, "content": {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}


async def json_body(request: Request, model: type[M]) -> M:
    """The request body as ``model``; a 422 (as for a body parameter) when it is missing, not
    declared as JSON, malformed or invalid."""
    raw = await request.body()
    if not raw:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required",
                                       "input": None}])
    if not _declares_json(request.headers.get("content-type")):
        raise RequestValidationError([{"type": "model_attributes_type", "loc": ("body",), "input": None,
                                       "msg": "Input should be a valid dictionary or object to extract fields from"}])
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        raise _located(error, "body") from None


def _declares_json(content_type: str | None) -> bool:
    """As FastAPI decides: ``application/json`` or ``application/<anything>+json``."""
    if not content_type:
        return False
    if content_type == "application/json":  # nearly always so; anything else is parsed below
        return True
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


class TextHeader:
    """An optional header of at most ``max_length`` characters (none: ``None``)."""

    def __init__(self, name: str, *, max_length: int, description: str) -> None:
        self.name = name
        self.description = description
        self.max_length = max_length
        self._adapter = TypeAdapter(Annotated[str, StringConstraints(min_length=1, max_length=max_length)])

    def __call__(self, request: Request) -> str | None:
        value = request.headers.get(self.name)
        if value is None:
            return None
        try:
            return self._adapter.validate_python(value)
        except ValidationError as error:
            raise _located(error, "header", self.name) from None

    def openapi(self) -> dict[str, Any]:
        """The parameter as FastAPI documents ``Annotated[str | None, Header(...)] = None``."""
        return {"name": self.name, "in": "header", "required": False, "description": self.description,
                "schema": {"anyOf": [{"type": "string", "minLength": 1, "maxLength": self.max_length},
                                     {"type": "null"}],
                           "title": self.name, "description": self.description}}


def _located(error: ValidationError, *where: str) -> RequestValidationError:
    return RequestValidationError([{**e, "loc": (*where, *e["loc"])}
                                   for e in error.errors(include_url=False, include_input=False)])
