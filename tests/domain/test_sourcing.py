"""Sourcing: nearest whole-order location, else fewest locations nearest first, else backorder."""
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.sourcing import Candidate, plan_sourcing


def test_nearest_location_that_can_ship_the_whole_order_ships_it():
    plan = plan_sourcing(
        {"A": 2, "B": 1},
        [Candidate("far", 500, {"A": 9, "B": 9}), Candidate("near", 10, {"A": 2, "B": 1}),
         Candidate("nearest", 1, {"A": 2})],
    )
    assert plan.allocations == [("near", {"A": 2, "B": 1})]
    assert plan.backordered == {}


def test_split_over_fewest_locations_nearest_first():
    plan = plan_sourcing(
        {"A": 2, "B": 2},
        [Candidate("l1", 1, {"A": 1}), Candidate("l2", 2, {"B": 2}), Candidate("l3", 3, {"A": 2}),
         Candidate("l4", 4, {"A": 1, "B": 1})],
    )
    # Two locations suffice; of the pairs that cover, (l2, l3) is the nearest.
    assert plan.allocations == [("l2", {"B": 2}), ("l3", {"A": 2})]


def test_what_no_location_has_is_backordered():
    plan = plan_sourcing({"A": 5, "B": 1}, [Candidate("l1", 1, {"A": 2}), Candidate("l2", 2, {"A": 1})])
    assert plan.backordered == {"A": 2, "B": 1}
    assert plan.allocations == [("l1", {"A": 2}), ("l2", {"A": 1})]


def test_nothing_anywhere_backorders_everything():
    plan = plan_sourcing({"A": 1}, [])
    assert plan.allocations == [] and plan.backordered == {"A": 1}


candidates = st.lists(
    st.builds(
        Candidate,
        location_id=st.sampled_from([f"loc{i}" for i in range(8)]),
        distance_km=st.floats(0, 2000),
        available=st.dictionaries(st.sampled_from("ABCD"), st.integers(0, 6), max_size=4),
    ),
    max_size=8,
    unique_by=lambda c: c.location_id,
)


@settings(max_examples=300, deadline=None)
@given(demand=st.dictionaries(st.sampled_from("ABCD"), st.integers(1, 10), min_size=1), candidates=candidates)
def test_plans_never_oversell_and_account_for_every_unit(demand, candidates):
    plan = plan_sourcing(demand, candidates)
    by_id = {c.location_id: c for c in candidates}
    allocated: dict[str, int] = {}
    for location_id, lines in plan.allocations:
        for sku, qty in lines.items():
            assert 0 < qty <= by_id[location_id].available.get(sku, 0)
            allocated[sku] = allocated.get(sku, 0) + qty
    for sku, qty in demand.items():
        assert allocated.get(sku, 0) + plan.backordered.get(sku, 0) == qty
        # Backorder only what the locations together do not have.
        if plan.backordered.get(sku):
            assert allocated.get(sku, 0) == sum(c.available.get(sku, 0) for c in candidates)
    locations = [loc for loc, _ in plan.allocations]
    assert len(locations) == len(set(locations))


@settings(max_examples=200, deadline=None)
@given(demand=st.dictionaries(st.sampled_from("ABC"), st.integers(1, 4), min_size=1), candidates=candidates)
def test_a_single_location_is_used_whenever_one_can_ship_everything(demand, candidates):
    whole = [c for c in candidates if all(c.available.get(s, 0) >= q for s, q in demand.items())]
    plan = plan_sourcing(demand, candidates)
    if whole:
        nearest = min(whole, key=lambda c: (c.distance_km, c.location_id))
        assert plan.allocations == [(nearest.location_id, dict(demand))]


@settings(max_examples=300, deadline=None)
@given(demand=st.dictionaries(st.sampled_from("ABCD"), st.integers(1, 8), min_size=1), candidates=candidates)
def test_the_plan_uses_the_fewest_locations_possible(demand, candidates):
    from itertools import combinations

    plan = plan_sourcing(demand, candidates)
    coverable = {s: q - plan.backordered.get(s, 0) for s, q in demand.items() if q > plan.backordered.get(s, 0)}
    if not coverable:
        return
    useful = [c for c in candidates if any(c.available.get(s, 0) > 0 for s in demand)]
    fewest = next(k for k in range(1, len(useful) + 1) for combo in combinations(useful, k)
                  if all(sum(c.available.get(s, 0) for c in combo) >= q for s, q in coverable.items()))
    assert len(plan.allocations) == fewest
