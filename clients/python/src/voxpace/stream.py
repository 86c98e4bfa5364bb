"""An output's live events as an async iterator, read with httpx-sse.

A dropped connection is reopened with ``Last-Event-ID``: the server starts again with
``hello``, then sends the events after that id from its recent history (the last 256 of the
output), preceded by ``lagged`` when some of them are gone; at most
``max_retries`` times in a row. Reading is bounded: the server sends a keep-alive every 15 s,
so ``read_timeout`` (45 s) of silence means the connection is dead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import httpx
from httpx_sse import SSEError, aconnect_sse

from ._http import Http
from .errors import ServerUnreachable, VoxpaceError, api_error, transport_error
from .events import Event, Hello, OutputEnded, parse_event


class EventStream:
    """``async for event in stream``; ends after ``output_ended``. Close with ``aclose()``."""

    def __init__(
        self,
        http: Http,
        output: str,
        *,
        reconnect: bool = True,
        max_retries: int = 5,
        read_timeout: float = 45.0,
    ) -> None:
        self._http = http
        self._path = f"/v1/outputs/{output}/events"
        self._reconnect = reconnect
        self._max_retries = max_retries
        self._read_timeout = read_timeout
        self.last_event_id: str | None = None
        self.reconnects = 0
        self._events = self._run()

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        return await self._events.__anext__()

    async def aclose(self) -> None:
        await self._events.aclose()

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def connected(self, timeout: float = 10.0) -> Hello:
        """Wait for the stream's ``hello``: from then on no event of the output is missed."""
        try:
            async with asyncio.timeout(timeout):
                async for ev in self:
                    if isinstance(ev, Hello):
                        return ev
        except TimeoutError as e:
            raise VoxpaceError(f"{self._path}: no hello within {timeout} s", kind="retryable") from e
        raise ServerUnreachable(f"{self._path}: the stream ended before hello")

    async def _run(self) -> AsyncGenerator[Event, None]:
        failures = 0
        timeout = httpx.Timeout(self._http.timeout.connect, read=self._read_timeout)
        while True:
            headers = {"last-event-id": self.last_event_id} if self.last_event_id else {}
            try:
                async with aconnect_sse(
                    self._http.client, "GET", self._path, headers=headers, timeout=timeout
                ) as source:
                    if source.response.is_error:
                        raise api_error(source.response.status_code, await source.response.aread())
                    async for sse in source.aiter_sse():
                        failures = 0
                        if sse.id:
                            self.last_event_id = sse.id
                        event = parse_event(sse.event, sse.data, sse.id or None)
                        yield event
                        if isinstance(event, OutputEnded):
                            return
                error: VoxpaceError = ServerUnreachable(f"{self._path}: the stream closed")
            except httpx.TransportError as e:
                error = transport_error(e, f"GET {self._path}")
            except SSEError as e:
                error = ServerUnreachable(f"GET {self._path}: not an event stream: {e}")
            except VoxpaceError as e:
                if not e.retryable:
                    raise
                error = e
            if not self._reconnect or failures >= self._max_retries:
                raise error
            failures += 1
            self.reconnects += 1
            await asyncio.sleep(min(0.1 * 2**failures, 2.0))
