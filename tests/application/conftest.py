from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from application import commands
from application.aggregate_cache import AggregateCache
from application.context import CommandContext
from application.event_store import OrderManagement
from application.payments import PaymentSettlement
from application.service import OrderService
from application.writer import GroupCommitWriter
from infrastructure.adapters.sandbox_carrier import SandboxCarrier
from infrastructure.adapters.sandbox_payments import SandboxPaymentGateway
from infrastructure.database import eventsourcing_env
from infrastructure.transcoder import OrjsonTranscoder
from tests.database import fresh_database_url

ADDRESS = dict(name="Ada Lovelace", line1="Am Neuen Garten 1", line2=None, city="Potsdam",
               postal_code="14469", country="DE", latitude=52.4125, longitude=13.0711)


class Node:
    """One service process's write side: its own application, cache and writer."""

    def __init__(self, url: str) -> None:
        env = eventsourcing_env(url)
        env["CREATE_TABLE"] = "y"
        self.app = OrderManagement(env, transcoder=OrjsonTranscoder())
        self.cache = AggregateCache(self.app)
        self.writer = GroupCommitWriter(self.app, self.cache)
        self.gateway = SandboxPaymentGateway()
        self.settlement = PaymentSettlement(self.writer, self.cache, self.gateway)
        self.service = OrderService(self.app, self.writer, self.cache, self.settlement, SandboxCarrier())
        self.writer.start()

    def close(self) -> None:
        self.writer.stop()
        self.app.close()


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_database_url() as database_url:
        yield database_url


@pytest.fixture
def node(url: str) -> Iterator[Node]:
    n = Node(url)
    yield n
    n.close()


@pytest.fixture
def ctx() -> CommandContext:
    return CommandContext("key-1", "test integrator", "test", request_id="req-1")


def order_command(external_id: str, lines: dict[str, int], reference: str = "pay_ok", **extra) -> commands.PlaceOrder:
    return commands.PlaceOrder(
        channel="web", external_id=external_id, currency="EUR",
        customer={"name": "Ada", "email": "ada@example.com", "phone": None}, shipping_address=ADDRESS,
        lines=tuple(commands.OrderLine(sku, qty, Decimal("10.00")) for sku, qty in lines.items()),
        shipping_price=Decimal("0.00"), payment={"provider": "sandbox", "reference": reference}, **extra)


def stock_up(service: OrderService, ctx: CommandContext, stock: dict[tuple[str, str], int]) -> None:
    coordinates = {"berlin-wh": (52.52, 13.405), "munich-wh": (48.137, 11.575), "hamburg-st": (53.55, 9.99)}
    for location_id in {loc for loc, _ in stock}:
        lat, lon = coordinates[location_id]
        service.register_location(commands.RegisterLocation(location_id, location_id, "warehouse", lat, lon), ctx)
    for (location_id, sku), qty in stock.items():
        service.receive_stock(commands.ReceiveStock(location_id, sku, qty), ctx)
