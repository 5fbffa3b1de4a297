"""Where an order ships from.

Rules, in order:
1. the nearest location that can ship the whole order ships it;
2. otherwise the order is split over the fewest locations, nearest first;
3. what no location can cover is backordered.

Pure: the caller supplies each candidate location's distance and available units.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

# Beyond this many combinations we stop searching for the provably fewest locations and
# fall back to a greedy cover (nearest location covering the most units first).
MAX_COMBINATIONS = 5_000


@dataclass(frozen=True)
class Candidate:
    location_id: str
    distance_km: float
    available: dict[str, int]


@dataclass(frozen=True)
class SourcingPlan:
    # (location_id, {sku: quantity}) in the order shipments will be created: nearest first.
    allocations: list[tuple[str, dict[str, int]]] = field(default_factory=list)
    backordered: dict[str, int] = field(default_factory=dict)


def plan_sourcing(demand: dict[str, int], candidates: list[Candidate]) -> SourcingPlan:
    """Plans shipments for ``demand`` (sku -> units) from ``candidates``."""
    nearest_first = sorted(candidates, key=lambda c: (c.distance_km, c.location_id))
    useful = [c for c in nearest_first if any(c.available.get(sku, 0) > 0 for sku in demand)]

    total_available = {sku: sum(c.available.get(sku, 0) for c in useful) for sku in demand}
    coverable = {sku: min(qty, total_available[sku]) for sku, qty in demand.items()}
    backordered = {sku: demand[sku] - coverable[sku] for sku in demand if demand[sku] > coverable[sku]}
    coverable = {sku: qty for sku, qty in coverable.items() if qty > 0}
    if not coverable:
        return SourcingPlan([], backordered)

    chosen = _fewest_locations(coverable, useful) or _greedy_cover(coverable, useful)
    return SourcingPlan(_assign(coverable, chosen), backordered)


def _covers(locations: tuple[Candidate, ...], demand: dict[str, int]) -> bool:
    return all(sum(c.available.get(sku, 0) for c in locations) >= qty for sku, qty in demand.items())


def _fewest_locations(demand: dict[str, int], nearest_first: list[Candidate]) -> list[Candidate] | None:
    tried = 0
    for size in range(1, len(nearest_first) + 1):
        # combinations() yields in lexicographic order of the nearest-first list, so the
        # first cover found of each size is the nearest one of that size.
        for combo in combinations(nearest_first, size):
            tried += 1
            if tried > MAX_COMBINATIONS:
                return None
            if _covers(combo, demand):
                return list(combo)
    return None


def _greedy_cover(demand: dict[str, int], nearest_first: list[Candidate]) -> list[Candidate]:
    remaining = dict(demand)
    chosen: list[Candidate] = []
    pool = list(nearest_first)
    while any(remaining.values()) and pool:
        best = max(pool, key=lambda c: sum(min(c.available.get(s, 0), q) for s, q in remaining.items()))
        pool.remove(best)
        chosen.append(best)
        for sku, qty in remaining.items():
            remaining[sku] = qty - min(best.available.get(sku, 0), qty)
    return sorted(chosen, key=lambda c: (c.distance_km, c.location_id))


def _assign(demand: dict[str, int], chosen: list[Candidate]) -> list[tuple[str, dict[str, int]]]:
    """Takes each SKU from the nearest chosen location first."""
    remaining = dict(demand)
    allocations: list[tuple[str, dict[str, int]]] = []
    for candidate in chosen:
        lines: dict[str, int] = {}
        for sku, qty in remaining.items():
            take = min(qty, candidate.available.get(sku, 0))
            if take > 0:
                lines[sku] = take
        for sku, take in lines.items():
            remaining[sku] -= take
        if lines:
            allocations.append((candidate.location_id, lines))
    return allocations
