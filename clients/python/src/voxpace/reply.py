"""A reply as an async writer: audio streams up in one chunked request with back-pressure.

``write()`` puts a chunk into a small bounded queue that the request body reads from; the
server reads the body only as fast as the output takes audio, so when its buffer is full the
socket fills, the queue fills and ``write()`` waits. The client never holds more than
``queue_chunks`` chunks of at most ``CHUNK`` bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx

from ._http import Http
from .errors import ApiError, Conflict, ServerUnreachable, Timeout, VoxpaceError
from .formats import bytes_per_ms
from .models import Outcome, ReplyState

CHUNK = 32 * 1024
"""The largest piece one queue slot holds (bigger writes are split, without copying)."""


class Reply:
    """One open reply of an output (from :meth:`voxpace.Output.open_reply`).

    Use it as ``async with``: leaving the block finishes the reply (or, on an exception,
    interrupts nothing and simply finishes what was sent).
    """

    def __init__(
        self,
        http: Http,
        output: str,
        reply: int,
        content_type: str,
        *,
        queue_chunks: int = 8,
        stall_timeout: float = 300.0,
    ) -> None:
        self._http = http
        self.output = output
        self.id = reply
        self.content_type = content_type
        self._path = f"/v1/outputs/{output}/replies/{reply}"
        self._queue: asyncio.Queue[memoryview | None] = asyncio.Queue(queue_chunks)
        self._stall = stall_timeout
        self._upload: asyncio.Task[httpx.Response] | None = None
        self._finished: ReplyState | None = None
        self._closing = False
        self._bytes_per_ms = bytes_per_ms(content_type)
        self.written_bytes = 0

    @property
    def written_ms(self) -> float | None:
        """Media time written so far (PCM only; ``None`` for an encoded body)."""
        if self._bytes_per_ms is None:
            return None
        return self.written_bytes / self._bytes_per_ms

    async def __aenter__(self) -> Reply:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if not self._closing:
            await self.finish()

    async def _body(self) -> AsyncIterator[bytes]:
        while True:
            chunk = await self._queue.get()
            if chunk is None:
                return
            yield bytes(chunk)

    def _start_upload(self) -> asyncio.Task[httpx.Response]:
        # Writes wait as long as the server holds the output (a pause is not held to the
        # clock), bounded by stall_timeout; connecting is bounded like every other call.
        timeout = httpx.Timeout(
            self._http.timeout.connect, read=self._stall, write=self._stall, pool=self._stall
        )
        return asyncio.ensure_future(self._upload_body(timeout))

    async def _upload_body(self, timeout: httpx.Timeout) -> httpx.Response:
        try:
            return await self._http.send(
                "POST",
                f"{self._path}/audio",
                params={"finish": "true"},
                headers={"content-type": self.content_type},
                content=self._body(),
                timeout=timeout,
            )
        except ServerUnreachable as broken:
            # A server that refuses the rest of a body (the reply was interrupted) answers
            # and closes at once; the socket reset can swallow that answer. Ask what became
            # of the reply: an ended reply is that refusal, anything else the broken link.
            try:
                state = await self._ended_state()
            except VoxpaceError:
                raise broken from None
            if state is None:
                raise
            code = "reply_interrupted" if state.state == "interrupted" else "reply_finished"
            raise Conflict(
                409,
                code,
                f"reply {self.id} is {state.state}; it takes no more audio",
                body=state.raw,
                        ) from broken

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send audio; waits while the server's buffer is full (back-pressure).

        Raises the server's refusal (e.g. :class:`~voxpace.errors.Conflict`
        ``reply_interrupted`` once the reply was interrupted).
        """
        if self._closing:
            raise VoxpaceError(f"reply {self.id}: write after finish()", kind="invalid_input")
        view = memoryview(data).cast("B")
        if self._upload is None:
            self._upload = self._start_upload()
        for start in range(0, len(view), CHUNK):
            await self._put(view[start : start + CHUNK])
        self.written_bytes += len(view)

    async def _put(self, item: memoryview | None) -> None:
        upload = self._upload
        assert upload is not None
        if upload.done():
            self._raise_ended(upload)
        if not self._queue.full():
            self._queue.put_nowait(item)
            return
        put = asyncio.ensure_future(self._queue.put(item))
        try:
            await asyncio.wait({put, upload}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not put.done():
                put.cancel()
        if not put.done() or put.cancelled():
            self._raise_ended(upload)

    def _raise_ended(self, upload: asyncio.Task[httpx.Response]) -> None:
        e = upload.exception()
        if e is not None:
            raise e
        raise VoxpaceError(f"reply {self.id}: the server ended the upload early")

    async def _ended_state(self) -> ReplyState | None:
        """The reply's state if the server ended it (its outcome may take a frame to come)."""
        async with asyncio.timeout(2 * self._http.timeout.read if self._http.timeout.read else 20):
            while True:
                state = await self.state()
                if state.outcome is not None or state.state == "open":
                    return state if state.outcome is not None else None
                await asyncio.sleep(0.02)

    async def mark(self, text: str, at_ms: float | None = None) -> ReplyState:
        """A piece of the reply's text at a media offset (default: where the audio written
        so far ends). Send it before the audio that carries it."""
        if at_ms is None:
            at_ms = self.written_ms or 0.0
        return await self.marks([{"at_ms": at_ms, "text": text}])

    async def marks(self, marks: list[dict[str, Any]], rate: int | None = None) -> ReplyState:
        """Several marks at once: ``[{"at_ms": 0, "text": "Hello"}, ...]`` (or ``at_samples``
        counted at ``rate``)."""
        body: Any = {"marks": marks, "rate": rate} if rate else marks
        return ReplyState.from_json(await self._http.json("POST", f"{self._path}/marks", json=body))

    async def finish(self) -> ReplyState:
        """No more audio: everything sent plays to the end. Returns once the server has taken
        the whole body (an interrupted reply returns its state rather than raising)."""
        if self._finished is not None:
            return self._finished
        self._closing = True
        try:
            if self._upload is None:
                data = await self._http.json("POST", f"{self._path}/finish")
            else:
                await self._put(None)
                data = (await self._upload).json()
        except Conflict as e:
            if e.code != "reply_interrupted" or "reply" not in e.body:
                raise
            data = e.body
        self._finished = ReplyState.from_json(data)
        return self._finished

    async def state(self) -> ReplyState:
        return ReplyState.from_json(await self._http.json("GET", self._path))

    async def outcome(
        self, timeout: float | None = None, poll: float = 0.02, *, finish: bool = True
    ) -> Outcome:
        """Wait until the reply has played (or was interrupted): how much played, what was
        heard. ``timeout`` bounds the wait (``None``: as long as the reply takes, e.g. while
        the output is paused); each request is bounded by the client's timeout. ``finish``:
        finish the reply first if that was not done (else only wait, e.g. after an interrupt)."""
        if finish and not self._closing:
            await self.finish()
        if self._finished is not None and self._finished.outcome is not None:
            return self._finished.outcome
        try:
            async with asyncio.timeout(timeout):
                while True:
                    state = await self.state()
                    if state.outcome is not None:
                        return state.outcome
                    await asyncio.sleep(poll)
        except TimeoutError as e:
            raise Timeout(f"reply {self.id}: no outcome within {timeout} s") from e

    async def abort(self) -> None:
        """Stop uploading (what was accepted still plays; see ``Output.interrupt``)."""
        self._closing = True
        if self._upload is not None and not self._upload.done():
            self._upload.cancel()
            try:
                await self._upload
            except (asyncio.CancelledError, ApiError, VoxpaceError):
                pass
