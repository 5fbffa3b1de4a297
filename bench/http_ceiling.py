"""The ceiling the HTTP layer alone puts on place-order: the same uvicorn + FastAPI stack and the
same request model (``api.schemas.OrderIn``), a route that validates the body and answers 201
without touching the application or the database. ``make bench`` runs it with wrk to show how
much of the per-order CPU the web stack takes before any business work starts."""
from __future__ import annotations

import orjson
from fastapi import FastAPI
from fastapi.responses import Response

from api.schemas import OrderIn

app = FastAPI()


@app.post("/orders", status_code=201)
async def place_order(body: OrderIn) -> Response:
    return Response(orjson.dumps({"external_id": body.external_id}), status_code=201,
                    media_type="application/json")
