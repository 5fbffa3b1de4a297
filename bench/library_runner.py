"""What a read model built one event per transaction, as the library's ``ProjectionRunner``
does (``process_event(domain_event, tracking)``: the view writes its rows and the tracking
record together, per event), could reach on this machine's PostgreSQL, against the batched
runner of projections/runner.py (`make bench`'s rebuild figure).

    python -m bench.library_runner [postgresql://...]

The ceiling is measured without any Python work per event: each transaction inserts a tracking
row and upserts one read-model row, with the durability the service requires
(``synchronous_commit=on``). Figures in docs/performance.md.
"""
from __future__ import annotations

import sys
import time

import psycopg

from tests.database import fresh_database_url

EVENTS = 3000


def per_event_transactions(url: str) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE tracking (application_name text, notification_id bigint, "
                     "PRIMARY KEY (application_name, notification_id))")
        conn.execute("CREATE TABLE read_model (id bigint PRIMARY KEY, document jsonb)")
        start = time.perf_counter()
        for n in range(EVENTS):
            with conn.transaction():
                conn.execute("INSERT INTO tracking VALUES ('orders', %s)", (n,))
                conn.execute("INSERT INTO read_model VALUES (%s, %s) ON CONFLICT (id) DO UPDATE "
                             "SET document = excluded.document", (n % 500, '{"status": "confirmed"}'))
        return EVENTS / (time.perf_counter() - start)


def main() -> None:
    if len(sys.argv) > 1:
        rate = per_event_transactions(sys.argv[1])
    else:
        with fresh_database_url() as url:
            rate = per_event_transactions(url)
    print(f"one event per transaction (tracking + one row): {rate:,.0f} events/s at most")


if __name__ == "__main__":
    main()
