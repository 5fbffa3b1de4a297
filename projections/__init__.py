"""The read side: projections of the event store into plain SQL tables.

Wiring (composition root)::

    runners = build_projections(app)                    # creates tables (idempotent)
    for r in runners: r.start()
    writer.on_commit = lambda: [r.notify() for r in runners]   # or poll (100 ms)
    queries = ReadModelQueries.for_app(pool, app)
    ...
    for r in runners: r.close()
"""
from __future__ import annotations

from typing import Any

from eventsourcing.postgres import PostgresFactory
from eventsourcing.utils import Environment

from projections.feed import SharedFeed
from projections.locations import LocationsProjection, LocationsView
from projections.names import ALL, LOCATIONS, ORDER_HISTORY, ORDERS, STOCK_LEVELS, tracking_table_name
from projections.order_history import OrderHistoryProjection, OrderHistoryView
from projections.orders import OrdersProjection, OrdersView
from projections.runner import ProjectionBusy, ProjectionRunner
from projections.stock_levels import StockLevelsProjection, StockLevelsView

__all__ = [
    "ALL", "LOCATIONS", "ORDERS", "ORDER_HISTORY", "STOCK_LEVELS",
    "ProjectionBusy", "ProjectionRunner", "build_projections", "projection_env",
]


def projection_env(app: Any, name: str) -> Environment:
    """The eventsourcing environment of one projection's datastore: the event store's database
    (read models live beside it, so that a row and its tracking position commit together), with
    a small pool of its own."""
    env: dict[str, str] = {k: v for k, v in app.env.items() if isinstance(v, str)}
    env["POSTGRES_POOL_SIZE"] = "1"
    env["POSTGRES_MAX_OVERFLOW"] = "2"
    env.pop("CREATE_TABLE", None)
    return Environment(name=name, env=env)


def build_projections(
    app: Any,
    *,
    names: tuple[str, ...] = ALL,
    orders_cache_size: int = 50_000,
    stock_cache_size: int = 50_000,
    batch_size: int = 1000,
    # Large enough that an order's placement and its payment (recorded by the policy, which
    # may lag by thousands of events under load) mostly fall into one batch: one document each.
    # Measured on 186,306 events: 50,000 -> 22,000 events/s, 460 MB; 100,000 -> 25,000, 577 MB.
    rebuild_batch_size: int = 100_000,
    create_tables: bool = True,
    **runner_options: Any,
) -> list[ProjectionRunner]:
    """One runner per projection (not started). ``create_tables`` makes their tables and
    indexes (idempotent); ``runner_options`` go to ``ProjectionRunner``."""
    def view(view_class: type, name: str) -> Any:
        factory = PostgresFactory(projection_env(app, name))
        return view_class(factory.datastore, tracking_table_name=tracking_table_name(name))

    builders = {
        ORDERS: lambda: OrdersProjection(view(OrdersView, ORDERS), app, cache_size=orders_cache_size),
        STOCK_LEVELS: lambda: StockLevelsProjection(view(StockLevelsView, STOCK_LEVELS), app,
                                                    cache_size=stock_cache_size),
        LOCATIONS: lambda: LocationsProjection(view(LocationsView, LOCATIONS), app, cache_size=10_000),
        ORDER_HISTORY: lambda: OrderHistoryProjection(view(OrderHistoryView, ORDER_HISTORY)),
    }
    # One read of the feed's latest notifications for all of them (projections/feed.py).
    feed = SharedFeed(app)
    runners = []
    for name in names:
        runner = ProjectionRunner(app, builders[name](), batch_size=batch_size,
                                  rebuild_batch_size=rebuild_batch_size, feed=feed, **runner_options)
        if create_tables:
            runner.create_tables()
        runners.append(runner)
    return runners
