"""Operations: health (no auth) and projection status (admin)."""
from __future__ import annotations

import anyio.from_thread
from fastapi import APIRouter

from api.deps import Admin, SystemDep
from api.problems import ProblemException, problem_responses
from api.responses import OrjsonResponse
from api.schemas import Health, ProjectionList
from api.routing import GuardedRoute
from application.commands import DescribeWriter
from application.context import system_context

router = APIRouter(tags=["operations"], route_class=GuardedRoute)

HEALTH_TIMEOUT_SECONDS = 2.0


# Degraded (the Health document, application/json) or unavailable (a problem).
HEALTH_503 = {
    "description": "Degraded: a read model or policy is stopped at an event it cannot apply (`stalled` says "
                   "which, where and why); or the database or the writer does not answer (a problem)",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}},
                **problem_responses(503)[503]["content"]},
}


@router.get("/health", response_model=Health, responses={503: HEALTH_503})
def health(system: SystemDep) -> OrjsonResponse:
    """200 when the database answers (``SELECT 1`` through the read pool) and no read model or
    policy is stopped; 503 otherwise."""
    try:
        with system.read_pool.connection(timeout=HEALTH_TIMEOUT_SECONDS) as conn:
            conn.execute("SET LOCAL statement_timeout = 2000")
            conn.execute("SELECT 1")
    except Exception as error:  # noqa: BLE001 - any failure means "not healthy"
        raise ProblemException(503, "the database does not answer", title="Service unavailable",
                               slug="service-unavailable", headers={"Retry-After": "1"}) from error
    # The writer process's, when it runs in one (503 if it is down).
    status = anyio.from_thread.run(system.commands.execute, DescribeWriter(), system_context("DescribeWriter")).document
    stalls = system.queries.stalls()
    if not stalls:
        return OrjsonResponse({"status": "ok", **status, "stalled": []}, headers={"Cache-Control": "no-store"})
    detail = "; ".join(f"{s.projection} is stopped at event {s.position} ({s.attempts} attempts)" for s in stalls)
    return OrjsonResponse({"status": "degraded", "detail": detail, **status,
                           "stalled": [stall.document() for stall in stalls]},
                          status_code=503, headers={"Cache-Control": "no-store", "Retry-After": "5"})


@router.get("/projections", response_model=ProjectionList, responses=problem_responses(401, 403, 503))
def projections(system: SystemDep, admin: Admin) -> OrjsonResponse:
    """Each read model's and policy's position in the event feed and how far it lags behind the head
    (the webhook and customer notification outboxes' too)."""
    outbox = [system.webhooks.outbox] if system.webhooks is not None else []
    if system.notifications is not None:  # the customer notifications' outbox
        outbox.append(system.notifications.runner)
    status = system.queries.projection_status(system.projections + system.followers + outbox)
    stalled = {stall.projection: stall.document() for stall in system.queries.stalls()}
    head = max((s.get("head") or 0 for s in status), default=None)
    return OrjsonResponse({"head": head, "data": [{**s, "stalled": stalled.get(s["name"])} for s in status]})
