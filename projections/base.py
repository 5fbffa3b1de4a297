"""Building blocks shared by the read-model projections.

A projection is split in two halves so that the database transaction stays short:

- ``stage(events)`` runs in Python, outside any transaction: it decodes nothing (the runner
  already did), updates in-memory state and returns what must be written, as plain rows that
  later batches will not change (the runner may write them while it stages the next batch);
- ``write(curs, staged)`` runs inside the runner's transaction, next to the tracking record,
  and does only set-based SQL (COPY, executemany, ``= ANY(%s)`` deletes).

If the transaction fails the runner calls ``reset()``: in-memory state may then be ahead of
the database, so it is dropped and rebuilt from the event store on demand.
"""
from __future__ import annotations

import functools
import logging
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Generic, TypeVar
from uuid import UUID

import orjson
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic
from psycopg import Cursor
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier
from psycopg.types.json import Jsonb

# Threads loading long-lived aggregates side by side (the loads wait on the database).
PRELOADERS = 4
# Aggregates needed up to at most this version are read from their events, all of a batch in one
# query; longer streams (a hot stock item) start from their latest snapshot, one load each.
BULK_LOAD_MAX_VERSION = 50

# (notification id, decoded domain event)
Positioned = tuple[int, Any]

log = logging.getLogger(__name__)

# Which schema version of each read model the database holds. A read model is derived data:
# when its tables change in a way ``CREATE ... IF NOT EXISTS`` cannot apply (a new key, a
# narrower index), they are dropped and built again from the event store.
SCHEMA_VERSIONS_DDL = """CREATE TABLE IF NOT EXISTS {s}.read_model_schemas (
    name text PRIMARY KEY,
    version integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)"""
# Read models made before versions were recorded hold version 1 of their tables.
UNRECORDED_VERSION = 1


class ReadModelView(PostgresTrackingRecorder):
    """A materialised view: its own tables plus its own tracking table ``tracking_<name>``.

    Subclasses list their DDL in ``ddl`` (``{s}`` stands for the schema), the tables a
    rebuild must empty in ``tables``, and in ``query_indexes`` the indexes that serve only
    queries (not the projection's own writes): a full rebuild drops them and builds them again
    at the end, which is much cheaper than maintaining them row by row.

    ``schema_version`` goes up with every change to ``ddl`` that an existing database cannot
    take by ``IF NOT EXISTS``: on the first start with the new version the tables are dropped,
    the position goes back to zero and the runner replays the whole history into the new ones.
    """

    ddl: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    query_indexes: tuple[str, ...] = ()
    schema_version: int = 1

    def __init__(self, datastore: PostgresDatastore, *, tracking_table_name: str, **kwargs: Any) -> None:
        super().__init__(datastore, tracking_table_name=tracking_table_name, **kwargs)
        for statement in self.ddl:
            self.sql_create_statements.append(self.sql(statement))

    @property
    def schema(self) -> str:
        return self.datastore.schema

    @property
    def view_name(self) -> str:
        return self.tracking_table_name.removeprefix("tracking_")

    def _create_table(self, curs: Cursor[Any]) -> None:
        # One process at a time: two starting together must not both drop, or create the same table.
        curs.execute("SELECT pg_advisory_xact_lock(hashtext('oms-read-model-schemas'))")
        curs.execute(self.sql(SCHEMA_VERSIONS_DDL))
        recorded = self.recorded_schema_version(curs)
        if recorded is not None and recorded != self.schema_version:
            self._drop_for_rebuild(curs, recorded)
        super()._create_table(curs)
        curs.execute(self.sql(
            "INSERT INTO {s}.read_model_schemas (name, version) VALUES (%s, %s) "
            "ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version, created_at = now() "
            "WHERE read_model_schemas.version <> EXCLUDED.version"), (self.view_name, self.schema_version))

    def recorded_schema_version(self, curs: Cursor[Any]) -> int | None:
        """The version of this read model's tables in the database; None if it has none yet."""
        curs.execute(self.sql("SELECT version FROM {s}.read_model_schemas WHERE name = %s"), (self.view_name,))
        row = curs.fetchone()
        if row is not None:
            return int(row["version"])
        return UNRECORDED_VERSION if self.tables and self._exists(curs, self.tables[0]) else None

    def _exists(self, curs: Cursor[Any], table: str) -> bool:
        curs.execute("SELECT to_regclass(%s) IS NOT NULL AS present", (f'"{self.schema}"."{table}"',))
        return bool(curs.fetchone()["present"])

    def _drop_for_rebuild(self, curs: Cursor[Any], recorded: int) -> None:
        log.warning("read model %s: tables are at schema version %d, this code needs %d; dropping them "
                    "to rebuild from the event store", self.view_name, recorded, self.schema_version)
        curs.execute(SQL("DROP TABLE IF EXISTS {} CASCADE").format(SQL(", ").join(self.table(t) for t in self.tables)))
        if self._exists(curs, self.tracking_table_name):
            # Back to position zero; the library's own row (its tracking-table migration) stays.
            curs.execute(SQL("DELETE FROM {} WHERE application_name <> %s").format(
                self.table(self.tracking_table_name)), (self.table_migration_identifier,))

    def sql(self, statement: str) -> Composed:
        return SQL(statement).format(s=Identifier(self.datastore.schema))  # type: ignore[arg-type]

    def table(self, name: str) -> Identifier:
        return Identifier(self.datastore.schema, name)

    def drop_query_indexes(self, curs: Cursor[Any]) -> None:
        for name in self.query_indexes:
            curs.execute(SQL("DROP INDEX IF EXISTS {}").format(self.table(name)))

    def create_query_indexes(self) -> None:
        """Runs the DDL again: every ``CREATE ... IF NOT EXISTS`` restores what is missing."""
        self.create_table()

    def truncate(self, curs: Cursor[Any]) -> None:
        if self.tables:
            curs.execute(SQL("TRUNCATE {}").format(SQL(", ").join(self.table(t) for t in self.tables)))


TView = TypeVar("TView", bound=ReadModelView)


class BatchProjection(Projection[TView], Generic[TView]):
    """A projection applied a batch at a time (see the module docstring)."""

    name = ""
    # The topics it applies start with this (the events of one aggregate class); a partitioned
    # rebuild reads only those. Empty: it decides by ``interested`` alone.
    topic_prefix = ""

    def interested(self, topic: str) -> bool:
        return topic.startswith(self.topic_prefix)

    def stage(self, events: Sequence[Positioned]) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def write(self, curs: Cursor[Any], staged: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def reset(self) -> None:
        """Forget in-memory state (after a failed transaction, a takeover or a rebuild)."""

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:  # type: ignore[override]
        """The library's one-event-per-transaction entry point, for compatibility."""
        try:
            staged = self.stage([(tracking.notification_id, domain_event)])
            with self.view.datastore.transaction(commit=True) as curs:
                self.write(curs, staged)
                self.view._insert_tracking(curs, tracking)
        except BaseException:
            self.reset()
            raise


class AggregateStateProjection(BatchProjection[TView]):
    """Keeps the current state of each aggregate of one class in an LRU and writes every
    aggregate a batch touched once, from its state after the batch."""

    aggregate_class: type[Aggregate]

    def __init__(self, view: TView, app: Any, *, cache_size: int = 50_000) -> None:
        super().__init__(view)
        self.app = app
        self.cache_size = cache_size
        self._cache: OrderedDict[UUID, Any] = OrderedDict()
        self.topic_prefix = get_topic(self.aggregate_class) + "."
        self.loads = 0  # aggregates loaded from the event store (LRU misses)
        self._loader: ThreadPoolExecutor | None = None

    def reset(self) -> None:
        self._cache.clear()

    def stage(self, events: Sequence[Positioned]) -> Any:
        touched: dict[UUID, Any] = {}
        new: set[UUID] = set()  # created in this batch: no rows of theirs can exist yet
        cache = self._cache
        preloaded = self._preload(events)
        applied = self.applied
        for position, event in events:
            aggregate_id = event.originator_id
            aggregate = touched.get(aggregate_id)
            if aggregate is None:
                if event.originator_version == 1:
                    new.add(aggregate_id)
                aggregate = preloaded.get(aggregate_id) or cache.get(aggregate_id)
            if aggregate is None or aggregate.version != event.originator_version - 1:
                aggregate = self._load(aggregate_id, event.originator_version - 1)
            aggregate = event.mutate(aggregate)
            touched[aggregate_id] = aggregate
            if applied is not None:
                applied(position, event, aggregate)
        for aggregate_id, aggregate in touched.items():
            cache[aggregate_id] = aggregate
            cache.move_to_end(aggregate_id)
        rows = self.to_rows(touched, new)
        if len(cache) > self.cache_size:
            evicted = []
            while len(cache) > self.cache_size:
                evicted.append(cache.popitem(last=False)[0])
            self.evicted(evicted)
        return rows

    # Called with (position, event, the aggregate right after it) for every event of a batch, by a
    # projection that acts on each event rather than on the state after the batch (the customer
    # notifications' outbox); None costs the others nothing.
    applied: Callable[[int, Any, Any], None] | None = None

    def evicted(self, aggregate_ids: list[UUID]) -> None:
        """The LRU let these aggregates go (a projection may drop what it kept beside them)."""

    def to_rows(self, touched: dict[UUID, Any], new: set[UUID]) -> Any:  # pragma: no cover - abstract
        """The rows to write for the aggregates a batch touched (their state after the batch);
        ``new`` are those the batch created."""
        raise NotImplementedError

    def _preload(self, events: Sequence[Positioned]) -> dict[UUID, Any]:
        """Loads the aggregates this batch needs and the LRU lacks (after a start, once evicted,
        or when a late event, e.g. a payment authorised long after its order, follows many
        others): short streams all in one query, long ones from their snapshots side by side.
        One round trip per aggregate would hold a rebuild up for seconds."""
        wanted: dict[UUID, int] = {}
        for _, event in events:
            aggregate_id = event.originator_id
            if aggregate_id in wanted:
                continue
            cached = self._cache.get(aggregate_id)
            wanted[aggregate_id] = 0 if cached is not None and cached.version == event.originator_version - 1 \
                else event.originator_version - 1
        short = [(i, v) for i, v in wanted.items() if 1 <= v <= BULK_LOAD_MAX_VERSION]
        long = [(i, v) for i, v in wanted.items() if v > BULK_LOAD_MAX_VERSION]
        loaded = self._load_many(short) if short else {}
        if len(long) > 1:
            if self._loader is None:
                self._loader = ThreadPoolExecutor(max_workers=PRELOADERS, thread_name_prefix=f"preload-{self.name}")
            loaded.update(zip((i for i, _ in long), self._loader.map(lambda item: self._load(*item), long)))
        return loaded

    def _load_many(self, wanted: list[tuple[UUID, int]]) -> dict[UUID, Any]:
        """Each aggregate at its wanted version, replayed from its events (read in one query)."""
        recorder = self.app.recorder
        statement = SQL(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state FROM {}.{} e "
            "JOIN unnest(%b::uuid[], %b::bigint[]) AS w(id, version) "
            "ON e.originator_id = w.id AND e.originator_version <= w.version "
            "ORDER BY e.originator_id, e.originator_version"
        ).format(Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name))
        with recorder.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(statement, ([i for i, _ in wanted], [v for _, v in wanted]))
            rows = curs.fetchall()
        to_domain_event = self.app.mapper.to_domain_event
        aggregates: dict[UUID, Any] = {}
        for aggregate_id, version, topic, state in rows:
            aggregates[aggregate_id] = to_domain_event(
                StoredEvent(aggregate_id, version, topic, state)).mutate(aggregates.get(aggregate_id))
        self.loads += len(wanted)
        # A stream that is not complete up to the wanted version is loaded again on its own.
        return {i: aggregates[i] for i, v in wanted if i in aggregates and aggregates[i].version == v}

    def _load(self, aggregate_id: UUID, version: int) -> Any:
        if version < 1:
            return None
        self.loads += 1
        return self.app.repository.get(aggregate_id, version=version)


class JsonbText(Jsonb):
    """A value for a jsonb column, rendered once by orjson (Decimals as strings); equal to another
    of the same JSON text, so that rows holding one compare (and hash) by content."""

    __slots__ = ()

    def __init__(self, value: Any) -> None:
        super().__init__(orjson.dumps(value, default=_default), dumps=bytes)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JsonbText) and self.obj == other.obj

    def __hash__(self) -> int:
        return hash(self.obj)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def copy_rows(curs: Cursor[Any], view: ReadModelView, table: str, columns: Mapping[str, str],
              rows: Iterable[Sequence[Any]]) -> None:
    """Copies ``rows`` into ``table``; ``columns`` names each column's PostgreSQL type. In
    COPY's binary format: the server then parses no text (numbers, times, ids), which took it
    about 40 % longer per row of ``orders`` (docs/performance.md, finding 36)."""
    with curs.copy(_copy_statement(view.schema, table, tuple(columns))) as copy:
        copy.set_types(list(columns.values()))
        for row in rows:
            copy.write_row(row)


@functools.lru_cache(maxsize=64)
def _copy_statement(schema: str, table: str, columns: tuple[str, ...]) -> bytes:
    # Rendered once per table: psycopg would otherwise escape every identifier on every call.
    return SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        Identifier(schema, table), SQL(", ").join(map(Identifier, columns))).as_bytes(None)
