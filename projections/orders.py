"""``orders`` read model: one row per order (with the exact API document) and its lines,
shipments, shipment lines and returns as relational rows for analysts.

State-based: every order a batch touched is written once, from its state after the batch. Its
child rows are deleted and copied in again only in the tables where they changed since this
runner last wrote them (a payment changes the order's own row, a pick its shipment, never
its lines); after a start, an eviction from the LRU or a reset, all of them are.
"""
from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any, NamedTuple
from uuid import UUID

from psycopg import Cursor
from psycopg.sql import SQL, Identifier

from application.documents import order_document
from domain.order import Order
from projections.base import AggregateStateProjection, JsonbText, ReadModelView, copy_rows

# Each table's columns as the projection copies them, with their types (COPY's binary format).
ORDER_COLUMNS = {
    "id": "uuid", "channel": "text", "external_id": "text", "status": "text", "payment_status": "text",
    "fulfillment_status": "text", "currency": "text", "customer_name": "text", "customer_email": "text",
    "subtotal": "numeric", "discount": "numeric", "shipping": "numeric", "tax": "numeric", "total": "numeric", "captured": "numeric", "refunded": "numeric",
    "cancel_reason": "text", "version": "int4", "created_at": "timestamptz", "updated_at": "timestamptz",
    "document": "jsonb",
}
LINE_COLUMNS = {"order_id": "uuid", "sku": "text", "quantity": "int4", "unit_price": "numeric", "backordered": "int4"}
SHIPMENT_COLUMNS = {
    "id": "text", "order_id": "uuid", "location_id": "text", "status": "text", "carrier": "text",
    "tracking_number": "text", "tracking_url": "text", "delivered_at": "timestamptz",
}
SHIPMENT_LINE_COLUMNS = {"shipment_id": "text", "order_id": "uuid", "sku": "text", "quantity": "int4"}
RETURN_COLUMNS = {
    "id": "text", "order_id": "uuid", "status": "text", "location_id": "text", "refund_amount": "numeric",
    "lines": "jsonb", "received": "jsonb",
}


class OrdersView(ReadModelView):
    tables = ("orders", "order_lines", "shipments", "shipment_lines", "returns")
    query_indexes = ("orders_created_at_id_idx", "orders_status_idx", "orders_payment_status_idx",
                     "orders_fulfillment_status_idx", "orders_channel_idx", "order_lines_sku_idx",
                     "shipments_location_status_idx", "shipment_lines_sku_idx", "shipments_tracking_number_idx")
    # 2: the child tables are keyed by order first (no separate order-id indexes), and lines are
    # indexed by SKU alone. Every index keyed by a random order id costs page reads on each
    # insert once the store outgrows memory, so the read model keeps one per table.
    # 3: orders gained discount and tax (what sales channels state).
    schema_version = 3
    ddl = (
        """CREATE TABLE IF NOT EXISTS {s}.orders (
            id uuid PRIMARY KEY,
            channel text NOT NULL,
            external_id text NOT NULL,
            status text NOT NULL,
            payment_status text NOT NULL,
            fulfillment_status text NOT NULL,
            currency text NOT NULL,
            customer_name text,
            customer_email text,
            subtotal numeric NOT NULL,
            discount numeric NOT NULL,
            shipping numeric NOT NULL,
            tax numeric NOT NULL,
            total numeric NOT NULL,
            captured numeric NOT NULL,
            refunded numeric NOT NULL,
            cancel_reason text,
            version integer NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            document jsonb NOT NULL
        )""",
        "CREATE UNIQUE INDEX IF NOT EXISTS orders_channel_external_id_key ON {s}.orders (channel, external_id)",
        "CREATE INDEX IF NOT EXISTS orders_created_at_id_idx ON {s}.orders (created_at DESC, id DESC)",
        "CREATE INDEX IF NOT EXISTS orders_status_idx ON {s}.orders (status, created_at DESC, id DESC)",
        "CREATE INDEX IF NOT EXISTS orders_payment_status_idx ON {s}.orders (payment_status, created_at DESC, id DESC)",
        "CREATE INDEX IF NOT EXISTS orders_fulfillment_status_idx "
        "ON {s}.orders (fulfillment_status, created_at DESC, id DESC)",
        "CREATE INDEX IF NOT EXISTS orders_channel_idx ON {s}.orders (channel, created_at DESC, id DESC)",
        """CREATE TABLE IF NOT EXISTS {s}.order_lines (
            order_id uuid NOT NULL,
            sku text NOT NULL,
            quantity integer NOT NULL,
            unit_price numeric NOT NULL,
            backordered integer NOT NULL,
            PRIMARY KEY (order_id, sku)
        )""",
        "CREATE INDEX IF NOT EXISTS order_lines_sku_idx ON {s}.order_lines (sku)",
        """CREATE TABLE IF NOT EXISTS {s}.shipments (
            id text NOT NULL,
            order_id uuid NOT NULL,
            location_id text NOT NULL,
            status text NOT NULL,
            carrier text,
            tracking_number text,
            tracking_url text,
            delivered_at timestamptz,
            PRIMARY KEY (order_id, id)
        )""",
        "CREATE INDEX IF NOT EXISTS shipments_location_status_idx ON {s}.shipments (location_id, status)",
        # Carriers name a parcel by its tracking number (POST /carriers/easypost/events).
        "CREATE INDEX IF NOT EXISTS shipments_tracking_number_idx ON {s}.shipments (tracking_number)",
        """CREATE TABLE IF NOT EXISTS {s}.shipment_lines (
            shipment_id text NOT NULL,
            order_id uuid NOT NULL,
            sku text NOT NULL,
            quantity integer NOT NULL,
            PRIMARY KEY (order_id, shipment_id, sku)
        )""",
        "CREATE INDEX IF NOT EXISTS shipment_lines_sku_idx ON {s}.shipment_lines (sku)",
        """CREATE TABLE IF NOT EXISTS {s}.returns (
            id text NOT NULL,
            order_id uuid NOT NULL,
            status text NOT NULL,
            location_id text,
            refund_amount numeric NOT NULL,
            lines jsonb NOT NULL,
            received jsonb NOT NULL,
            PRIMARY KEY (order_id, id)
        )""",
        "COMMENT ON TABLE {s}.orders IS "
        "'Current state of every order (read model, rebuilt from the event store; document = API shape)'",
        "COMMENT ON TABLE {s}.order_lines IS 'Ordered lines per order; backordered = units not allocated to any location'",
        "COMMENT ON TABLE {s}.shipments IS 'Shipments of every order (status ready|picked|packed|shipped|delivered|cancelled); "
        "keyed by (order_id, id); id = shp_<order id hex>_<n>'",
        "COMMENT ON TABLE {s}.shipment_lines IS 'Units per SKU in each shipment'",
        "COMMENT ON TABLE {s}.returns IS 'Returns per order; lines = requested, received = what came back'",
    )


TABLE_COLUMNS = {"orders": ORDER_COLUMNS, "order_lines": LINE_COLUMNS, "shipments": SHIPMENT_COLUMNS,
                 "shipment_lines": SHIPMENT_LINE_COLUMNS, "returns": RETURN_COLUMNS}
CHILD_TABLES = ("order_lines", "shipments", "shipment_lines", "returns")


class OrderRows(NamedTuple):
    """Everything one batch writes for the orders it touched (replacing their earlier rows)."""

    # Per table, the orders whose earlier rows there are deleted before the new ones are copied
    # in (an order created in the batch has none; a table whose rows did not change is skipped).
    replaced: dict[str, list[UUID]]
    # Per table, the rows to copy in.
    rows: dict[str, list[tuple[Any, ...]]]


class OrdersProjection(AggregateStateProjection[OrdersView]):
    name = "orders"
    aggregate_class = Order
    topics = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Per order in the LRU, a hash of the child rows last written for it, table by table: an
        # authorisation changes the order's own row only, so its lines and shipments stay put.
        self._written: dict[UUID, tuple[int, ...]] = {}

    def reset(self) -> None:
        super().reset()
        self._written.clear()

    def evicted(self, aggregate_ids: list[UUID]) -> None:
        for aggregate_id in aggregate_ids:
            self._written.pop(aggregate_id, None)

    def to_rows(self, touched: dict[UUID, Order], new: set[UUID]) -> OrderRows:
        replaced: dict[str, list[UUID]] = {table: [] for table in TABLE_COLUMNS}
        rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in TABLE_COLUMNS}
        for order in touched.values():
            doc = order_document(order)
            rows["orders"].append(_order_row(order, doc))
            children = _child_rows(order, doc)
            signature = tuple(hash(tuple(table_rows)) for table_rows in children)
            created = order.id in new  # no rows of it can exist yet
            last = self._written.get(order.id)  # None: not known what this runner wrote for it
            if not created:
                replaced["orders"].append(order.id)
            for n, table in enumerate(CHILD_TABLES):
                if last is not None and last[n] == signature[n]:
                    continue  # unchanged since it was last written
                if not created:
                    replaced[table].append(order.id)
                rows[table].extend(children[n])
            self._written[order.id] = signature
        return OrderRows(replaced, rows)

    def write(self, curs: Cursor[Any], staged: OrderRows) -> None:
        for table, order_ids in staged.replaced.items():
            if order_ids:
                curs.execute(self._deletes[table], (order_ids,), prepare=True)
        for table, columns in TABLE_COLUMNS.items():
            if staged.rows[table]:
                copy_rows(curs, self.view, table, columns, staged.rows[table])

    @functools.cached_property
    def _deletes(self) -> dict[str, bytes]:
        """Per table, the statement deleting the rows of a list of orders."""
        return {table: SQL("DELETE FROM {} WHERE {} = ANY(%b)").format(
                    self.view.table(table), Identifier("id" if table == "orders" else "order_id")).as_bytes(None)
                for table in TABLE_COLUMNS}


def _order_row(order: Order, doc: dict[str, Any]) -> tuple[Any, ...]:
    totals = doc["totals"]
    customer = order.customer or {}
    return (
        order.id, order.channel, order.external_id, doc["status"], doc["payment_status"],
        doc["fulfillment_status"], order.currency, customer.get("name"), customer.get("email"),
        Decimal(totals["subtotal"]), Decimal(totals["discount"]), Decimal(totals["shipping"]),
        Decimal(totals["tax"]), Decimal(totals["total"]),
        Decimal(totals["captured"]), Decimal(totals["refunded"]), order.cancel_reason,
        order.version, order.created_on, order.modified_on, JsonbText(doc),
    )


def _child_rows(order: Order, doc: dict[str, Any]) -> tuple[list[tuple[Any, ...]], ...]:
    """(lines, shipments, shipment lines, returns) rows of one order, in CHILD_TABLES order."""
    lines = [(order.id, line["sku"], line["quantity"], Decimal(line["unit_price"]), line["backordered"])
             for line in doc["lines"]]
    shipments, shipment_lines = [], []
    for shipment in order.shipments.values():
        shipments.append((
            shipment.id, order.id, shipment.location_id, str(shipment.status), shipment.carrier,
            shipment.tracking_number, shipment.tracking_url, shipment.delivered_at,
        ))
        for sku, quantity in shipment.lines.items():
            shipment_lines.append((shipment.id, order.id, sku, quantity))
    returns = [(ret["id"], order.id, ret["status"], ret["location_id"], Decimal(ret["refund_amount"]),
                JsonbText(ret["lines"]), JsonbText(ret["received"])) for ret in doc["returns"]]
    return lines, shipments, shipment_lines, returns
