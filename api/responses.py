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


def order_part_response(document: Mapping[str, Any]) -> Response:
    """A shipment or return on its own (``order_id`` and ``order_version`` in ``document``): its
    order's version as the ETag (commands on it take If-Match with the order's version), and a
    link up to the order, in the body and as ``Link: </orders/...>; rel="up"``."""
    order_url = f"/orders/{document['order_id']}"
    headers = {"ETag": f'"{document["order_version"]}"', "Link": f'<{order_url}>; rel="up"'}
    return OrjsonResponse({**document, "links": {"order": order_url}}, headers=headers)


# The headers of ``order_part_response``, as the OpenAPI responses declare them.
ORDER_PART_HEADERS = {
    "ETag": {"description": "the order's version, for If-Match", "schema": {"type": "string"}},
    "Link": {"description": 'the order: `</orders/{order_id}>; rel="up"`', "schema": {"type": "string"}},
}
