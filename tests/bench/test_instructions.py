"""The harnesses ``make bench-instructions`` counts under callgrind run what they claim to (the
counting itself needs valgrind and minutes, so it is not run here)."""
from __future__ import annotations

from bench.instructions import run_harness


def test_the_http_harness_places_orders_through_the_whole_app() -> None:
    assert run_harness("http", 3) == 3 + 50  # with the warm-up; each answered 201 (asserted inside)


def test_the_ceiling_harness_answers_201() -> None:
    assert run_harness("ceiling", 3) == 3 + 50


def test_the_decide_harness_decides_placements() -> None:
    orders = 5 + 96
    # Each order: placed, allocated, its reference claimed, and one reservation per line (3 lines,
    # ample stock).
    assert run_harness("decide", 5) == orders * 6


def test_an_unknown_harness_is_refused() -> None:
    import pytest

    with pytest.raises(SystemExit):
        run_harness("nonsense", 1)


def test_the_store_harness_inserts_whole_batches_and_drops_its_database() -> None:
    import psycopg

    from bench.databases import PG_ADMIN

    # 16 placements of 6 events a batch, with the 5 warm-up batches.
    assert run_harness("store", 3) == (3 + 5) * 16 * 6
    with psycopg.connect(PG_ADMIN) as conn:
        left = conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'oms_instructions_%'").fetchone()[0]
    assert left == 0


def test_the_project_harness_projects_placed_and_authorised_orders() -> None:
    # 100 warm-up orders and 20 measured: confirmed in the orders read model, but for the few
    # whose authorisation lies beyond the last batch.
    assert 100 + 20 - 16 <= run_harness("project", 20) <= 100 + 20
