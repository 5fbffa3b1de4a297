"""The writer process: the one group-commit writer of an ``oms serve``, with its aggregate cache
and the payment policy. The API processes send it their commands over a Unix socket
(``infrastructure.writer_client``) and it answers each once its batch has committed.

Why a process of its own: in one process the event loop (HTTP, validation, JSON) and the writer
(deciding, storing) take turns under one GIL, so every order queued for the same core twice
(docs/performance.md, finding 27). Apart, each has a core's worth of time to itself.

A connection is read by a thread of its own and every command goes to ``OrderService.submit``,
whatever its type. A placement is answered from its batch's commit on the writer's thread, with
the other answers of that batch in one write per connection; any other command is answered from
the service's threads.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from concurrent.futures import Future

from application.service import OrderService, Outcome
from infrastructure.writer_wire import (
    HEADER,
    answerable,
    call_id_of,
    decode_request,
    encode_error,
    encode_outcome,
)

log = logging.getLogger(__name__)


class _Connection:
    """One API process's socket: answers are written whole, one at a time, from any thread; the
    answers of one writer batch may be held back and sent together (``later``, then ``flush``)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._lock = threading.Lock()
        self._held: list[bytes] = []

    def answer(self, frame: bytes, *, later: bool = False) -> None:
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
    def __init__(self, service: OrderService, path: str) -> None:
        self.service = service
        self.path = path
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
                payload = stream.read(size)
                if len(payload) < size:
                    return  # the API process went away mid-frame
                self._dispatch(connection, payload)
        except OSError:
            pass  # the API process went away
        finally:
            self._connections.discard(sock)
            sock.close()

    def _dispatch(self, connection: _Connection, payload: bytes) -> None:
        try:
            call_id, cmd, ctx = decode_request(payload)
        except Exception as error:  # noqa: BLE001 - this call fails; the connection carries others
            unread = call_id_of(payload)
            log.error("the writer could not read call %s: %s", unread, error)
            if unread is not None:
                connection.answer(encode_error(unread, error))
            return
        try:
            future = self.service.submit(cmd, ctx)
        except Exception as error:  # noqa: BLE001 - e.g. the writer is shutting down
            self._answer(connection, call_id, error=error)
            return
        future.add_done_callback(lambda done: self._done(connection, call_id, done))

    def _done(self, connection: _Connection, call_id: int, done: Future[Outcome]) -> None:
        """Runs where the outcome became known: on the writer's thread for a placement (then the
        answer waits for the batch's flush), else on a service thread."""
        later = self.service.writer.in_writer_thread()
        if later:
            self._holding.add(connection)
        try:
            outcome = done.result()
        except BaseException as error:  # noqa: BLE001 - the command's own failure, for its caller
            self._answer(connection, call_id, error=error, later=later)
            return
        self._answer(connection, call_id, outcome, later=later)

    def _flush(self) -> None:
        """The writer's batch listener: sends each connection's answers of the batch together."""
        holding, self._holding = self._holding, set()
        for connection in holding:
            connection.flush()

    @staticmethod
    def _answer(connection: _Connection, call_id: int, outcome: Outcome | None = None, *,
                error: BaseException | None = None, later: bool = False) -> None:
        if outcome is not None:
            try:
                frame = encode_outcome(call_id, outcome)
            except Exception as failure:  # noqa: BLE001 - the caller hears of it, not others
                error = failure
        if error is not None:
            if not answerable(error):
                log.error("a command failed in the writer process", exc_info=error)
            frame = encode_error(call_id, error)
        connection.answer(frame, later=later)
