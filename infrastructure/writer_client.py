"""An API process's side of the writer process (``infrastructure.writer_process``).

``RemoteCommands`` is ``application.service.Commands`` for the routes: every command is carried
out by the writer process, with the same outcomes and the same errors as ``OrderService``
would give in this process. Calls share one socket, many in flight at once, on the event loop;
a lost connection fails the calls it carried (``OutcomeUnknown``) and the next call connects
again.
"""
from __future__ import annotations

import asyncio
import itertools
from application.commands import Command
from application.context import CommandContext
from application.errors import OutcomeUnknown, WriterUnavailable
from application.service import Outcome
from infrastructure.writer_wire import HEADER, decode_answer, encode_request


class WriterClient:
    """One connection to the writer process per event loop, opened on first use and again after
    it was lost."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._ids = itertools.count()
        self._stream: asyncio.StreamWriter | None = None
        self._pending: dict[int, asyncio.Future[Outcome]] = {}
        self._connecting: asyncio.Task[asyncio.StreamWriter] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Frames of the calls made in this turn of the event loop, written together at its end.
        self._outgoing: list[bytes] = []
        self._outgoing_stream: asyncio.StreamWriter | None = None

    async def call(self, cmd: Command, ctx: CommandContext) -> Outcome:
        call_id = next(self._ids)
        frame = encode_request(call_id, cmd, ctx)  # a command that cannot be sent fails here, alone
        stream, pending = await self._connection()
        answer: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        pending[call_id] = answer
        if self._outgoing_stream is not stream:
            self._write()  # what was meant for a connection since lost (its reader fails those calls)
            self._outgoing_stream = stream
        if not self._outgoing:
            asyncio.get_running_loop().call_soon(self._write)
        self._outgoing.append(frame)
        return await answer

    def _write(self) -> None:
        frames, stream = self._outgoing, self._outgoing_stream
        self._outgoing = []
        if frames and stream is not None and not stream.is_closing():
            stream.write(b"".join(frames))

    async def _connection(self) -> tuple[asyncio.StreamWriter, dict[int, asyncio.Future[Outcome]]]:
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
                            pending: dict[int, asyncio.Future[Outcome]]) -> None:
        try:
            while True:
                (size,) = HEADER.unpack(await reader.readexactly(HEADER.size))
                call_id, outcome, error = decode_answer(await reader.readexactly(size))
                answer = pending.pop(call_id, None)
                if answer is None or answer.done():
                    continue
                if error is not None:
                    answer.set_exception(error)
                else:
                    answer.set_result(outcome)  # type: ignore[arg-type]
        except (asyncio.IncompleteReadError, OSError, ValueError):
            pass  # the writer process went away (or spoke nonsense); the next call connects again
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


class RemoteCommands:
    """The routes' ``Commands`` when the writer runs in a process of its own."""

    def __init__(self, client: WriterClient, *, timeout: float = 60.0) -> None:
        self.client = client
        self.timeout = timeout

    async def execute(self, cmd: Command, ctx: CommandContext) -> Outcome:
        try:
            return await asyncio.wait_for(self.client.call(cmd, ctx), self.timeout)
        except TimeoutError:
            raise OutcomeUnknown(f"the writer process did not answer within {self.timeout:g} s: the command "
                                 "may or may not have been recorded; read the resource back before retrying") from None


__all__ = ["RemoteCommands", "WriterClient"]
