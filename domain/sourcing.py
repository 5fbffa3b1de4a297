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
    nearest_first = sorted(candidates, key=_nearness)
    useful = [c for c in nearest_first if _has_any(c.available, demand)]

    total_available = dict.fromkeys(demand, 0)
    for c in useful:
        for sku in demand:
            total_available[sku] += c.available.get(sku, 0)
    coverable = {sku: min(qty, total_available[sku]) for sku, qty in demand.items()}
    backordered = {sku: demand[sku] - coverable[sku] for sku in demand if demand[sku] > coverable[sku]}
    coverable = {sku: qty for sku, qty in coverable.items() if qty > 0}
    if not coverable:
        return SourcingPlan([], backordered)

    chosen = _fewest_locations(coverable, useful) or _greedy_cover(coverable, useful)
    return SourcingPlan(_assign(coverable, chosen), backordered)


# Explicit loops below where the obvious any()/sum() over a generator would do: they run for
# every candidate of every order, and a generator costs more to set up than the work it does.

def _nearness(c: Candidate) -> tuple[float, str]:
    return c.distance_km, c.location_id


def _has_any(available: dict[str, int], demand: dict[str, int]) -> bool:
    for sku in demand:
        if available.get(sku, 0) > 0:
            return True
    return False


def _covers(locations: tuple[Candidate, ...], demand: dict[str, int]) -> bool:
    return all(sum(c.available.get(sku, 0) for c in locations) >= qty for sku, qty in demand.items())


def _fewest_locations(demand: dict[str, int], nearest_first: list[Candidate]) -> list[Candidate] | None:
    """The fewest locations that together cover ``demand``, the nearest such set first.

    Usually each line ships whole from one location; those covers are found on bit masks over
    at most one (the nearest) location per distinct set of lines it can ship whole. Covers that
    split a line between locations are searched by brute force only for the sizes below the
    smallest whole-line cover (they are rarer, and the search is capped)."""
    whole = _fewest_whole_line_locations(demand, nearest_first)
    if whole is not None and not _any_line_splits(demand, nearest_first):
        return whole
    largest_split_size = len(whole) - 1 if whole else len(nearest_first)
    split = _fewest_split_locations(demand, nearest_first, largest_split_size)
    return split or whole


def _any_line_splits(demand: dict[str, int], candidates: list[Candidate]) -> bool:
    """Whether some location has part of a line but not all of it; if none has, every cover
    ships each line whole and the whole-line search is already exact."""
    for c in candidates:
        available = c.available
        for sku, qty in demand.items():
            if 0 < available.get(sku, 0) < qty:
                return True
    return False


def _fewest_whole_line_locations(demand: dict[str, int], nearest_first: list[Candidate]) -> list[Candidate] | None:
    skus = list(demand)
    everything = (1 << len(skus)) - 1
    nearest_per_mask: list[tuple[int, Candidate]] = []
    seen: set[int] = set()
    for candidate in nearest_first:
        mask = 0
        for bit, sku in enumerate(skus):
            if candidate.available.get(sku, 0) >= demand[sku]:
                mask |= 1 << bit
        if mask and mask not in seen:
            seen.add(mask)
            nearest_per_mask.append((mask, candidate))
    for size in range(1, len(nearest_per_mask) + 1):
        best: tuple[Candidate, ...] | None = None
        for combo in combinations(nearest_per_mask, size):
            union = 0
            for mask, _ in combo:
                union |= mask
            if union == everything:
                chosen = tuple(sorted((c for _, c in combo), key=_nearness))
                if best is None or _nearer(chosen, best):
                    best = chosen
        if best is not None:
            return list(best)
    return None


def _nearer(a: tuple[Candidate, ...], b: tuple[Candidate, ...]) -> bool:
    return [_nearness(c) for c in a] < [_nearness(c) for c in b]


def _fewest_split_locations(demand: dict[str, int], nearest_first: list[Candidate],
                            largest_size: int) -> list[Candidate] | None:
    tried = 0
    for size in range(1, largest_size + 1):
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
    return sorted(chosen, key=_nearness)


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
