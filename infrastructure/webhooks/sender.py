"""The sender: posts what the outbox owes, signed (Standard Webhooks), and records every attempt.

One sender is active at a time (a Postgres advisory lock; another process takes over when it
dies). It keeps up to ``IN_FLIGHT`` requests going, at most ``PER_ENDPOINT_IN_FLIGHT`` to one
endpoint, so a slow or failing receiver holds up only its own deliveries.

What it guarantees (docs/webhooks.md):

- **At least once.** A delivery is marked in flight (committed) before its request leaves and
  ends only once the answer is recorded. A sender that dies in between leaves it marked: the one
  that takes over logs that attempt as interrupted and sends those deliveries again first,
  waiting for their outcome before it sends anything else.
- **At most once more per interruption.** Only an attempt cut off by the sender's death is
  repeated without a recorded answer, and a delivery whose repeat could be cut off again is not
  sent beside others: so a receiver sees a message a second time only if the sender died while
  sending it, and drops it by its ``webhook-id``.
- **In order per order.** Only the first pending delivery of an (endpoint, order) queue is ever
  due; the next becomes due when it ends (delivered, or given up).
- Only a 2xx answer delivers; redirects are not followed; 410 Gone disables the endpoint; an
  endpoint whose every attempt failed for ``disable_after`` seconds is disabled, and says why.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from math import floor
from typing import Any
from uuid import UUID

import httpx
import psycopg
from psycopg.rows import dict_row
from psycopg.sql import SQL, Composed, Identifier
from standardwebhooks.webhooks import Webhook

from application.webhook_retries import next_delay
from infrastructure.webhooks.addresses import RefusedAddress, Unresolvable, public_addresses
from infrastructure.webhooks.store import pause_endpoint_queues

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0
IN_FLIGHT = 32
PER_ENDPOINT_IN_FLIGHT = 8
# Of an answer's body, this much is read (the rest is not: a receiver cannot make us download a
# film) and this much kept for the delivery log.
READ_BYTES = 4096
EXCERPT_CHARS = 500
USER_AGENT = "oms-webhooks/1 (Standard Webhooks)"
LOCK_KEY = "oms-webhook-sender"
SENDER_NICENESS = 10


@dataclass(frozen=True)
class Claim:
    """A delivery the sender took on: what to send where."""

    delivery_id: int
    endpoint_id: UUID
    ordering_key: UUID
    webhook_id: str
    body: bytes
    url: str
    secrets: tuple[str, ...]  # the endpoint's secret, and the previous one while it overlaps
    attempt: int  # this attempt's number, of all made at this delivery
    failures_before: int  # attempts since it was owed, before this one (the retry schedule's count)


@dataclass(frozen=True)
class Attempt:
    claim: Claim
    started_at: datetime
    duration_ms: int
    status_code: int | None = None
    excerpt: str | None = None
    error: str | None = None
    refused: bool = False  # never sent: the URL leads somewhere webhooks may not go

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def outcome(self) -> str:
        return "delivered" if self.delivered else "refused" if self.refused else "failed"

    def describe(self) -> str:
        if self.status_code is not None:
            return f"HTTP {self.status_code}"
        return self.error or "no answer"


def signature_headers(claim: Claim, now: datetime) -> dict[str, str]:
    """``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` (one ``v1,`` signature per
    secret, space-separated, as Standard Webhooks has it), made by its library."""
    return {
        "webhook-id": claim.webhook_id,
        "webhook-timestamp": str(floor(now.timestamp())),
        "webhook-signature": " ".join(Webhook(secret).sign(claim.webhook_id, now, claim.body)
                                      for secret in claim.secrets),
    }


class WebhookSender:
    def __init__(self, database_url: str, *, schema: str = "public",
                 allow_private: bool = False, retry_delays: Sequence[float], disable_after: float,
                 poll_interval: float = 0.25, lock_retry_interval: float = 2.0,
                 lock_check_interval: float = 5.0, anyone_listens: Callable[[], bool] = lambda: True) -> None:
        self.database_url = database_url
        # Whether any endpoint is enabled: while none is, the sender holds no connection at all.
        self.anyone_listens = anyone_listens
        self.schema = schema
        self.allow_private = allow_private
        self.retry_delays = tuple(retry_delays)
        self.disable_after = disable_after
        self.poll_interval = poll_interval
        self.lock_retry_interval = lock_retry_interval
        self.lock_check_interval = lock_check_interval
        self._lock_key = LOCK_KEY if schema == "public" else f"{LOCK_KEY}:{schema}"
        self._lock_conn: psycopg.Connection[Any] | None = None
        self._lock_checked_at = 0.0
        self._idle_checked_at = 0.0
        self._executor = ThreadPoolExecutor(max_workers=IN_FLIGHT, thread_name_prefix="webhook-send",
                                            initializer=_yield_the_cpu)
        # Pinned to the checked address when private ones are refused: a connection kept open
        # for one host name must not carry another's request to the same address.
        self._client = httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False,
                                    limits=httpx.Limits(max_connections=IN_FLIGHT,
                                                        max_keepalive_connections=IN_FLIGHT if allow_private else 0))
        self._in_flight: dict[int, Future[Attempt]] = {}
        self._unrecorded: list[Attempt] = []  # answers not recorded yet (kept if recording fails)
        # After a takeover: the deliveries interrupted by the sender before, to send first, and
        # then those of them still being sent (nothing else is claimed until they are recorded).
        self._interrupted: list[int] | None = None
        self._resending: set[int] = set()
        self._stopping = threading.Event()
        self._wakeup = threading.Event()
        self._thread: threading.Thread | None = None
        self.attempts = 0  # counters, for tests and status
        self.recovered = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="webhook-sender", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = TIMEOUT_SECONDS + 5) -> None:
        """Stops claiming, lets the requests in flight end and records them."""
        self._stopping.set()
        self._wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def close(self) -> None:
        self.stop()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def notify(self) -> None:
        self._wakeup.set()

    @property
    def is_active(self) -> bool:
        return self._lock_conn is not None

    # ------------------------------------------------------------------ the loop

    def _run(self) -> None:
        _yield_the_cpu()
        while not self._stopping.is_set():
            if not self._holds_lock():
                if not self._listened_to() or not self._try_lock():
                    self._wakeup.wait(self.lock_retry_interval)  # (an endpoint created here wakes it)
                    self._wakeup.clear()
                    continue
                try:
                    self._recover()
                except Exception:  # noqa: BLE001 - tried again with the lock taken afresh
                    log.exception("webhook sender: could not recover the interrupted deliveries")
                    self._release_lock()
                    self._stopping.wait(self.lock_retry_interval)
                    continue
            try:
                self._record_finished()
                self._claim_and_send()
            except Exception:  # noqa: BLE001 - the database, most likely: go on after a pause
                log.exception("webhook sender: a round failed; going on")
                if self._lock_conn is not None and self._lock_conn.broken:
                    self._release_lock()  # connected and locked afresh in the next round
                self._stopping.wait(self.poll_interval * 4)
            self._wakeup.wait(self.poll_interval)
            self._wakeup.clear()
            if self._idle_since_check() and not self._listened_to():
                self._release_lock()  # nobody to send to: the connection goes until someone is
        deadline = time.monotonic() + TIMEOUT_SECONDS + 2
        while (self._in_flight or self._unrecorded) and time.monotonic() < deadline:
            time.sleep(0.02)
            try:
                self._record_finished()
            except Exception:  # noqa: BLE001 - left in flight: the next sender sends them again
                log.exception("webhook sender: could not record the last attempts")
                break
        self._release_lock()

    def _listened_to(self) -> bool:
        try:
            return self.anyone_listens()
        except Exception:  # noqa: BLE001 - the database, most likely: then try as if someone did
            return True

    def _idle_since_check(self) -> bool:
        """Nothing in flight, and the last look at the endpoints is a while ago."""
        if self._in_flight or self._unrecorded or self._interrupted is not None:
            return False
        now = time.monotonic()
        if now - self._idle_checked_at < self.lock_check_interval:
            return False
        self._idle_checked_at = now
        return True

    def _record_finished(self) -> None:
        done = [delivery_id for delivery_id, future in self._in_flight.items() if future.done()]
        self._unrecorded += [self._in_flight.pop(delivery_id).result() for delivery_id in done]
        if self._unrecorded:
            self._record(self._unrecorded)
            self._unrecorded = []

    # ------------------------------------------------------------------ claiming

    def _recover(self) -> None:
        """Deliveries left in flight by a sender that died: their attempt is logged as
        interrupted, and they are sent again before anything else."""
        with self._transaction() as curs:
            curs.execute(self._sql(
                "WITH interrupted AS (SELECT d.id, d.attempts, d.in_flight_since, e.enabled "
                "FROM {s}.webhook_deliveries d JOIN {s}.webhook_endpoints e ON e.id = d.endpoint_id "
                "WHERE d.in_flight_since IS NOT NULL AND d.status = 'pending' AND d.id <> ALL(%s::bigint[]) FOR UPDATE OF d), "
                "logged AS (INSERT INTO {s}.webhook_attempts (delivery_id, attempt, started_at, error, outcome) "
                "SELECT id, attempts, in_flight_since, %s, 'interrupted' FROM interrupted) "
                "UPDATE {s}.webhook_deliveries d SET in_flight_since = NULL, last_attempt_at = i.in_flight_since, "
                "status_code = NULL, duration_ms = NULL, response_excerpt = NULL, error = %s, "
                "next_attempt_at = CASE WHEN i.enabled THEN now() END FROM interrupted i WHERE d.id = i.id "
                "RETURNING d.id, i.enabled"), (list(self._in_flight), INTERRUPTED, INTERRUPTED))
            rows = curs.fetchall()
        self.recovered += len(rows)
        self._interrupted = sorted(row["id"] for row in rows if row["enabled"])
        if rows:
            log.warning("webhook sender: %d deliveries were being sent when the last sender stopped; sending them "
                        "again first", len(rows))

    def _claim_and_send(self) -> None:
        if self._interrupted is not None:  # sent again, alone
            claims = self._claim(only=self._interrupted) if self._interrupted else []
            self._interrupted = None
            self._resending = {claim.delivery_id for claim in claims}
        elif self._resending & (set(self._in_flight) | {a.claim.delivery_id for a in self._unrecorded}):
            return  # nothing else is sent until their answers are recorded
        else:
            free = IN_FLIGHT - len(self._in_flight)
            claims = self._claim(limit=free) if free > 0 else []
        for claim in claims:
            future = self._executor.submit(self.attempt, claim)
            future.add_done_callback(lambda _: self._wakeup.set())
            self._in_flight[claim.delivery_id] = future

    def _claim(self, *, limit: int = 0, only: list[int] | None = None) -> list[Claim]:
        """Marks the due deliveries in flight (committed before any request leaves) and returns
        what to send: the earliest due first, at most PER_ENDPOINT_IN_FLIGHT per endpoint."""
        with self._transaction() as curs:
            if only is not None:
                picked = self._sql("SELECT d.id FROM {s}.webhook_deliveries d JOIN {s}.webhook_endpoints e "
                                   "ON e.id = d.endpoint_id WHERE d.id = ANY(%(only)s::bigint[]) AND e.enabled "
                                   "AND d.status = 'pending' AND d.in_flight_since IS NULL "
                                   "AND d.next_attempt_at IS NOT NULL")
            else:
                picked = self._sql(
                    "SELECT c.id FROM {s}.webhook_endpoints e "
                    "CROSS JOIN LATERAL (SELECT count(*) AS busy FROM {s}.webhook_deliveries b "
                    "WHERE b.endpoint_id = e.id AND b.in_flight_since IS NOT NULL) f "
                    "CROSS JOIN LATERAL (SELECT x.id, x.next_attempt_at FROM {s}.webhook_deliveries x "
                    "WHERE x.endpoint_id = e.id AND x.status = 'pending' AND x.next_attempt_at IS NOT NULL "
                    "AND x.in_flight_since IS NULL AND x.next_attempt_at <= now() "
                    "ORDER BY x.next_attempt_at, x.id LIMIT greatest(%(per_endpoint)s - f.busy, 0)) c "
                    "WHERE e.enabled ORDER BY c.next_attempt_at, c.id LIMIT %(limit)s")
            curs.execute(SQL("WITH picked AS ({picked}) UPDATE {s}.webhook_deliveries d "
                             "SET in_flight_since = now(), attempts = d.attempts + 1 FROM picked "
                             "WHERE d.id = picked.id RETURNING d.id").format(picked=picked, s=Identifier(self.schema)),
                         {"only": only, "per_endpoint": PER_ENDPOINT_IN_FLIGHT, "limit": limit})
            ids = [row["id"] for row in curs.fetchall()]
            if not ids:
                return []
            curs.execute(self._sql(
                "SELECT d.id, d.endpoint_id, d.ordering_key, d.message_id, d.attempts, d.scheduled_attempts, m.body, "
                "e.url, e.secret, CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret END AS previous "
                "FROM {s}.webhook_deliveries d JOIN {s}.webhook_messages m ON m.id = d.message_id "
                "JOIN {s}.webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = ANY(%s) ORDER BY d.id"), (ids,))
            return [Claim(row["id"], row["endpoint_id"], row["ordering_key"], row["message_id"], row["body"].encode(),
                          row["url"], tuple(s for s in (row["secret"], row["previous"]) if s), row["attempts"],
                          row["scheduled_attempts"]) for row in curs.fetchall()]

    # ------------------------------------------------------------------ sending

    def attempt(self, claim: Claim) -> Attempt:
        """One POST of the delivery's message to its endpoint (in a worker thread)."""
        started_at, started = datetime.now(UTC), time.monotonic()

        def elapsed() -> int:
            return round((time.monotonic() - started) * 1000)

        try:
            url, headers, extensions = self._target(claim.url)
            headers.update(signature_headers(claim, datetime.now(UTC)))
            with self._client.stream("POST", url, content=claim.body, headers=headers,
                                     extensions=extensions) as response:
                excerpt = _excerpt(response)
            return Attempt(claim, started_at, elapsed(), response.status_code, excerpt)
        except (RefusedAddress, Unresolvable) as error:
            return Attempt(claim, started_at, elapsed(), error=f"not sent: {error}", refused=isinstance(
                error, RefusedAddress))
        except httpx.TimeoutException as error:
            return Attempt(claim, started_at, elapsed(), error=f"no answer within {TIMEOUT_SECONDS:.0f} s "
                                                               f"({type(error).__name__})")
        except Exception as error:  # noqa: BLE001 - whatever it was, it is this attempt's outcome
            return Attempt(claim, started_at, elapsed(), error=f"{type(error).__name__}: {error}")

    def _target(self, url: str) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
        """Where the request goes: with private addresses refused, to the public address the host
        resolves to now (checked), with its name in Host and for TLS, so that no second lookup
        (DNS rebinding) can send it elsewhere."""
        parsed = httpx.URL(url)
        headers = {"content-type": "application/json", "user-agent": USER_AGENT}
        if self.allow_private:
            return parsed, headers, {}
        host = parsed.raw_host.decode("ascii")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        address = public_addresses(host, port)[0]
        headers["host"] = parsed.netloc.decode("ascii")
        extensions = {"sni_hostname": host} if parsed.scheme == "https" else {}
        return parsed.copy_with(host=str(address)), headers, extensions

    # ------------------------------------------------------------------ recording

    def _record(self, attempts: list[Attempt]) -> None:
        """Each attempt's outcome, in one transaction: the attempt log, the delivery (delivered,
        due again later, or given up), its queue's next delivery, the endpoint's health."""
        if not attempts:
            return
        self.attempts += len(attempts)
        with self._transaction() as curs:
            # Locked before a queue is moved on: see projections/webhook_outbox.write_deliveries.
            curs.execute(self._sql("SELECT id, enabled, failing_since FROM {s}.webhook_endpoints WHERE id = ANY(%s) "
                                   "ORDER BY id FOR NO KEY UPDATE"), (sorted({a.claim.endpoint_id for a in attempts}),))
            endpoints = {row["id"]: row for row in curs.fetchall()}
            disabled: dict[UUID, str] = {}
            queues_to_move: set[tuple[UUID, UUID]] = set()
            for attempt in sorted(attempts, key=lambda a: a.claim.delivery_id):
                claim = attempt.claim
                endpoint = endpoints.get(claim.endpoint_id)
                if endpoint is None:
                    continue  # deleted meanwhile, with its deliveries
                self._log(attempt)
                curs.execute(self._sql(
                    "INSERT INTO {s}.webhook_attempts (delivery_id, attempt, started_at, duration_ms, status_code, "
                    "response_excerpt, error, outcome) SELECT %s, %s, %s, %s, %s, %s, %s, %s "
                    "WHERE EXISTS (SELECT 1 FROM {s}.webhook_deliveries WHERE id = %s)"),
                    (claim.delivery_id, claim.attempt, attempt.started_at, attempt.duration_ms, attempt.status_code,
                     attempt.excerpt, _storable(attempt.error), attempt.outcome, claim.delivery_id))
                if attempt.delivered:
                    status, due_in = "delivered", None
                    endpoint["failing_since"] = None
                else:
                    endpoint["failing_since"] = endpoint["failing_since"] or attempt.started_at
                    due_in = None if attempt.status_code == 410 else \
                        next_delay(claim.failures_before + 1, self.retry_delays)
                    status = "pending" if due_in is not None else "failed"
                    if attempt.status_code == 410:
                        disabled[claim.endpoint_id] = (f"the endpoint answered 410 Gone at "
                                                       f"{attempt.started_at:%Y-%m-%d %H:%M:%S} UTC: it wants no "
                                                       "more deliveries")
                    elif attempt.started_at - endpoint["failing_since"] > timedelta(seconds=self.disable_after):
                        disabled[claim.endpoint_id] = (
                            f"every attempt failed since {endpoint['failing_since']:%Y-%m-%d %H:%M:%S} UTC "
                            f"(the last: {attempt.describe()})")
                if status != "pending":
                    queues_to_move.add((claim.endpoint_id, claim.ordering_key))
                curs.execute(self._sql(
                    "UPDATE {s}.webhook_deliveries SET status = %s, in_flight_since = NULL, "
                    "scheduled_attempts = scheduled_attempts + 1, last_attempt_at = %s, status_code = %s, "
                    "duration_ms = %s, response_excerpt = %s, error = %s, "
                    "next_attempt_at = now() + make_interval(secs => %s), "
                    "delivered_at = CASE WHEN %s = 'delivered' THEN now() END WHERE id = %s"),
                    (status, attempt.started_at, attempt.status_code, attempt.duration_ms, attempt.excerpt,
                     _storable(attempt.error), due_in, status, claim.delivery_id))
            for endpoint_id, endpoint in endpoints.items():
                reason = disabled.get(endpoint_id)
                if reason is not None and endpoint["enabled"]:
                    log.warning("webhook endpoint %s disabled: %s", endpoint_id, reason)
                    endpoint["enabled"] = False
                curs.execute(self._sql(
                    "UPDATE {s}.webhook_endpoints SET failing_since = %s, enabled = %s, "
                    "disabled_reason = CASE WHEN %s THEN disabled_reason ELSE coalesce(%s, disabled_reason) END, "
                    "disabled_at = CASE WHEN enabled AND NOT %s THEN now() ELSE disabled_at END WHERE id = %s"),
                    (endpoint["failing_since"], endpoint["enabled"], endpoint["enabled"], reason, endpoint["enabled"],
                     endpoint_id))
                if not endpoint["enabled"]:
                    pause_endpoint_queues(curs, self.schema, endpoint_id)
            for endpoint_id, ordering_key in sorted(queues_to_move):
                if endpoints[endpoint_id]["enabled"]:
                    curs.execute(self._sql(
                        "UPDATE {s}.webhook_deliveries SET next_attempt_at = now() WHERE id = ("
                        "SELECT id FROM {s}.webhook_deliveries WHERE endpoint_id = %s AND ordering_key = %s "
                        "AND status = 'pending' ORDER BY id LIMIT 1) AND next_attempt_at IS NULL "
                        "AND in_flight_since IS NULL"), (endpoint_id, ordering_key))

    def _log(self, attempt: Attempt) -> None:
        claim = attempt.claim
        log.info("webhook %s (delivery %d) to %s: attempt %d %s, %s in %d ms", claim.webhook_id, claim.delivery_id,
                 claim.endpoint_id, claim.attempt, attempt.outcome, attempt.describe(), attempt.duration_ms)

    # ------------------------------------------------------------------ the lock

    def _try_lock(self) -> bool:
        if self._lock_conn is not None:
            return True
        try:
            conn = psycopg.connect(self.database_url, autocommit=True, application_name="oms-webhook-sender")
        except psycopg.Error:
            log.exception("webhook sender: cannot reach the database to take its lock")
            return False
        try:
            acquired = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (self._lock_key,)).fetchone()[0]
        except psycopg.Error:
            conn.close()
            return False
        if not acquired:
            conn.close()
            return False
        self._lock_conn = conn
        self._lock_checked_at = time.monotonic()
        log.info("webhook sender: running (lock taken)")
        return True

    def _holds_lock(self) -> bool:
        conn = self._lock_conn
        if conn is None:
            return False
        if time.monotonic() - self._lock_checked_at < self.lock_check_interval:
            return True
        self._lock_checked_at = time.monotonic()
        try:
            conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            log.warning("webhook sender: lost the connection holding its lock")
            self._release_lock()
            return False

    def _release_lock(self) -> None:
        conn, self._lock_conn = self._lock_conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:
                pass

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        """A transaction on the connection that holds the lock: the sender's only connection (its
        DB work is done by its loop alone, one statement after another)."""
        conn = self._lock_conn
        if conn is None:
            raise psycopg.OperationalError("the webhook sender holds no lock")
        with conn.transaction(), conn.cursor(row_factory=dict_row) as curs:
            yield curs

    def _sql(self, statement: str) -> Composed:
        return SQL(statement).format(s=Identifier(self.schema))  # type: ignore[arg-type]


INTERRUPTED = ("the sender stopped during this attempt, before its answer was recorded: whether the receiver got it "
               "is unknown, so it is sent again (the receiver drops a repeat by its webhook-id)")


def _yield_the_cpu() -> None:
    """Runs the calling thread at a lower priority (Linux sets it per thread): with many
    receivers answering fast the sender could be busy all the time, and the API, the writer and
    the read models on the same machine come first; webhooks only wait a little longer."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), SENDER_NICENESS)
    except (AttributeError, OSError):  # not Linux, or not allowed: the default priority then
        pass


def _excerpt(response: httpx.Response) -> str:
    """The start of the answer's body, as text PostgreSQL can store."""
    read = b""
    for chunk in response.iter_bytes():
        read += chunk
        if len(read) >= READ_BYTES:
            break
    return _storable(read[:READ_BYTES].decode("utf-8", errors="replace")[:EXCERPT_CHARS]) or ""


def _storable(text: str | None) -> str | None:
    return text.replace("\x00", "\ufffd") if text is not None else None
