"""The messages customers were sent (e-mail and SMS): what, to whom, and whether it went out.
Read by admins, integrators (a key limited to sales channels sees only their orders' messages)
and auditors."""
from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import Field

from api.deps import SystemDep, consistent, require_role
from api.pagination import LINK_HEADER, PageQuery, invalid_cursor, page_response
from api.problems import not_found, problem_responses
from api.responses import OrjsonResponse
from api.routing import GuardedRoute
from api.schemas import NotificationDetail, NotificationList
from infrastructure.api_keys import ApiKey, Role
from projections.queries import InvalidCursor, decode_cursor, encode_cursor

router = APIRouter(prefix="/notifications", tags=["notifications"], route_class=GuardedRoute)

NotificationReader = Annotated[ApiKey, Depends(require_role(Role.INTEGRATOR, Role.AUDITOR))]
# The outbox runner's position: a caller's own command is reflected once its messages are recorded.
Fresh = Annotated[None, Depends(consistent("notifications"))]


class NotificationFilters(PageQuery):
    order_id: UUID | None = Field(None, description="only this order's messages")
    status: Literal["pending", "sent", "failed"] | None = None


@router.get("", response_model=NotificationList,
            responses={200: {"headers": LINK_HEADER}, **problem_responses(401, 403, 422, 503)})
def list_notifications(request: Request, filters: Annotated[NotificationFilters, Query()], system: SystemDep,
                       key: NotificationReader, _fresh: Fresh) -> OrjsonResponse:
    """Messages newest first, filtered; follow ``next_cursor`` (or the ``Link: rel="next"`` header)."""
    try:
        after = decode_cursor(filters.cursor) if filters.cursor is not None else None
    except InvalidCursor:
        raise invalid_cursor() from None
    data, following = system.notifications.queries.page(
        order_id=filters.order_id, status=filters.status, channels=key.channels, limit=filters.limit, after=after)
    return page_response(request, data, encode_cursor(*following) if following is not None else None)


@router.get("/{notification_id}", response_model=NotificationDetail, responses=problem_responses(401, 403, 404, 503))
def get_notification(notification_id: Annotated[str, Path(max_length=64, description="the message's id (a UUID)")],
                     system: SystemDep, key: NotificationReader, _fresh: Fresh) -> OrjsonResponse:
    """The message as it was rendered (subject, text, HTML) and what became of it."""
    try:
        uuid = UUID(notification_id)
    except ValueError:
        raise not_found("notification", notification_id) from None
    item = system.notifications.queries.get(uuid, key.channels)
    if item is None:
        raise not_found("notification", notification_id)
    return OrjsonResponse(item)
