"""The default response class: JSON rendered with orjson (Decimals as strings, never floats)."""
from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson
from starlette.responses import JSONResponse, Response

from application.documents import RenderedDocument

_OPTIONS = orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "model_dump"):  # a pydantic model returned directly
        return value.model_dump(mode="json")
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dumps(content: Any) -> bytes:
    return orjson.dumps(content, default=_default, option=_OPTIONS)


class OrjsonResponse(JSONResponse):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        if isinstance(content, RenderedDocument):  # rendered by the writer process: sent on as it is
            return content.json
        return dumps(content)


def order_response(document: Mapping[str, Any], status_code: int = 200,
                   headers: dict[str, str] | None = None) -> Response:
    """An order document with its ETag (the order's version); one rendered elsewhere (by the
    writer process) goes out as it came."""
    headers = dict(headers or {})
    if document.get("version") is not None:
        headers["ETag"] = f'"{document["version"]}"'
    if isinstance(document, RenderedDocument):
        return Response(document.json, status_code=status_code, headers=headers, media_type="application/json")
    return OrjsonResponse(document, status_code=status_code, headers=headers)
