"""The writer process: the one group-commit writer of an ``oms serve``, with its aggregate cache
and the payment policy. The API processes send it their commands over a Unix socket
(``infrastructure.writer_client``) and it answers each once its batch has committed.

Why a process of its own: in one process the event loop (HTTP, validation, JSON) and the writer
(deciding, storing) take turns under one GIL, so every order queued for the same core twice
(docs/performance.md, finding 27). Apart, each has a core's worth of time to itself.

A connection is read by a thread of its own. A placement goes straight to the writer and is
answered from the writer's commit; any other command blocks until its batch commits (and may then
settle a payment), so it runs on a pool thread.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from application.service import OrderService, is_replay
from application.writer import CommandResult
from infrastructure.writer_wire import (
    HEADER,
    RemoteFailure,
    decode,
    decode_placement,
    encode,
    encode_placed,
    transportable,
)

log = logging.getLogger(__name__)

# What the API processes may ask of the writer process: OrderService's commands and its status.
WRITER_CALLS = frozenset({
    "register_location", "receive_stock", "adjust_stock", "place_order", "cancel_order", "request_return",
    "receive_return", "pick", "pack", "ship", "deliver", "writer_status",
})


class _Connection:
    """One API process's socket: answers are written whole, one at a time, from any thread; the
    answers of one writer batch may be held back and sent together (``later``, then ``flush``)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._lock = threading.Lock()
        self._held: list[bytes] = []

    def answer(self, call_id: int, outcome: Any = None, error: BaseException | None = None, *,
               later: bool = False) -> None:
        if error is not None:
            sent = transportable(error)
            if isinstance(sent, RemoteFailure):  # not a refusal: a failure the API answers 500
                log.error("a command failed in the writer process", exc_info=error)
            error = sent
        frame = encode((call_id, outcome, error))
        with self._lock:
            if later:
                self._held.append(frame)
            else:
                self._send(frame)

    def flush(self) -> None:
        with self._lock:
            if self._held:
                frames, self._held = self._held, []
                self._send(b"".join(frames))

    def _send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError:  # the API process went away; it answers its callers itself
            pass


class WriterServer:
    def __init__(self, service: OrderService, path: str, *, pool_size: int = 64) -> None:
        self.service = service
        self.path = path
        self._pool = ThreadPoolExecutor(pool_size, thread_name_prefix="writer-call")
        self._listener: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        # Connections holding answers of the writer's current batch: each gets one write per
        # batch, not one per command (the writer thread sends them, between its batches).
        self._holding: set[_Connection] = set()
        service.writer.on_batch_answered(self._flush)

    def start(self) -> None:
        if os.path.exists(self.path):
            os.unlink(self.path)  # left by a writer process that died
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.path)
        os.chmod(self.path, 0o600)
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, name="writer-accept", daemon=True).start()

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        for sock in list(self._connections):
            try:
                sock.shutdown(socket.SHUT_RDWR)  # now, even while its reader still holds it
            except OSError:
                pass
            sock.close()
        self._pool.shutdown(wait=True, cancel_futures=True)
        if os.path.exists(self.path):
            os.unlink(self.path)

    def _accept(self) -> None:
        while (listener := self._listener) is not None:
            try:
                sock, _ = listener.accept()
            except OSError:
                return  # closed by stop()
            self._connections.add(sock)
            threading.Thread(target=self._serve, args=(sock,), name="writer-connection", daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        connection = _Connection(sock)
        stream = sock.makefile("rb", buffering=1 << 16)
        try:
            while header := stream.read(HEADER.size):
                (size,) = HEADER.unpack(header)
                call_id, method, args = decode(stream.read(size))
                self._dispatch(connection, call_id, method, args)
        except Exception:  # noqa: BLE001 - a frame we cannot read: drop the connection, keep serving others
            log.exception("dropping an API process's connection to the writer")
        finally:
            self._connections.discard(sock)
            sock.close()

    def _dispatch(self, connection: _Connection, call_id: int, method: str, args: tuple) -> None:
        if method not in WRITER_CALLS:
            connection.answer(call_id, error=RemoteFailure(f"the writer has no call {method!r}"))
        elif method == "place_order":  # the hot path: no thread of its own, answered from the commit
            try:
                future = self.service.submit_placement(*decode_placement(*args))
            except Exception as error:  # noqa: BLE001 - e.g. the writer is shutting down
                connection.answer(call_id, error=error)
                return
            future.add_done_callback(lambda done: self._placed(connection, call_id, done))
        else:
            self._pool.submit(self._answer, connection, call_id, getattr(self.service, method), *args)

    def _placed(self, connection: _Connection, call_id: int, done: Future[CommandResult]) -> None:
        """Runs on the writer thread as the batch is answered (or at once on the reading thread,
        if the batch was quicker than the callback): a replay reads the store, so it is answered
        from the pool instead."""
        later = self.service.writer.in_writer_thread()
        if later:
            self._holding.add(connection)
        try:
            result = done.result()
        except BaseException as error:  # noqa: BLE001 - the command's own failure, for its caller
            connection.answer(call_id, error=error, later=later)
            return
        if is_replay(result):
            self._pool.submit(self._answer, connection, call_id, self._placed_answer, result)
        else:
            self._answer(connection, call_id, self._placed_answer, result, later=later)

    def _flush(self) -> None:
        """The writer's batch listener: sends each connection's answers of the batch together."""
        holding, self._holding = self._holding, set()
        for connection in holding:
            connection.flush()

    def _placed_answer(self, result: CommandResult) -> tuple:
        return encode_placed(self.service.placement_outcome(result))

    @staticmethod
    def _answer(connection: _Connection, call_id: int, function: Any, *args: Any, later: bool = False) -> None:
        try:
            outcome = function(*args)
        except Exception as error:  # noqa: BLE001 - every failure goes back to its caller
            connection.answer(call_id, error=error, later=later)
            return
        connection.answer(call_id, outcome, later=later)
