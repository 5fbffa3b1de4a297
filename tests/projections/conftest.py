"""A whole system (event store, writer, service, projections, queries) on a fresh database per test."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from application import commands as c
from application.aggregate_cache import AggregateCache
from application.context import CommandContext
from application.event_store import OrderManagement
from application.payments import PaymentSettlement
from application.service import OrderService
from application.writer import GroupCommitWriter
from infrastructure.adapters.sandbox_carrier import SandboxCarrier
from infrastructure.adapters.sandbox_payments import SandboxPaymentGateway
from infrastructure.database import create_pool, eventsourcing_env
from infrastructure.transcoder import OrjsonTranscoder
from projections import ALL, ProjectionRunner, build_projections
from projections.queries import ReadModelQueries
from tests.database import fresh_database_url

ADDRESS = dict(name="Ada", line1="Am Kanal 1", line2=None, city="Potsdam", postal_code="14469", country="DE",
               latitude=52.4125, longitude=13.0711)

DUMP_TABLES = ("orders", "order_lines", "shipments", "shipment_lines", "returns", "stock_levels", "locations",
               "order_history")


@dataclass
class System:
    url: str
    app: OrderManagement
    writer: GroupCommitWriter
    service: OrderService
    queries: ReadModelQueries
    pool: Any
    runners: list[ProjectionRunner] = field(default_factory=list)

    def projections(self, names: tuple[str, ...] = ALL, **options: Any) -> list[ProjectionRunner]:
        runners = build_projections(self.app, names=names, **options)
        self.runners.extend(runners)
        return runners

    def head(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def dump(self, tables: tuple[str, ...] = DUMP_TABLES) -> dict[str, list[str]]:
        with self.pool.connection() as conn:
            return {t: [r[0] for r in conn.execute(f"SELECT t::text FROM {t} t ORDER BY 1").fetchall()]
                    for t in tables}

    def place(self, channel: str, external_id: str, lines: list[tuple[str, int, str]], ctx: CommandContext,
              shipping: str = "4.90") -> UUID:
        outcome = self.service.place_order(c.PlaceOrder(
            channel, external_id, "EUR", {"name": "Ada Lovelace", "email": "ada@example.com", "phone": None},
            ADDRESS, tuple(c.OrderLine(s, q, Decimal(p)) for s, q, p in lines),
            Decimal(shipping), {"provider": "sandbox", "reference": f"pay_{external_id}"}), ctx)
        return UUID(outcome.document["id"])


@pytest.fixture
def system() -> Iterator[System]:
    with fresh_database_url() as url:
        env = eventsourcing_env(url)
        env["CREATE_TABLE"] = "y"
        app = OrderManagement(env, transcoder=OrjsonTranscoder())
        cache = AggregateCache(app)
        writer = GroupCommitWriter(app, cache)
        writer.start()
        service = OrderService(app, writer, cache, PaymentSettlement(writer, cache, SandboxPaymentGateway()),
                               SandboxCarrier())
        pool = create_pool(url, max_size=4)
        sys = System(url, app, writer, service, ReadModelQueries.for_app(pool, app), pool)
        try:
            yield sys
        finally:
            for runner in sys.runners:
                runner.close()
            writer.stop()
            pool.close()
            app.close()


def ctx(command: str = "test", actor: str = "key_1") -> CommandContext:
    return CommandContext(actor, "Integration Admin", command)


def seed_locations(system: System) -> None:
    system.service.register_location(c.RegisterLocation("berlin-wh", "Berlin", "warehouse", 52.52, 13.405), ctx())
    system.service.register_location(c.RegisterLocation("munich-wh", "Munich", "warehouse", 48.137, 11.575), ctx())


def full_journey(system: System, channel: str = "web", external_id: str = "J1") -> tuple[UUID, dict[str, Any]]:
    """Place, pay, pick, pack, ship, deliver, return and refund one order; returns (order id, request ids)."""
    svc = system.service
    seed_locations(system)
    svc.receive_stock(c.ReceiveStock("berlin-wh", "SHOE-42", 2), ctx())
    svc.receive_stock(c.ReceiveStock("munich-wh", "SHOE-42", 5), ctx())
    svc.receive_stock(c.ReceiveStock("munich-wh", "SOCK-1", 10), ctx())
    place_ctx = ctx("PlaceOrder")
    order_id = system.place(channel, external_id, [("SHOE-42", 1, "99.90"), ("SOCK-1", 2, "5.00")], place_ctx)
    svc.settle_payments(order_id, ctx("SettlePayments"))
    order = system.app.repository.get(order_id)
    (shipment_id,) = order.shipments
    svc.pick(c.PickShipment(shipment_id), ctx("PickShipment"))
    svc.pack(c.PackShipment(shipment_id), ctx("PackShipment"))
    ship_ctx = ctx("ShipShipment", actor="key_2")
    svc.ship(c.ShipShipment(shipment_id, "fedex"), ship_ctx)
    svc.deliver(c.DeliverShipment(shipment_id), ctx("DeliverShipment"))
    ret = svc.request_return(c.RequestReturn(str(order_id), (c.ReturnedLine("SHOE-42", 1, "too small"),)),
                             ctx("RequestReturn"))
    svc.receive_return(c.ReceiveReturn(ret.document["id"], "berlin-wh",
                                       (c.ReceivedLine("SHOE-42", 1, "resellable"),)),
                       ctx("ReceiveReturn"))
    return order_id, {"place": place_ctx.request_id, "ship": ship_ctx.request_id}
