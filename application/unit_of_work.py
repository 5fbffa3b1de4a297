"""One command's view of the aggregates: reads are shared, writes go to private copies.

A handler reads with ``read`` and changes aggregates it took with ``get`` or ``add``. The copies
become visible to later commands of the same batch only if the handler succeeds, so a command
that breaks a rule leaves no trace, even when it had already changed one aggregate of several.
"""
from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from application.aggregate_cache import ABSENT, AggregateCache

A = TypeVar("A", bound=Aggregate)


class UnitOfWork:
    def __init__(self, cache: AggregateCache, staged: dict[UUID, Any], presume_unknown_is_new: bool) -> None:
        self._cache = cache
        self._staged = staged
        self._changed: dict[UUID, Aggregate] = {}
        self._presume_unknown_is_new = presume_unknown_is_new

    def read(self, aggregate_id: UUID) -> Any:
        """The latest state (this command's, this batch's, or committed), not to be changed."""
        if aggregate_id in self._changed:
            return self._changed[aggregate_id]
        staged = self._staged.get(aggregate_id)
        if staged is not None:
            return None if staged is ABSENT else staged
        return self._cache.get(aggregate_id)

    def get(self, aggregate_id: UUID) -> Any:
        """A private copy to change, or None when the aggregate does not exist."""
        if aggregate_id in self._changed:
            return self._changed[aggregate_id]
        current = self.read(aggregate_id)
        if current is None:
            return None
        private = private_copy(current)
        self._changed[aggregate_id] = private
        return private

    def is_new(self, aggregate_id: UUID, *, presume_if_unknown: bool = False) -> bool:
        """True when no aggregate has this id.

        ``presume_if_unknown`` lets a create skip the read of the event store when the cache does
        not know the id: the event store's unique key (id, version 1) is the judge, and on a
        conflict the batch is decided again without presuming. Only for commands whose decision
        on a new aggregate cannot fail where the existing one would succeed (placing an order);
        a get-or-create (a stock item) must know the truth before it decides.
        """
        if aggregate_id in self._changed:
            return False
        staged = self._staged.get(aggregate_id)
        if staged is not None:
            return staged is ABSENT
        cached = self._cache.cached(aggregate_id)
        if cached is not None:
            return cached is ABSENT
        if presume_if_unknown and self._presume_unknown_is_new:
            return True
        return self._cache.get(aggregate_id) is None

    def add(self, aggregate: A) -> A:
        self._changed[aggregate.id] = aggregate
        return aggregate

    def changed(self) -> dict[UUID, Aggregate]:
        return self._changed


def private_copy(aggregate: A) -> A:
    """A copy of the aggregate that a command may change without changing ``aggregate``.

    Aggregates keep their state in immutable values (numbers, strings, ``domain.entities``)
    held by plain containers one level deep, which they replace or assign into but never change
    deeper down (``tests/application/test_private_copy.py`` holds every command to that): a new
    instance with copies of those containers is then a deep copy, at a fraction of
    ``copy.deepcopy``'s cost (this runs for every command).
    """
    clone = object.__new__(type(aggregate))
    clone.__dict__.update({name: value.copy() if type(value) in _CONTAINERS else value
                           for name, value in vars(aggregate).items()})
    return clone


_CONTAINERS = (dict, list, set)
