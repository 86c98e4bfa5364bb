"""The client for one voxpace server, and an output's controls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from ._http import Http
from .errors import api_error, transport_error
from .models import Background, OutputState, ReplyState
from .reply import Reply
from .stream import EventStream


class Output:
    """One agent output: replies, interrupt, pause/resume, background, clips, events."""

    def __init__(self, http: Http, id: str) -> None:
        self._http = http
        self.id = id
        self._path = f"/v1/outputs/{id}"

    def __repr__(self) -> str:
        return f"Output({self.id!r})"

    async def state(self) -> OutputState:
        return OutputState.from_json(await self._http.json("GET", self._path))

    async def delete(self) -> None:
        """End the output: replies still streaming are cut, events end with output_ended."""
        await self._http.send("DELETE", self._path)

    async def open_reply(
        self,
        content_type: str,
        *,
        text: str | None = None,
        queue_chunks: int = 8,
        stall_timeout: float = 300.0,
    ) -> Reply:
        """Open the output's next reply; stream its audio with ``write()``.

        ``content_type``: :func:`voxpace.pcm` (rate, channels) or an encoded type
        (``audio/wav``, ``audio/mpeg``, ``audio/ogg``, ...). ``text``: the whole text without
        timings (the heard part is then estimated); for exact heard text use ``mark()``.
        """
        params = {"finish": "false"}
        if text is not None:
            params["text"] = text
        data = await self._http.json("POST", f"{self._path}/replies", params=params)
        state = ReplyState.from_json(data)
        return Reply(
            self._http,
            self.id,
            state.reply,
            content_type,
            queue_chunks=queue_chunks,
            stall_timeout=stall_timeout,
        )

    async def play(
        self, audio: bytes, content_type: str, *, text: str | None = None
    ) -> ReplyState:
        """A whole reply in one request (finished when the body ends)."""
        params = {"text": text} if text is not None else {}
        data = await self._http.json(
            "POST",
            f"{self._path}/replies",
            params=params,
            content=audio,
            headers={"content-type": content_type},
        )
        return ReplyState.from_json(data)

    async def reply(self, reply: int) -> ReplyState:
        return ReplyState.from_json(await self._http.json("GET", f"{self._path}/replies/{reply}"))

    async def interrupt(self) -> int | None:
        """Barge-in: every reply opened so far ends as interrupted (the playing one fades
        out within a frame). Returns the last reply covered."""
        data = await self._http.json("POST", f"{self._path}/interrupt")
        through = data.get("interrupted_through")
        return int(through) if through is not None else None

    async def pause(self) -> None:
        """Hold speech from the next frame on; nothing is dropped."""
        await self._http.send("POST", f"{self._path}/pause")

    async def resume(self) -> None:
        await self._http.send("POST", f"{self._path}/resume")

    async def enable_input(self) -> None:
        """Re-open intake after an interrupt (``output.manual_input``)."""
        await self._http.send("POST", f"{self._path}/enable-input")

    async def clip(self, name: str) -> None:
        """Fire a configured one-shot clip over the background."""
        await self._http.send("POST", f"{self._path}/clips/{name}")

    async def background(self) -> Background:
        return Background.from_json(await self._http.json("GET", f"{self._path}/background"))

    async def set_background(
        self, *, gain_db: float | None = None, enabled: bool | None = None
    ) -> Background:
        body: dict[str, Any] = {}
        if gain_db is not None:
            body["gain_db"] = gain_db
        if enabled is not None:
            body["enabled"] = enabled
        data = await self._http.json("PUT", f"{self._path}/background", json=body)
        return Background.from_json(data)

    def events(self, *, reconnect: bool = True, read_timeout: float = 45.0) -> EventStream:
        """The output's live events (typed); see :class:`voxpace.stream.EventStream`."""
        return EventStream(self._http, self.id, reconnect=reconnect, read_timeout=read_timeout)

    async def audio(self, read_timeout: float = 10.0) -> AsyncIterator[bytes]:
        """The output's mixed audio as it goes out: a 16-bit WAV stream (header first)."""
        path = f"{self._path}/audio"
        timeout = httpx.Timeout(self._http.timeout.connect, read=read_timeout)
        try:
            async with self._http.client.stream("GET", path, timeout=timeout) as response:
                if response.is_error:
                    raise api_error(response.status_code, await response.aread())
                async for chunk in response.aiter_bytes():
                    yield chunk
        except httpx.TransportError as e:
            raise transport_error(e, f"GET {path}") from e


class VoxpaceClient:
    """``async with VoxpaceClient("http://127.0.0.1:7700", token=...) as vp:``.

    ``timeout`` bounds connecting and every answer (streams have their own bounds).
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 10.0,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._http = Http(base_url, token, timeout, http_client)

    async def __aenter__(self) -> VoxpaceClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def info(self) -> dict[str, Any]:
        """Format, outputs, clips, whether WHEP is on."""
        data: dict[str, Any] = await self._http.json("GET", "/v1/info")
        return data

    async def openapi(self) -> dict[str, Any]:
        data: dict[str, Any] = await self._http.json("GET", "/openapi.json")
        return data

    def output(self, id: str = "default") -> Output:
        """A handle on an output (no request is made)."""
        return Output(self._http, id)

    async def outputs(self) -> list[OutputState]:
        data = await self._http.json("GET", "/v1/outputs")
        return [OutputState.from_json(o) for o in data.get("outputs", [])]

    async def create_output(self, id: str) -> Output:
        await self._http.send("POST", "/v1/outputs", json={"id": id})
        return Output(self._http, id)

    async def delete_output(self, id: str) -> None:
        await Output(self._http, id).delete()
