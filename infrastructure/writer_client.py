"""An API process's side of the writer process (``infrastructure.writer_process``).

``RemoteOrderService`` offers what ``OrderService`` offers the routes: its commands are carried
out by the writer process, with the same outcomes and the same errors; reads (the order as of a
time) stay in this process. Calls share one socket, many in flight at once, on the event loop.
"""
from __future__ import annotations

import asyncio
import itertools
from datetime import datetime
from functools import partial
from typing import Any
from uuid import UUID

import anyio.from_thread

from application import commands
from application.context import CommandContext
from application.service import OrderService, Outcome
from application.writer import OutcomeUnknown, WriterUnavailable
from infrastructure.writer_process import WRITER_CALLS
from infrastructure.writer_wire import HEADER, decode, decode_placed, encode, encode_placement


class WriterClient:
    """One connection to the writer process per event loop, opened on first use and again after
    it was lost."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._ids = itertools.count()
        self._stream: asyncio.StreamWriter | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._connecting: asyncio.Task[asyncio.StreamWriter] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Frames of the calls made in this turn of the event loop, written together at its end.
        self._outgoing: list[bytes] = []
        self._outgoing_stream: asyncio.StreamWriter | None = None

    async def call(self, method: str, *args: Any) -> Any:
        stream, pending = await self._connection()
        call_id = next(self._ids)
        answer = asyncio.get_running_loop().create_future()
        pending[call_id] = answer
        if self._outgoing_stream is not stream:
            self._write()  # what was meant for a connection since lost (its reader fails those calls)
            self._outgoing_stream = stream
        if not self._outgoing:
            asyncio.get_running_loop().call_soon(self._write)
        self._outgoing.append(encode((call_id, method, args)))
        return await answer

    def _write(self) -> None:
        frames, stream = self._outgoing, self._outgoing_stream
        self._outgoing = []
        if frames and stream is not None and not stream.is_closing():
            stream.write(b"".join(frames))

    async def _connection(self) -> tuple[asyncio.StreamWriter, dict[int, asyncio.Future[Any]]]:
        loop = asyncio.get_running_loop()
        if self._loop is loop and self._stream is not None and not self._stream.is_closing():
            return self._stream, self._pending
        if self._connecting is None or self._loop is not loop or self._connecting.done():
            self._loop = loop
            self._connecting = loop.create_task(self._connect())
        await asyncio.shield(self._connecting)
        assert self._stream is not None
        return self._stream, self._pending

    async def _connect(self) -> asyncio.StreamWriter:
        try:
            reader, stream = await asyncio.open_unix_connection(self.path)
        except OSError as error:
            raise WriterUnavailable(f"the writer process does not answer at {self.path}") from error
        # Answers for calls on this connection; if it is lost, exactly these are unknown.
        self._stream, self._pending = stream, {}
        asyncio.get_running_loop().create_task(self._read_answers(reader, stream, self._pending))
        return stream

    async def _read_answers(self, reader: asyncio.StreamReader, stream: asyncio.StreamWriter,
                            pending: dict[int, asyncio.Future[Any]]) -> None:
        try:
            while True:
                (size,) = HEADER.unpack(await reader.readexactly(HEADER.size))
                call_id, outcome, error = decode(await reader.readexactly(size))
                answer = pending.pop(call_id, None)
                if answer is None or answer.done():
                    continue
                if error is not None:
                    answer.set_exception(error)
                else:
                    answer.set_result(outcome)
        except (asyncio.IncompleteReadError, OSError):
            pass  # the writer process went away; its next call connects again
        finally:
            stream.close()
            if self._stream is stream:
                self._stream = None
            for answer in pending.values():
                if not answer.done():
                    answer.set_exception(OutcomeUnknown(
                        "the writer process went away while handling this command: it may or may not "
                        "have been recorded; read the resource back before retrying"))
            pending.clear()


class RemoteOrderService:
    """The routes' OrderService when the writer runs in a process of its own."""

    def __init__(self, local: OrderService, client: WriterClient, *, timeout: float = 60.0) -> None:
        self._local = local  # for reads of the event store, which any process may do
        self.client = client
        self.timeout = timeout  # for the commands that hold a worker thread, as OrderService's

    async def place_order_async(self, cmd: commands.PlaceOrder, ctx: CommandContext) -> Outcome:
        """Answered with the order document as the writer process rendered it (sent on as is)."""
        return decode_placed(await self.client.call("place_order", encode_placement(cmd, ctx)))

    def order_as_of(self, order_id: UUID, at: datetime) -> dict[str, Any]:
        return self._local.order_as_of(order_id, at)

    def __getattr__(self, name: str) -> Any:
        """The other commands and ``writer_status``: called from the routes' worker threads,
        carried out on the event loop's connection."""
        if name not in WRITER_CALLS:
            raise AttributeError(name)
        return partial(anyio.from_thread.run, self._call_in_time, name)

    async def _call_in_time(self, name: str, *args: Any) -> Any:
        try:
            return await asyncio.wait_for(self.client.call(name, *args), self.timeout)
        except TimeoutError:
            raise OutcomeUnknown(f"the writer process did not answer within {self.timeout:g} s: the command "
                                 "may or may not have been recorded; read the resource back before retrying") from None
