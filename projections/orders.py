"""``orders`` read model: one row per order (with the exact API document) and its lines,
shipments, shipment lines and returns as relational rows for analysts.

State-based: every order a batch touched is written once, from its state after the batch;
its child rows are deleted and copied in again.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, NamedTuple
from uuid import UUID

from psycopg import Cursor
from psycopg.sql import SQL

from application.documents import order_document
from domain.order import Order
from projections.base import AggregateStateProjection, ReadModelView, copy_rows, dumps

ORDER_COLUMNS = (
    "id", "channel", "external_id", "status", "payment_status", "fulfillment_status", "currency",
    "customer_name", "customer_email", "subtotal", "shipping", "total", "captured", "refunded",
    "cancel_reason", "version", "created_at", "updated_at", "document",
)
LINE_COLUMNS = ("order_id", "sku", "quantity", "unit_price", "backordered")
SHIPMENT_COLUMNS = (
    "id", "order_id", "location_id", "status", "carrier", "tracking_number", "tracking_url", "delivered_at",
)
SHIPMENT_LINE_COLUMNS = ("shipment_id", "order_id", "sku", "quantity")
RETURN_COLUMNS = ("id", "order_id", "status", "location_id", "refund_amount", "lines", "received")


class OrdersView(ReadModelView):
    tables = ("orders", "order_lines", "shipments", "shipment_lines", "returns")
    query_indexes = ("orders_created_at_id_idx", "orders_status_idx", "orders_payment_status_idx",
                     "orders_fulfillment_status_idx", "orders_channel_idx", "order_lines_sku_idx",
                     "shipments_location_status_idx", "shipment_lines_sku_idx")
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
            shipping numeric NOT NULL,
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
        "CREATE INDEX IF NOT EXISTS order_lines_sku_idx ON {s}.order_lines (sku, order_id)",
        """CREATE TABLE IF NOT EXISTS {s}.shipments (
            id text PRIMARY KEY,
            order_id uuid NOT NULL,
            location_id text NOT NULL,
            status text NOT NULL,
            carrier text,
            tracking_number text,
            tracking_url text,
            delivered_at timestamptz
        )""",
        "CREATE INDEX IF NOT EXISTS shipments_order_id_idx ON {s}.shipments (order_id)",
        "CREATE INDEX IF NOT EXISTS shipments_location_status_idx ON {s}.shipments (location_id, status)",
        """CREATE TABLE IF NOT EXISTS {s}.shipment_lines (
            shipment_id text NOT NULL,
            order_id uuid NOT NULL,
            sku text NOT NULL,
            quantity integer NOT NULL,
            PRIMARY KEY (shipment_id, sku)
        )""",
        "CREATE INDEX IF NOT EXISTS shipment_lines_order_id_idx ON {s}.shipment_lines (order_id)",
        "CREATE INDEX IF NOT EXISTS shipment_lines_sku_idx ON {s}.shipment_lines (sku)",
        """CREATE TABLE IF NOT EXISTS {s}.returns (
            id text PRIMARY KEY,
            order_id uuid NOT NULL,
            status text NOT NULL,
            location_id text,
            refund_amount numeric NOT NULL,
            lines jsonb NOT NULL,
            received jsonb NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS returns_order_id_idx ON {s}.returns (order_id)",
        "COMMENT ON TABLE {s}.orders IS "
        "'Current state of every order (read model, rebuilt from the event store; document = API shape)'",
        "COMMENT ON TABLE {s}.order_lines IS 'Ordered lines per order; backordered = units not allocated to any location'",
        "COMMENT ON TABLE {s}.shipments IS 'Shipments of every order (status ready|picked|packed|shipped|delivered|cancelled)'",
        "COMMENT ON TABLE {s}.shipment_lines IS 'Units per SKU in each shipment'",
        "COMMENT ON TABLE {s}.returns IS 'Returns per order; lines = requested, received = what came back'",
    )


class OrderRows(NamedTuple):
    """Everything one batch writes for the orders it touched (replacing their earlier rows)."""

    ids: list[UUID]
    # Orders whose earlier rows are replaced (those created in the batch have none).
    existing: list[UUID]
    orders: list[tuple[Any, ...]]
    lines: list[tuple[Any, ...]]
    shipments: list[tuple[Any, ...]]
    shipment_lines: list[tuple[Any, ...]]
    returns: list[tuple[Any, ...]]


class OrdersProjection(AggregateStateProjection[OrdersView]):
    name = "orders"
    aggregate_class = Order
    topics = ()

    def to_rows(self, touched: dict[UUID, Order], new: set[UUID]) -> OrderRows:
        orders, lines, shipments, shipment_lines, returns = [], [], [], [], []
        for order in touched.values():
            doc = order_document(order)
            totals = doc["totals"]
            customer = order.customer or {}
            orders.append((
                order.id, order.channel, order.external_id, doc["status"], doc["payment_status"],
                doc["fulfillment_status"], order.currency, customer.get("name"), customer.get("email"),
                Decimal(totals["subtotal"]), Decimal(totals["shipping"]), Decimal(totals["total"]),
                Decimal(totals["captured"]), Decimal(totals["refunded"]), order.cancel_reason,
                order.version, order.created_on, order.modified_on, dumps(doc),
            ))
            for line in doc["lines"]:
                lines.append((order.id, line["sku"], line["quantity"], Decimal(line["unit_price"]), line["backordered"]))
            for shipment in order.shipments.values():
                shipments.append((
                    shipment["id"], order.id, shipment["location_id"], shipment["status"], shipment["carrier"],
                    shipment["tracking_number"], shipment["tracking_url"], shipment.get("delivered_at"),
                ))
                for sku, quantity in shipment["lines"].items():
                    shipment_lines.append((shipment["id"], order.id, sku, quantity))
            for ret in doc["returns"]:
                returns.append((
                    ret["id"], order.id, ret["status"], ret["location_id"], Decimal(ret["refund_amount"]),
                    dumps(ret["lines"]), dumps(ret["received"]),
                ))
        return OrderRows(list(touched), [i for i in touched if i not in new], orders, lines, shipments, shipment_lines, returns)

    def write(self, curs: Cursor[Any], rows: OrderRows) -> None:
        if not rows.ids:
            return
        view = self.view
        for table in ("orders", "order_lines", "shipments", "shipment_lines", "returns") if rows.existing else ():
            key = "id" if table == "orders" else "order_id"
            curs.execute(SQL("DELETE FROM {} WHERE {} = ANY(%s)").format(view.table(table), SQL(key)), (rows.existing,))
        copy_rows(curs, view.table("orders"), ORDER_COLUMNS, rows.orders)
        copy_rows(curs, view.table("order_lines"), LINE_COLUMNS, rows.lines)
        if rows.shipments:
            copy_rows(curs, view.table("shipments"), SHIPMENT_COLUMNS, rows.shipments)
            copy_rows(curs, view.table("shipment_lines"), SHIPMENT_LINE_COLUMNS, rows.shipment_lines)
        if rows.returns:
            copy_rows(curs, view.table("returns"), RETURN_COLUMNS, rows.returns)
