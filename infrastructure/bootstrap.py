"""The composition root: the one place where adapters are chosen and everything is wired.

``build_system`` gives a ready ``System`` (event store, writer, service, read models, policies);
the API, the CLI and the tests all start from here.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from functools import partial
from dataclasses import dataclass, field
from typing import Any

from application.aggregate_cache import AggregateCache
from application.event_store import OrderManagement
from application.payments import PaymentSettlement
from application.policies import PaymentPolicy
from application.service import OrderService
from application.writer import GroupCommitWriter
from infrastructure.adapters.sandbox_carrier import SandboxCarrier
from infrastructure.adapters.sandbox_payments import SandboxPaymentGateway
from infrastructure.api_keys import ApiKeyStore, Role
from infrastructure.database import create_pool, eventsourcing_env, resolve_database_url, schema_lock
from infrastructure.runtime import tune_for_long_lived_state
from infrastructure.settings import Settings
from infrastructure.transcoder import OrjsonTranscoder

log = logging.getLogger(__name__)


@dataclass
class System:
    settings: Settings
    database_url: str
    app: OrderManagement
    cache: AggregateCache
    writer: GroupCommitWriter
    service: OrderService
    api_keys: ApiKeyStore
    read_pool: Any
    queries: Any
    projections: list[Any]
    followers: list[Any] = field(default_factory=list)
    _started: bool = False

    def start(self, *, projections: bool = True, policies: bool = True) -> None:
        """Starts the writer and, as asked, the projections and the policies. Each of those runs
        in one process at a time (advisory lock); in other processes they stand by."""
        self.writer.start()
        for runner in (self.projections if projections else []) + (self.followers if policies else []):
            runner.start()
        self._started = True

    def stop(self) -> None:
        if not self._started:
            return
        for runner in self.followers + self.projections:
            runner.close()
        self.service.settlement.close()
        self.writer.stop()
        self.read_pool.close()
        self.app.close()
        self._started = False

    def projection(self, name: str) -> Any:
        return next(p for p in self.projections if p.name == name)


def build_system(settings: Settings, database_url: str | None = None) -> System:
    from projections import build_projections
    from projections.policy_feed import build_policy_runner
    from projections.queries import ReadModelQueries

    url = database_url or resolve_database_url(settings)
    env = eventsourcing_env(url, pool_size=settings.pool_size, max_overflow=settings.pool_size)
    env["CREATE_TABLE"] = "y"
    with schema_lock(url):  # tables are created below; processes starting together take turns
        app = OrderManagement(env, transcoder=OrjsonTranscoder())
        read_pool = create_pool(url, min_size=2, max_size=settings.pool_size)
        api_keys = ApiKeyStore(read_pool)
        api_keys.create_table()
        projections = build_projections(app, url, partition_replayer=partial(replay_partition_elsewhere, url),
                                        min_batch_interval=settings.projection_batch_interval)
        cache = AggregateCache(app)
        writer = GroupCommitWriter(app, cache)
        # The sandbox answers from memory: calling it inline beats threads, which would only add
        # hand-offs. An adapter for a real provider gets a pool for its network round trips.
        settlement = PaymentSettlement(writer, cache, SandboxPaymentGateway(), concurrent_calls=1)
        service = OrderService(app, writer, cache, settlement, SandboxCarrier())
        followers = [build_policy_runner(app, url, PaymentPolicy(settlement))]
    for runner in projections + followers:
        writer.on_commit(runner.notify)
    return System(settings, url, app, cache, writer, service, api_keys, read_pool,
                  ReadModelQueries.for_app(read_pool, app), projections, followers)


def ensure_admin_key(store: ApiKeyStore, settings: Settings) -> str | None:
    """Makes OMS_ADMIN_KEY an admin key; with none set and no active key at all, creates one
    and returns its secret (to be printed once)."""
    if settings.admin_key is not None:
        store.ensure(settings.admin_key.get_secret_value(), "admin (OMS_ADMIN_KEY)", Role.ADMIN)
        return None
    if store.count_active() == 0:
        _, secret = store.create("first admin", Role.ADMIN)
        return secret
    return None


def api_key_store(settings: Settings) -> ApiKeyStore:
    url = resolve_database_url(settings)
    store = ApiKeyStore(create_pool(url, min_size=1, max_size=2))
    with schema_lock(url):
        store.create_table()
    return store


def rebuild_projections(settings: Settings, partitions: int = 1) -> dict[str, int]:
    system = build_system(settings)
    tune_for_long_lived_state()
    try:
        return {runner.name: runner.rebuild(partitions=partitions) for runner in system.projections}
    finally:
        for runner in system.projections + system.followers:
            runner.close()
        system.read_pool.close()
        system.app.close()


def replay_partition_elsewhere(url: str, name: str, partition: int, partitions: int, until: int) -> None:
    """One partition of a rebuild in a process of its own (``oms projections replay-partition``)."""
    subprocess.run([sys.executable, "-m", "infrastructure.cli", "projections", "replay-partition", name,
                    str(partition), str(partitions), str(until)],
                   env=dict(os.environ, OMS_DATABASE_URL=url), check=True)


def replay_partition(settings: Settings, name: str, partition: int, partitions: int, until: int) -> int:
    """Runs in a process started by a partitioned rebuild: the event store and the one projection,
    nothing else (its tables exist, and their query indexes stay dropped until the rebuild ends)."""
    from projections import build_projections

    url = resolve_database_url(settings)
    env = eventsourcing_env(url, pool_size=2, max_overflow=2)
    env["CREATE_TABLE"] = "n"  # the rebuilding process made them; several partitions start at once
    app = OrderManagement(env, transcoder=OrjsonTranscoder())
    tune_for_long_lived_state()
    (runner,) = build_projections(app, url, names=(name,), create_tables=False)
    try:
        return runner.replay_partition(partition, partitions, until)
    finally:
        runner.close()
        app.close()


def run_projections(settings: Settings) -> None:
    """The projection worker: keeps the read models current until SIGTERM/SIGINT, or until the
    process that started it (``oms serve``) is gone."""
    import signal
    import threading

    system = build_system(settings)
    tune_for_long_lived_state()
    parent = os.getppid()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    for runner in system.projections:
        runner.start()
    try:
        while not stop.wait(1.0):
            if os.environ.get("OMS_PROJECTIONS_PARENT") and os.getppid() != parent:
                break
    finally:
        for runner in system.projections + system.followers:
            runner.close()
        system.read_pool.close()
        system.app.close()


def _start_projection_worker() -> Any:
    import subprocess
    import sys

    env = dict(os.environ, OMS_PROJECTIONS_PARENT="1")
    return subprocess.Popen([sys.executable, "-m", "infrastructure.cli", "projections", "run"], env=env)


def serve(settings: Settings) -> None:
    import uvicorn

    url = resolve_database_url(settings)
    # Worker processes build their own System from the environment: hand them the resolved URL.
    os.environ["OMS_DATABASE_URL"] = url
    store = api_key_store(settings.model_copy(update={"database_url": url}))
    secret = ensure_admin_key(store, settings)
    if secret is not None:
        print("=" * 72, flush=True)
        print("No API key existed, so an admin key was created. It is shown only once:", flush=True)
        print(f"    {secret}", flush=True)
        print("Use it as:  Authorization: Bearer <key>", flush=True)
        print("=" * 72, flush=True)
    print(f"OMS listening on http://{settings.host}:{settings.port} (docs at /docs)", flush=True)
    worker = _start_projection_worker() if settings.projections == "process" else None
    try:
        uvicorn.run("api.app:create_app", factory=True, host=settings.host, port=settings.port,
                    workers=settings.workers, log_level=settings.log_level, access_log=False)
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(30)
