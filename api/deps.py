"""Dependencies shared by the routes: the System, the caller's API key and role checks, the
command context, read-your-writes waiting and If-Match preconditions."""
from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.security import HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.auth_failures import AuthFailures
from api.problems import forbidden, invalid_parameter, too_many_failures, unauthorized
from application.commands import Command
from application.context import CommandContext
from application.ids import new_request_id
from application.service import Outcome
from infrastructure.api_keys import ApiKey, Role
from infrastructure.bootstrap import System

async def get_system(request: Request) -> System:
    return request.app.state.system


SystemDep = Annotated[System, Depends(get_system)]


class ApiKeyBearer(HTTPBearer):
    """The caller's API key (``Authorization: Bearer <key>``), refused unless its role may call
    the route. One dependency that is also the route's OpenAPI security scheme: FastAPI solves
    every node of a route's dependency tree on every request (some 70,000 instructions each,
    counted by ``python -m bench.instructions``), and every command passes through this one."""

    def __init__(self, roles: frozenset[Role] | None) -> None:
        super().__init__(auto_error=False, scheme_name="HTTPBearer",
                         description="An API key: `Authorization: Bearer <key>`")
        self.allowed = roles  # None: any active key

    async def __call__(self, request: Request) -> ApiKey:  # type: ignore[override]
        credentials = await super().__call__(request)
        api_keys = request.app.state.system.api_keys
        # Cache hits are answered on the event loop; only a miss goes to the database (in a thread).
        known, key = api_keys.cached(credentials.credentials) if credentials is not None else (False, None)
        if key is None:
            key = await self._authenticated(request, credentials, known)
        if self.allowed is not None and key.role not in self.allowed:
            raise forbidden(f"the {key.role.value} role may not do this "
                            f"(allowed: {', '.join(sorted(r.value for r in self.allowed))})")
        return key

    @staticmethod
    async def _authenticated(request: Request, credentials: Any, known: bool) -> ApiKey:
        """The key of a request whose key this process does not know valid: looked up unless
        its client is blocked for failing too often (api/auth_failures.py)."""
        failures: AuthFailures = request.app.state.auth_failures
        client = request.client.host if request.client else "unknown"
        if wait := failures.retry_after(client):
            raise too_many_failures(wait)
        key = None
        if credentials is None:
            detail = "an API key is required: Authorization: Bearer <key>"
        else:
            detail = "the API key is invalid or revoked"
            if not known:
                key = await run_in_threadpool(request.app.state.system.api_keys.authenticate, credentials.credentials)
        if key is None:
            failures.failed(client)
            raise unauthorized(detail)
        return key


CurrentKey = Annotated[ApiKey, Depends(ApiKeyBearer(None))]


def require_role(*roles: Role) -> ApiKeyBearer:
    return ApiKeyBearer(frozenset(roles) | {Role.ADMIN})


# Who may do what (admin may do everything).
Admin = Annotated[ApiKey, Depends(require_role(Role.ADMIN))]
Commander = Annotated[ApiKey, Depends(require_role(Role.INTEGRATOR))]
OrderReader = Annotated[ApiKey, Depends(require_role(Role.INTEGRATOR, Role.AUDITOR, Role.ANALYST))]
StockReader = Annotated[ApiKey, Depends(require_role(Role.INTEGRATOR, Role.ANALYST))]
Auditor = Annotated[ApiKey, Depends(require_role(Role.AUDITOR))]

# ---------------------------------------------------------------- request ids and contexts

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id_of(value: str | None) -> str:
    """The client's X-Request-ID when it is a sane token, else a new one."""
    if value and _REQUEST_ID.match(value):
        return value
    return new_request_id()


class RequestIdMiddleware:
    """Takes X-Request-ID from the request (or makes one), keeps it in the request state and
    echoes it on the response (pure ASGI, so it costs next to nothing)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = request_id_of(incoming)
        scope.setdefault("state", {})["request_id"] = request_id
        encoded = request_id.encode("latin-1")

        async def send_with_id(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", encoded))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)


def command_context(request: Request, key: ApiKey, command: str) -> CommandContext:
    """Who (the API key), what (the command name) and which request: recorded with every event.
    The key's channels go with it: the writer refuses orders outside them as unknown."""
    state = request.scope.get("state", {})
    return CommandContext(actor_id=str(key.id), actor_name=key.name, command=command,
                          request_id=state.get("request_id") or new_request_id(), channels=key.channels)

# ---------------------------------------------------------------- read your writes


class WritePositions:
    """Per API key, the highest event position a command returned to it (in this process).
    Reads by that key wait until the projections they use have reached it."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._positions: dict[str, int] = {}
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def record(self, key_id: object, position: int | None) -> None:
        if position is None:
            return
        key = str(key_id)
        with self._lock:
            if position > self._positions.get(key, 0):
                if len(self._positions) >= self._max_keys and key not in self._positions:
                    self._positions.clear()  # bounded; losing it only weakens read-your-writes
                self._positions[key] = position

    def get(self, key_id: object) -> int:
        return self._positions.get(str(key_id), 0)


def get_positions(request: Request) -> WritePositions:
    return request.app.state.write_positions


def recorded(request: Request, key: ApiKey, position: int | None, headers: dict[str, str]) -> None:
    """Remembers a command's position for the key's later reads; adds ``X-OMS-Position``."""
    if position is not None:
        get_positions(request).record(key.id, position)
        headers["X-OMS-Position"] = str(position)


async def carry_out(request: Request, key: ApiKey, cmd: Command, headers: dict[str, str]) -> Outcome:
    """Has the writer carry out ``cmd`` for ``key``; adds the position of what it recorded to
    ``headers`` (and to the key's reads to come)."""
    system = request.app.state.system
    outcome = await system.commands.execute(cmd, command_context(request, key, type(cmd).__name__))
    recorded(request, key, outcome.position, headers)
    return outcome


MinPosition = Annotated[int | None, Header(
    alias="X-OMS-Min-Position", ge=0,
    description="Serve the read only once the read model reflects this event position "
                "(an X-OMS-Position returned by a command), or after the read-your-writes timeout.")]


def consistent(*projections: str) -> Callable[..., None]:
    """A dependency that waits (bounded) until ``projections`` reflect the caller's own writes
    and any X-OMS-Min-Position it sent."""
    names = list(projections)

    def wait(request: Request, system: SystemDep, key: CurrentKey,
             min_position: MinPosition = None) -> None:
        if min_position and min_position > system.queries.head():
            # Waiting for a position the store has not reached could only time out.
            raise invalid_parameter("X-OMS-Min-Position", "header",
                                    f"{min_position} is beyond the event store's head: no command returned it")
        position = max(get_positions(request).get(key.id), min_position or 0)
        if position > 0:
            # Bounded: after the timeout the read is served as it is (it may lag).
            system.queries.wait_for(names, position, timeout=system.settings.read_your_writes_timeout)

    return wait

# ---------------------------------------------------------------- If-Match


IfMatch = Annotated[str | None, Header(
    alias="If-Match", description='The order\'s ETag (e.g. `"7"`): the command is refused with 412 if the '
                                  'order has changed since.')]


def etag(version: int) -> str:
    return f'"{version}"'


def expected_versions(if_match: str | None) -> frozenset[int] | None:
    """The order versions an ``If-Match`` header accepts (None: no precondition, or ``*``).

    The versions travel inside the command and the handler checks them in the writer, so the
    precondition holds at the moment the change is recorded. A tag that is no version of ours
    matches nothing (412)."""
    if if_match is None:
        return None
    versions = set()
    for part in if_match.split(","):
        part = part.strip()
        if part == "*":
            return None
        tag = part.removeprefix("W/").strip('"')
        if tag.isdigit():
            versions.add(int(tag))
    return frozenset(versions)
