"""A projection or policy never stalls silently: it stops at the event it cannot apply (the others
go on), records where and why in ``projection_failures``, logs one line per attempt at growing
intervals, makes the reads that wait on it fail at once, and goes on by itself once the cause is
gone. On real PostgreSQL; the back-off is capped small instead of timed."""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

import pytest

from application import commands as c
from application.policies import PaymentPolicy
from application.ports import PaymentGatewayUnavailable
from infrastructure.adapters.sandbox_payments import SandboxPaymentGateway
from projections import LOCATIONS, ORDER_HISTORY, ORDERS, STOCK_LEVELS, ProjectionRunner
from projections.failures import ProjectionStalled, Stall
from projections.policy_feed import build_policy_runner

from .conftest import ADDRESS, System, ctx, seed_locations

TIMEOUT = 30
CAP = 0.4  # the back-off's cap in these tests: 0.1, 0.2, 0.4, 0.4, ...
FAST = dict(max_backoff=CAP, poll_interval=0.02)
ATTEMPT = re.compile(r"projection (\S+): stopped at event (\d+), attempt (\d+) failed .*; next attempt in ([\d.]+) s")

T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float = TIMEOUT) -> T:
    """The first truthy result of ``check``, polled until ``timeout`` (a bound, not a measurement)."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)
    return result


def stall_of(system: System, name: str, *, attempts: int = 1) -> Stall | None:
    return next((s for s in system.queries.stalls() if s.projection == name and s.attempts >= attempts), None)


def position_before(system: System, position: int) -> int:
    with system.pool.connection() as conn:
        return conn.execute("SELECT max(notification_id) FROM oms_events WHERE notification_id < %s",
                            (position,)).fetchone()[0]


class Poison:
    """Makes one runner's projection raise for the event at one position, until ``cure()``."""

    def __init__(self, runner: ProjectionRunner, position: int) -> None:
        self.active = True
        self.raised = 0
        stage = runner.projection.stage

        def poisoned_stage(events: Any) -> Any:
            if self.active and any(p == position for p, _ in events):
                self.raised += 1
                raise ValueError(f"cannot apply event {position} (test poison)")
            return stage(events)

        runner.projection.stage = poisoned_stage  # type: ignore[method-assign]

    def cure(self) -> None:
        self.active = False


def attempt_lines(records: list[logging.LogRecord], name: str) -> list[tuple[int, int, float]]:
    """(event, attempt, next delay) of each "stopped at" line the runner of ``name`` logged."""
    found = [ATTEMPT.match(r.getMessage()) for r in records]
    return [(int(m[2]), int(m[3]), float(m[4])) for m in found if m and m[1] == name]


def test_a_projection_stops_at_the_event_it_cannot_apply_and_goes_on_once_the_cause_is_gone(
        system: System, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="projections.runner")
    # Given events before, at and after one the locations projection cannot apply
    seed_locations(system)
    poisoned = system.service.register_location(
        c.RegisterLocation("poison-st", "Poison", "store", 50.0, 10.0), ctx()).position
    system.service.register_location(c.RegisterLocation("after-st", "After", "store", 51.0, 11.0), ctx())
    system.service.receive_stock(c.ReceiveStock("berlin-wh", "SHOE-42", 3), ctx())
    order_id = system.place("web", "S1", [("SHOE-42", 1, "10.00")], ctx())
    head = system.head()
    runners = {r.name: r for r in system.projections(**FAST)}  # one shared feed, as in a worker
    poison = Poison(runners[LOCATIONS], poisoned)

    # When the runners start (the first batch holds every event, the poisoned one too)
    for runner in runners.values():
        runner.start()

    # Then the other read models go all the way
    assert system.queries.wait_for([ORDERS, STOCK_LEVELS, ORDER_HISTORY], head, TIMEOUT)
    assert system.queries.order(order_id) is not None
    # ... and locations stops just before the event, with the stall recorded and tried again
    stall = eventually(lambda: stall_of(system, LOCATIONS, attempts=4))
    assert stall.position == poisoned and "cannot apply event" in stall.error
    assert [s.projection for s in system.queries.stalls()] == [LOCATIONS]
    assert runners[LOCATIONS].position() == position_before(system, poisoned)
    assert [l["location_id"] for l in system.queries.locations()] == ["berlin-wh", "munich-wh"]
    # ... a read waiting for a position at or after the event fails at once; one before it is served
    with pytest.raises(ProjectionStalled) as stalled:
        system.queries.wait_for([LOCATIONS], head, timeout=600)
    assert stalled.value.stall.projection == LOCATIONS and stalled.value.stall.position == poisoned
    assert system.queries.wait_for([LOCATIONS], position_before(system, poisoned), TIMEOUT)
    # ... and the log has one line per attempt, at growing intervals up to the cap
    records = list(caplog.records)
    lines = attempt_lines(records, LOCATIONS)
    assert len(lines) >= 4
    assert [event for event, _, _ in lines] == [poisoned] * len(lines)
    assert [attempt for _, attempt, _ in lines] == list(range(1, len(lines) + 1))
    assert [delay for _, _, delay in lines] == [min(0.1 * 2 ** n, CAP) for n in range(len(lines))]
    about_locations = [r for r in records if r.levelno >= logging.WARNING and "projection locations:" in r.getMessage()]
    assert len(about_locations) == 1 + len(lines)  # (the batch that failed, then one line per attempt)
    assert not [r for r in records if r.levelno >= logging.WARNING and "projection locations:" not in r.getMessage()]

    # When the cause is gone
    poison.cure()

    # Then it goes on by itself, and the stall is cleared
    eventually(lambda: not system.queries.stalls())
    assert system.queries.wait_for([LOCATIONS], head, TIMEOUT)
    assert [l["location_id"] for l in system.queries.locations()] == ["after-st", "berlin-wh", "munich-wh",
                                                                      "poison-st"]
    assert any(f"event {poisoned} applied after" in r.getMessage() for r in caplog.records)


def test_a_real_projection_stopped_by_the_database_refusing_a_row_goes_on_once_it_can(
        system: System, monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end: the locations projection's own write of a real event fails in the database
    driver (a name with a NUL character, which PostgreSQL text cannot hold), in the batch's commit."""
    import projections.locations as locations_module

    to_rows = locations_module.LocationsProjection.to_rows
    broken = {"on": True}

    def rows_with_nul(self: Any, touched: Any, new: Any) -> Any:
        rows = to_rows(self, touched, new)
        return [(r[0], r[1] + "\x00", *r[2:]) if broken["on"] and r[0] == "nul-st" else r for r in rows]

    monkeypatch.setattr(locations_module.LocationsProjection, "to_rows", rows_with_nul)
    # Given a runner that has applied some events, and one more it cannot write
    seed_locations(system)
    runner, = system.projections((LOCATIONS,), **FAST)
    runner.start()
    assert system.queries.wait_for([LOCATIONS], system.head(), TIMEOUT)
    poisoned = system.service.register_location(c.RegisterLocation("nul-st", "Nul", "store", 1.0, 2.0), ctx()).position
    later = system.service.register_location(c.RegisterLocation("later-st", "Later", "store", 3.0, 4.0), ctx()).position

    # When it follows the feed
    runner.notify()

    # Then it stops at that event, says why, and a waiting read fails at once
    stall = eventually(lambda: stall_of(system, LOCATIONS, attempts=2))
    assert stall.position == poisoned and "NUL" in stall.error
    with pytest.raises(ProjectionStalled):
        system.queries.wait_for([LOCATIONS], later, timeout=600)

    # When the write is fixed, then it goes on without a restart (at its next attempt)
    broken["on"] = False
    eventually(lambda: not system.queries.stalls())
    assert system.queries.wait_for([LOCATIONS], later, TIMEOUT)
    assert {l["location_id"] for l in system.queries.locations()} >= {"nul-st", "later-st"}


def test_a_stall_outlives_its_runner_and_the_next_holder_clears_it_once_past(system: System) -> None:
    # Given a runner stopped at an event, then shut down
    seed_locations(system)
    poisoned = system.service.register_location(c.RegisterLocation("p-st", "P", "store", 1.0, 2.0), ctx()).position
    first, = system.projections((LOCATIONS,), **FAST)
    Poison(first, poisoned)
    first.start()
    eventually(lambda: stall_of(system, LOCATIONS))
    first.stop()
    # Then the stall stays recorded, durably
    assert [s.position for s in system.queries.stalls()] == [poisoned]

    # When another runner takes over without the cause
    second, = system.projections((LOCATIONS,), **FAST)
    second.start()

    # Then it applies the event and clears the record
    eventually(lambda: not system.queries.stalls())
    assert system.queries.wait_for([LOCATIONS], system.head(), TIMEOUT)


def test_the_payment_policy_stops_at_an_order_it_cannot_settle_and_goes_on_once_it_can(
        system: System, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="projections.runner")
    authorize = SandboxPaymentGateway.authorize
    outage = {"on": True}

    def provider_down_for_one_card(self: Any, reference: str, *args: Any, **kwargs: Any) -> Any:
        if outage["on"] and reference == "pay_outage":
            raise PaymentGatewayUnavailable("the provider does not answer for this card (test)")
        return authorize(self, reference, *args, **kwargs)

    monkeypatch.setattr(SandboxPaymentGateway, "authorize", provider_down_for_one_card)
    # Given orders before and after one whose payment the provider cannot authorise
    seed_locations(system)
    system.service.receive_stock(c.ReceiveStock("berlin-wh", "SHOE-42", 10), ctx())
    before = system.place("web", "P1", [("SHOE-42", 1, "10.00")], ctx())
    stuck = system.service.place_order(c.PlaceOrder(
        "web", "P2", "EUR", {"name": "Ada Lovelace", "email": "ada@example.com", "phone": None}, ADDRESS,
        (c.OrderLine("SHOE-42", 1, Decimal("10.00")),), Decimal("4.90"),
        {"provider": "sandbox", "reference": "pay_outage"}), ctx())
    after = system.place("web", "P3", [("SHOE-42", 1, "10.00")], ctx())
    policy = build_policy_runner(system.app, PaymentPolicy(system.service.settlement), **FAST)
    system.runners.append(policy)
    orders, = system.projections((ORDERS,), **FAST)

    # When the policy and a read model follow the feed
    policy.start()
    orders.start()

    # Then the policy stops at the placement it cannot settle, having settled the one before
    stall = eventually(lambda: stall_of(system, policy.name, attempts=3))
    assert stall.position <= stuck.position  # (its OrderPlaced; a placement's position is its last event's)
    assert "PaymentGatewayUnavailable" in stall.error
    assert system.app.repository.get(before).payment_status == "authorized"
    # ... (the failed batch settled the order after it too: delivery to a policy is at least once)
    # ... an order placed now waits behind it, while the read model goes on
    later = system.place("web", "P4", [("SHOE-42", 1, "10.00")], ctx())
    head = system.head()
    assert system.queries.wait_for([ORDERS], head, TIMEOUT)
    # ... a wait on the policy fails at once, and the log has one line per attempt, growing
    with pytest.raises(ProjectionStalled) as stalled:
        system.queries.wait_for([policy.name], head, timeout=600)
    assert stalled.value.stall.projection == "payment_policy"
    lines = attempt_lines(list(caplog.records), policy.name)
    assert len(lines) >= 3 and [d for _, _, d in lines] == [min(0.1 * 2 ** n, CAP) for n in range(len(lines))]
    assert system.app.repository.get(later).payment_status == "pending"

    # When the provider answers again
    outage["on"] = False

    # Then the policy goes on by itself: every order is authorised and the stall is cleared
    eventually(lambda: not system.queries.stalls())
    for order_id in (before, UUID(stuck.document["id"]), after, later):
        eventually(lambda: system.app.repository.get(order_id).payment_status == "authorized")
