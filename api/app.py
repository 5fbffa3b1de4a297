"""The FastAPI application.

``create_app(system)`` serves a given, already started System (tests); ``create_app()`` (what
``uvicorn --factory`` calls) builds one from the environment (``OMS_*``) in the lifespan, makes
sure the admin key exists, starts it and stops it on shutdown.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.models import Schema
from fastapi.routing import APIRoute
from pydantic import BaseModel

from api.auth_failures import AuthFailures
from api.deps import RequestIdMiddleware, WritePositions
from api.parsing import manual_body_models
from api.problems import Problem, install_problem_handlers, problem_responses
from api.responses import OrjsonResponse
from api.routing import Limits
from api.webhook_docs import document_webhooks
from api.routes import (
    api_keys,
    carriers,
    channels,
    locations,
    notifications,
    operations,
    orders,
    returns,
    shipments,
    stock,
    webhooks,
)
from infrastructure.bootstrap import System
from infrastructure.runtime import tune_for_long_lived_state, tune_gil_for_writer
from infrastructure.settings import get_settings

log = logging.getLogger(__name__)

# One router per resource; every route in them is a GuardedRoute (api/routing.py).
ROUTE_MODULES = (orders, shipments, returns, stock, locations, api_keys, channels, carriers, notifications,
                 webhooks, operations)

# Commands block a worker thread until their batch commits: allow plenty of them at once.
THREADPOOL_SIZE = 200

TAGS = [
    {"name": "orders", "description": "Place, read and list orders; cancel; request returns; audit."},
    {"name": "shipments", "description": "Move shipments through pick, pack, ship and deliver."},
    {"name": "returns", "description": "Receive returned goods."},
    {"name": "stock", "description": "Receive and adjust stock; stock levels per SKU."},
    {"name": "locations", "description": "Warehouses and stores."},
    {"name": "api-keys", "description": "API keys and their roles (admin)."},
    {"name": "channels", "description": "Sales channels (Shopify, WooCommerce, Amazon) and the orders they send."},
    {"name": "carriers", "description": "Carrier accounts and their tracking webhooks (EasyPost)."},
    {"name": "notifications", "description": "The e-mails and SMS customers were sent about their orders."},
    {"name": "webhooks", "description": "Signed outbound webhooks (Standard Webhooks 1.0): endpoints, deliveries, "
                                        "retries, replays (admin). What is sent: the document's `webhooks` section."},
    {"name": "operations", "description": "Health and projection status."},
]

DESCRIPTION = """
Event-sourced Order Management System.

* **Auth**: `Authorization: Bearer <API key>`; roles `admin`, `integrator` (commands and
  reads), `auditor` (orders, history, as-of), `analyst` (order and stock read models).
* **Errors** are `application/problem+json` (RFC 9457); invalid input lists each problem under
  `errors` with a JSON Pointer into the request body.
* **Money** is a decimal string such as `"99.90"`.
* **Read your writes**: a command returns `X-OMS-Position` (a replayed `POST /orders`, the
  position of the order's latest event); reads by the same key (or any read sent with
  `X-OMS-Min-Position`) wait briefly until the read models include it.
* **Concurrency**: order reads return an `ETag`; send it as `If-Match` with a command to have
  it refused (412) if the order changed meanwhile.
* `X-Request-ID` is taken from the request (or generated), echoed, and recorded with every event.
"""


def create_app(system: System | None = None) -> FastAPI:
    owns_system = system is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = THREADPOOL_SIZE
        tune_gil_for_writer()  # the writer thread must not queue behind the event loop
        if not owns_system:
            yield
            return
        tune_for_long_lived_state()  # the aggregate cache must not be re-scanned by the GC
        built = await anyio.to_thread.run_sync(_build_and_start)
        app.state.system = built
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(built.stop)

    app = FastAPI(
        title="Order Management System",
        version="0.1.0",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        default_response_class=OrjsonResponse,
        lifespan=lifespan,
        telemetry=telemetry_at_start(),
    )
    app.state.system = system
    app.state.write_positions = WritePositions()
    settings = system.settings if system is not None else get_settings()
    app.state.limits = Limits(settings.max_body_bytes, settings.max_json_depth)
    app.state.allowed_methods = _allowed_methods
    app.state.auth_failures = AuthFailures(allowed=settings.auth_failures_allowed,
                                           window=settings.auth_failure_window_seconds,
                                           max_block=settings.auth_block_max_seconds)
    install_problem_handlers(app)
    app.add_middleware(RequestIdMiddleware)
    for module in ROUTE_MODULES:
        app.include_router(module.router)
    document_webhooks(app.webhooks)  # what endpoints are sent: the document's `webhooks` section
    _document_problem_schema(app)
    return app


def _allowed_methods(path: str) -> list[str]:
    """Every method some route offers at ``path`` (for a 405's ``Allow``)."""
    routes = [route for module in ROUTE_MODULES for route in module.router.routes if isinstance(route, APIRoute)]
    # A fixed path (/stock/receipts) answers for itself before a template that also matches it
    # (/stock/{sku}).
    matching = [r for r in routes if r.path == path] or [r for r in routes if r.path_regex.match(path)]
    methods = {method for route in matching for method in route.methods}
    return sorted(methods | ({"HEAD"} if "GET" in methods else set()))


def _component_schemas(model: type[BaseModel]) -> dict[str, Any]:
    """``model`` and the models it refers to, as FastAPI documents a body parameter's model."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions = {**schema.pop("$defs", {}), model.__name__: schema}
    return {name: jsonable_encoder(Schema(**definition), by_alias=True, exclude_none=True)
            for name, definition in definitions.items()}


def telemetry_at_start() -> dict[str, bool]:
    """FastAPI's OpenTelemetry spans, metrics and logs, for each provider the process has set up
    by the time the app is built (e.g. by ``opentelemetry-instrument``). FastAPI would otherwise
    look the three providers up on every request to learn that none is set."""
    from opentelemetry import metrics, trace
    from opentelemetry._logs import get_logger_provider

    def configured(provider: object) -> bool:
        # OpenTelemetry's API stands in with proxies until a provider is set (FastAPI's own test).
        return type(provider).__name__ not in ("ProxyTracerProvider", "_ProxyMeterProvider", "ProxyLoggerProvider")

    return {"tracing": configured(trace.get_tracer_provider()), "metrics": configured(metrics.get_meter_provider()),
            "logs": configured(get_logger_provider())}


def _build_and_start() -> System:
    from infrastructure.bootstrap import build_system, ensure_admin_key
    from infrastructure.settings import get_settings

    settings = get_settings()
    system = build_system(settings)
    secret = ensure_admin_key(system.api_keys, settings)
    if secret is not None:
        log.warning("No API key existed, so an admin key was created (shown only once): %s", secret)
    system.start(projections=settings.projections == "thread")
    warm = getattr(system.geocoder, "warm", None)
    if warm is not None:  # so that the first address to place (a channel's webhook) does not wait for it
        threading.Thread(target=warm, name="geocoder-warm", daemon=True).start()
    return system


NO_NUL = {"not": {"pattern": "\u0000"}}
# Bodies taken as another platform sends them: any JSON, with text PostgreSQL can store.
FREE_JSON_SCHEMAS = {
    "StorableJson": {"anyOf": [
        {"type": "string", **NO_NUL}, {"type": "number"}, {"type": "boolean"}, {"type": "null"},
        {"type": "array", "items": {"$ref": "#/components/schemas/StorableJson"}},
        {"type": "object", "propertyNames": NO_NUL, "additionalProperties": {"$ref": "#/components/schemas/StorableJson"}},
    ], "description": "any JSON value; no text in it (keys included) holds NUL (U+0000)"},
    "ChannelOrder": {"type": "object", "propertyNames": NO_NUL,
                     "additionalProperties": {"$ref": "#/components/schemas/StorableJson"},
                     "description": "the platform's own order body, unchanged: Shopify's order webhook body "
                                    "(REST Order), WooCommerce's REST v3 order, or an Amazon connector's "
                                    "{\"order\": <Orders v0 Order>, \"order_items\": [<OrderItem>]}"},
    "DeliveryAcknowledged": {"type": "object", "required": ["delivery", "outcome"], "properties": {
        "delivery": {"type": "integer", "description": "the delivery's id (GET /channels/{id}/deliveries/{delivery})"},
        "outcome": {"type": "string", "enum": ["ignored", "ping"]},
        "topic": {"type": ["string", "null"]}},
        "description": "a channel's delivery recorded and acknowledged without an order"},
    "EasyPostEvent": {"type": "object", "propertyNames": NO_NUL,
                      "additionalProperties": {"$ref": "#/components/schemas/StorableJson"},
                      "description": "an EasyPost Event, as EasyPost sends it"},
}


def as_served(document: dict[str, Any]) -> dict[str, Any]:
    """What this API adds to the document FastAPI generates: every rule the guard applies to all
    input, stated where each input is described."""
    _storable_text_only(document)
    _absent_not_null(document)
    return document


def _absent_not_null(document: dict[str, Any]) -> None:
    """An optional header or query parameter is left out, never sent as ``null`` (which would be
    the text "null"): FastAPI documents ``X | None = None`` as ``anyOf: [X, null]``."""
    for item in document.get("paths", {}).values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                kinds = schema.get("anyOf")
                if parameter.get("in") in ("header", "query") and kinds and {"type": "null"} in kinds:
                    rest = [k for k in kinds if k != {"type": "null"}]
                    if len(rest) == 1:
                        del schema["anyOf"]
                        schema.update(rest[0])


def _storable_text_only(node: Any) -> None:
    """Every free string in the document says what the guard refuses in any string (NUL;
    api/guard.py), so that clients and generators know it as they know lengths and patterns."""
    if isinstance(node, dict):
        if node.get("type") == "string" and "enum" not in node and "const" not in node and "format" not in node:
            node.setdefault("not", {"pattern": "\u0000", "description": "no NUL (U+0000): PostgreSQL cannot store it"})
        if node.get("type") == "object" and "properties" not in node:  # free keys: the same rule for them
            node.setdefault("propertyNames", {"not": {"pattern": "\u0000"}})
        for value in node.values():
            _storable_text_only(value)
    elif isinstance(node, list):
        for value in node:
            _storable_text_only(value)


def _document_problem_schema(app: FastAPI) -> None:
    """Adds the Problem schema to the OpenAPI components (the responses refer to it by name)."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes, tags=app.openapi_tags, webhooks=app.webhooks.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.setdefault("Problem", Problem.model_json_schema(ref_template="#/components/schemas/{model}"))
            components.update(FREE_JSON_SCHEMAS)
            schemes = schema["components"].setdefault("securitySchemes", {})
            schemes["ShopifySignature"] = {
                "type": "apiKey", "in": "header", "name": "X-Shopify-Hmac-Sha256",
                "description": "the base64 HMAC-SHA256 of the raw body, keyed with the channel's webhook secret "
                               "(PUT /channels/{channel_id}); with X-Shopify-Topic and X-Shopify-Webhook-Id"}
            schemes["WooCommerceSignature"] = {
                "type": "apiKey", "in": "header", "name": "X-WC-Webhook-Signature",
                "description": "the base64 HMAC-SHA256 of the raw body, keyed with the channel's webhook secret "
                               "(PUT /channels/{channel_id}); with X-WC-Webhook-Topic and X-WC-Webhook-Delivery-ID"}
            schema["components"].setdefault("securitySchemes", {})["EasyPostSignature"] = {
                "type": "apiKey", "in": "header", "name": "X-Hmac-Signature",
                "description": "`hmac-sha256-hex=` and the hex HMAC-SHA256 of the raw body, keyed with the "
                               "NFKD-normalised webhook secret set by PUT /carriers/easypost"}
            for name, definition in components["Problem"].pop("$defs", {}).items():
                components.setdefault(name, definition)
            for model in manual_body_models:  # bodies that routes read themselves (api/parsing.py)
                for name, definition in _component_schemas(model).items():
                    components.setdefault(name, definition)
            # FastAPI's own 422 model is not what this API returns: point every 422 at Problem.
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    responses = operation.get("responses", {})
                    if "422" in responses and "HTTPValidationError" in str(responses["422"]):
                        responses["422"] = problem_responses(422)[422]
            components.pop("HTTPValidationError", None)
            components.pop("ValidationError", None)
            app.openapi_schema = as_served(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
