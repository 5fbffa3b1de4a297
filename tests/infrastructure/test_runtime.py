"""The collector policy of the long-running processes: young collections only scan what is new,
and cyclic garbage that got frozen is still found, by the full collection that growth triggers."""
from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from infrastructure.runtime import YoungCollections


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def young_collections() -> Iterator[YoungCollections]:
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    policy = YoungCollections(growth=0.0)
    gc.callbacks.append(policy.freeze_survivors)
    try:
        yield policy
    finally:
        gc.callbacks.remove(policy.freeze_survivors)
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_what_survives_a_young_collection_is_frozen_and_no_later_collection_scans_it(
        young_collections: YoungCollections) -> None:
    frozen_before = gc.get_freeze_count()
    survivors = [Node() for _ in range(1_000)]

    gc.collect(0)

    assert gc.get_freeze_count() >= frozen_before + len(survivors)
    assert not any(node in gc.get_objects(generation=g) for g in (0, 1, 2) for node in survivors[:10])


def test_frozen_cyclic_garbage_is_found_by_a_full_collection(young_collections: YoungCollections) -> None:
    first, second = Node(), Node()
    first.other, second.other = second, first
    alive = weakref.ref(first)
    gc.collect(0)  # the cycle survives (still referenced) and is frozen
    del first, second

    gc.collect(0), gc.collect(1), gc.collect(2)  # frozen: no collection finds it
    assert alive() is not None

    young_collections.collect_all()
    assert alive() is None
    assert young_collections.full_collections == 1


def test_a_full_collection_runs_once_the_frozen_objects_grew_by_the_given_share(
        monkeypatch: pytest.MonkeyPatch) -> None:
    frozen = [1_000]
    monkeypatch.setattr(gc, "get_freeze_count", lambda: frozen[0])
    monkeypatch.setattr(gc, "collect", lambda *args: 0)  # what a full collection finds is the test above
    policy = YoungCollections(growth=0.25)

    frozen[0] = 1_250
    assert not policy.collect_if_grown()
    frozen[0] = 1_251
    assert policy.collect_if_grown() and policy.full_collections == 1
    frozen[0] = 1_500  # measured from what the last full collection kept
    assert not policy.collect_if_grown()
