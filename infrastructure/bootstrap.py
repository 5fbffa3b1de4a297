"""The composition root: the one place where adapters are chosen and everything is wired.

``build_system`` gives a ready ``System`` (event store, writer, service, read models, policies);
the API, the CLI and the tests all start from here.
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import psycopg

from application.aggregate_cache import AggregateCache
from application.event_store import OrderManagement
from application.order_numbers import OrderNumbers
from application.payments import PaymentSettlement
from application.policies import PaymentPolicy
from application.ports import Geocoder
from application.service import Commands, OrderService
from application.writer import GroupCommitWriter
from infrastructure.adapters.offline_geocoder import OfflineGeocoder
from infrastructure.adapters.sandbox_carrier import SandboxCarrier
from infrastructure.adapters.sandbox_payments import SandboxPaymentGateway
from infrastructure.api_keys import ApiKeyStore, Role
from infrastructure.carrier_accounts import CarrierAccounts
from infrastructure.channels import ChannelStore
from infrastructure.order_number_blocks import SequenceNumberBlocks
from infrastructure.database import (
    UnsafeDatabase,
    create_pool,
    eventsourcing_env,
    refuse_unsafe_settings,
    resolve_database_url,
    schema_lock,
)
from infrastructure.runtime import tune_for_long_lived_state
from infrastructure.settings import Settings, get_settings
from infrastructure.transcoder import OrjsonTranscoder

log = logging.getLogger(__name__)


@dataclass
class System:
    settings: Settings
    database_url: str
    app: OrderManagement
    cache: AggregateCache
    writer: GroupCommitWriter
    # This process's use cases, for reads of the event store (the order as of a time) and for
    # tests; in an API process of `oms serve` its writer never starts.
    service: OrderService
    # What the API sends its commands to: ``service`` itself, or the writer process.
    commands: Commands
    api_keys: ApiKeyStore
    read_pool: Any
    queries: Any
    projections: list[Any]
    followers: list[Any] = field(default_factory=list)
    # An API process of `oms serve`: the writer process decides, records and runs the policies.
    writer_elsewhere: bool = False
    carrier_accounts: Any = None  # infrastructure.carrier_accounts.CarrierAccounts
    channels: Any = None  # infrastructure.channels.ChannelStore
    # Places shipping addresses sent without coordinates (POST /orders), from data shipped with
    # the package: its index is built on the first such address, once per process.
    geocoder: Geocoder | None = None
    # Customer notifications (infrastructure.notifications.Notifications): their outbox runner and
    # sender run where the read models do; None in the writer process.
    notifications: Any = None
    # Outbound webhooks (infrastructure.webhooks.Webhooks): the endpoints' store for the API; their
    # outbox, replayer and sender run where the read models do; None in the writer process.
    webhooks: Any = None
    _started: bool = False

    def start(self, *, projections: bool = True, policies: bool = True) -> None:
        """Starts the writer and, as asked, the projections and the policies. Each of those runs
        in one process at a time (advisory lock); in other processes they stand by."""
        if self.writer_elsewhere:
            policies = False
        else:
            self.writer.start()
        for runner in (self.projections if projections else []) + (self.followers if policies else []):
            runner.start()
        if projections and self.notifications is not None:
            self.notifications.start()
        if projections and self.webhooks is not None:
            self.webhooks.start()
        self._started = True

    def stop(self) -> None:
        if not self._started:
            return
        for runner in self.followers + self.projections:
            runner.close()
        if self.notifications is not None:
            self.notifications.close()
        if self.webhooks is not None:
            self.webhooks.close()
        if not self.writer_elsewhere:
            self.service.settlement.close()
            self.writer.stop()
        self.service.close()
        self.read_pool.close()
        self.app.close()
        self._started = False

    def projection(self, name: str) -> Any:
        return next(p for p in self.projections if p.name == name)


def build_system(settings: Settings, database_url: str | None = None, *, read_models: bool = True) -> System:
    """``read_models=False`` leaves out the projections (the writer process runs none, and their
    connections would count against the server's limit for nothing)."""
    from projections import build_projections
    from infrastructure.notifications import build_notifications
    from infrastructure.webhooks import build_webhooks
    from projections.feed import CommittedFeed
    from projections.policy_feed import build_policy_runner
    from projections.queries import ReadModelQueries

    url = database_url or resolve_database_url(settings)
    # An API process whose writer runs elsewhere reads the event store only for as-of requests.
    # Pools keep few connections open and grow on demand up to OMS_POOL_SIZE more (psycopg's
    # pools close what stays idle): an idle deployment holds about 25 (README, "Connections").
    env = eventsourcing_env(url, pool_size=2, max_overflow=settings.pool_size)
    env["CREATE_TABLE"] = "y"
    with schema_lock(url):  # tables are created below; processes starting together take turns
        app = OrderManagement(env, transcoder=OrjsonTranscoder())
        read_pool = create_pool(url, min_size=1, max_size=settings.pool_size)
        try:
            with app.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined] # (Postgres's)
                refuse_unsafe_settings(conn, "event store")
            with read_pool.connection() as conn:
                refuse_unsafe_settings(conn, "read models")
        except UnsafeDatabase:
            read_pool.close()
            app.close()
            raise
        api_keys = ApiKeyStore(read_pool)
        api_keys.create_table()
        carrier_accounts = CarrierAccounts(read_pool)
        carrier_accounts.create_tables()
        channels = ChannelStore(read_pool)
        channels.create_tables()
        projections = build_projections(app, partition_replayer=partial(replay_partition_elsewhere, url),
                                        min_batch_interval=settings.projection_batch_interval) if read_models else []
        cache = AggregateCache(app)
        writer = GroupCommitWriter(app, cache)
        # The sandbox answers from memory: calling it inline beats threads, which would only add
        # hand-offs. An adapter for a real provider gets a pool for its network round trips.
        settlement = PaymentSettlement(writer, cache, SandboxPaymentGateway(), concurrent_calls=1)
        number_blocks = SequenceNumberBlocks(read_pool)
        number_blocks.create_sequence()
        service = OrderService(app, writer, cache, settlement, SandboxCarrier(),
                               numbers=OrderNumbers(number_blocks))
        # The payment policy runs beside the writer: it follows the writer's own commits from
        # memory, and reads from the store only what other writers recorded.
        committed = CommittedFeed(app)
        writer.on_committed_events(committed.publish)
        followers = [build_policy_runner(app, PaymentPolicy(settlement), feed=committed,
                                         min_batch_interval=settings.policy_batch_interval)]
        # Customer notifications: their outbox follows the feed where the read models do.
        notifications = build_notifications(app, settings, read_pool, feed=projections[0].feed,
                                            min_batch_interval=settings.projection_batch_interval) \
            if read_models else None
        # Outbound webhooks: their outbox follows the feed where the read models do, never rebuilt.
        webhooks = build_webhooks(app, settings, url, read_pool, feed=projections[0].feed) if read_models else None
    for runner in projections + followers + ([notifications.runner] if notifications is not None else []):
        writer.on_commit(runner.notify)
    if webhooks is not None:
        writer.on_commit(webhooks.outbox.notify)
    commands: Commands = service
    if settings.writer_socket:
        from infrastructure.writer_client import RemoteCommands, WriterClient

        commands = RemoteCommands(WriterClient(settings.writer_socket))
    return System(settings, url, app, cache, writer, service, commands, api_keys, read_pool,
                  ReadModelQueries.for_app(read_pool, app), projections, followers,
                  writer_elsewhere=bool(settings.writer_socket), carrier_accounts=carrier_accounts, channels=channels,
                  geocoder=OfflineGeocoder(), notifications=notifications, webhooks=webhooks)


def ensure_admin_key(store: ApiKeyStore, settings: Settings) -> str | None:
    """Makes OMS_ADMIN_KEY an admin key; with none set and no active key at all, creates one
    and returns its secret (to be printed once)."""
    if settings.admin_key is not None:
        store.replace_admin_key(settings.admin_key.get_secret_value())
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
        if system.notifications is not None:  # (never rebuilt: that would send every message again)
            system.notifications.close()
        if system.webhooks is not None:  # (nor the webhook outbox)
            system.webhooks.close()
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
    (runner,) = build_projections(app, names=(name,), create_tables=False)
    try:
        return runner.replay_partition(partition, partitions, until)
    finally:
        runner.close()
        app.close()


def run_projections(settings: Settings) -> None:
    """The projection worker: keeps the read models current until SIGTERM/SIGINT, or until the
    process that started it (``oms serve``) is gone."""
    _exit_when_orphaned("OMS_PROJECTIONS_PARENT")
    system = build_system(settings)
    tune_for_long_lived_state()
    for runner in system.projections:
        runner.start()
    if system.notifications is not None:
        system.notifications.start()
    if system.webhooks is not None:
        system.webhooks.start()
    try:
        _wait_for_stop_signal()
    finally:
        for runner in system.projections + system.followers:
            runner.close()
        if system.notifications is not None:
            system.notifications.close()
        if system.webhooks is not None:
            system.webhooks.close()
        system.read_pool.close()
        system.app.close()


def run_notification_sender(settings: Settings) -> None:
    """``oms notifications send``: the sender alone (the outbox runner writes the messages where
    the read models are built), until SIGTERM/SIGINT."""
    from infrastructure.notifications import build_sender

    pool = create_pool(resolve_database_url(settings), min_size=1, max_size=2)
    sender = build_sender(settings, pool)
    sender.start()
    try:
        _wait_for_stop_signal()
    finally:
        sender.close()
        pool.close()


def run_writer(settings: Settings, socket_path: str) -> None:
    """The writer process (``oms writer``): the group-commit writer, its cache and the payment
    policy, taking the API processes' commands at ``socket_path`` until SIGTERM/SIGINT, or until
    the process that started it (``oms serve``) is gone."""
    from infrastructure.runtime import tune_gil_for_writer
    from infrastructure.writer_process import WriterServer

    _exit_when_orphaned("OMS_WRITER_PARENT")
    system = build_system(settings.model_copy(update={"writer_socket": None}), read_models=False)
    tune_gil_for_writer()
    tune_for_long_lived_state()
    system.start(projections=False)
    server = WriterServer(system.service, socket_path)
    server.start()
    try:
        _wait_for_stop_signal()
    finally:
        server.stop()
        system.stop()


def _exit_when_orphaned(parent_variable: str) -> None:
    """From start-up on, a process started by ``oms serve`` ends with it, even if it is still
    starting (e.g. waiting for a database connection) when ``oms serve`` is killed."""
    if not os.environ.get(parent_variable):
        return
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)  # graceful once the stop handlers are in place

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _wait_for_stop_signal() -> None:
    """Returns on SIGTERM/SIGINT (``_exit_when_orphaned`` sends the former once ``oms serve`` is gone)."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass


class _ChildProcess:
    """A process ``oms serve`` starts beside the API and starts again if it dies: while it is
    gone, the API answers 503 (the writer) or the read models wait (the projection worker)."""

    def __init__(self, name: str, args: list[str], parent_variable: str, *, own_session: bool = False,
                 environment: dict[str, str] | None = None) -> None:
        self.name = name
        self._args = args
        self._environment = environment or {}
        self._parent_variable = parent_variable
        # A session of its own: a signal to `oms serve`'s group must not stop the writer under
        # the API (stop() ends it after the API; if `oms serve` is killed, it notices and exits).
        self._own_session = own_session
        self._proc: subprocess.Popen | None = None
        self._stopping = False
        self._lock = threading.Lock()

    def start(self, ready: Callable[[], bool] | None = None, timeout: float = 120) -> None:
        self._launch()
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while ready is not None and not ready():
            if self._proc.poll() is not None:
                raise RuntimeError(f"the {self.name} exited with status {self._proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the {self.name} did not get ready")
            time.sleep(0.05)
        threading.Thread(target=self._supervise, name=f"{self.name}-supervisor", daemon=True).start()

    def _launch(self) -> None:
        env = dict(os.environ, **self._environment, **{self._parent_variable: "1"})
        env.pop("OMS_WRITER_SOCKET", None)
        self._proc = subprocess.Popen([sys.executable, "-m", "infrastructure.cli", *self._args], env=env,
                                      start_new_session=self._own_session)

    def _supervise(self) -> None:
        while True:
            assert self._proc is not None
            status = self._proc.wait()
            with self._lock:
                if self._stopping:
                    return
                log.error("the %s exited (status %s); starting it again", self.name, status)
                time.sleep(1)
                self._launch()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(30)
            except subprocess.TimeoutExpired:
                self._proc.kill()


class WriterProcess(_ChildProcess):
    """The writer process, listening at a socket in a directory only this user can open."""

    def __init__(self, environment: dict[str, str] | None = None) -> None:
        from infrastructure.writer_wire import writer_socket_directory

        self.directory = writer_socket_directory()
        self.socket_path = os.path.join(self.directory, "writer.sock")
        super().__init__("writer process", ["writer", "--socket", self.socket_path], "OMS_WRITER_PARENT",
                         own_session=True, environment=environment)

    def start(self, ready: Callable[[], bool] | None = None, timeout: float = 120) -> None:
        super().start(ready or (lambda: os.path.exists(self.socket_path)), timeout)

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def serve(settings: Settings) -> None:
    import uvicorn

    url = resolve_database_url(settings)
    # Before any process starts: the same check every process makes, said once, clearly.
    with psycopg.connect(url) as conn:
        refuse_unsafe_settings(conn, "service")
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
    writer = WriterProcess() if settings.writer == "process" else None
    if writer is not None:
        writer.start()
    worker = _ChildProcess("projection worker", ["projections", "run"], "OMS_PROJECTIONS_PARENT") \
        if settings.projections == "process" else None
    if worker is not None:
        worker.start()
    if writer is not None:  # for the API processes uvicorn starts (this one among them)
        os.environ["OMS_WRITER_SOCKET"] = writer.socket_path
        get_settings.cache_clear()
    # uvicorn raises SIGTERM again once it has shut down. Its default action would end the process
    # there, skipping the stops below and the embedded PostgreSQL's stop at exit.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        uvicorn.run("api.app:create_app", factory=True, host=settings.host, port=settings.port,
                    workers=settings.workers, log_level=settings.log_level, access_log=False)
    finally:
        if worker is not None:
            worker.stop()
        if writer is not None:
            writer.stop()
