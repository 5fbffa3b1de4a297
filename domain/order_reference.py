"""One order per (channel, external id): the reference an order has in its sales channel is
claimed in a stream of its own, whose id is derived from the reference, so the event store's
unique key refuses a second claim, in any process, in the same transaction as the order.

The order itself has a time-ordered id of its own (``application.ids``): the event store's and
the read models' indexes keyed by order id then grow at their end, while the one random key per
order is this claim's. Orders placed before references existed have the derived id themselves,
and stand as their own claim.
"""
from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

# The namespace order ids were derived in until they became time-ordered: a reference's id is
# the id such an order has, so an old order and a new claim on the same reference collide.
_NAMESPACE = uuid5(NAMESPACE_URL, "oms:order")


def order_reference_id(channel: str, external_id: str) -> UUID:
    return uuid5(_NAMESPACE, f"{channel}\x1f{external_id}")


class OrderReference(Aggregate):
    """Claimed with ``OrderReference(id=order_reference_id(channel, external_id), ...)``: the
    caller has just computed the id to look the reference up, and a uuid5 is not free."""

    @event("OrderReferenceClaimed")
    def __init__(self, id: UUID, channel: str, external_id: str, order_id: UUID) -> None:  # noqa: A002
        self.channel = channel
        self.external_id = external_id
        self.order_id = order_id
