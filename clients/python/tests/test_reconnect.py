"""The event stream survives a dropped connection: it reconnects with ``Last-Event-ID`` and
goes on. The connection is dropped by a loopback TCP relay between client and real server."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from conftest import TOKEN, Server

import voxpace
from voxpace.events import Hello, PlaybackFinished, SpeechStarted


class Relay:
    """Forwards loopback TCP to the server; can cut the connections whose request matches."""

    def __init__(self, url: str) -> None:
        target = urlsplit(url)
        self.host, self.port = target.hostname or "127.0.0.1", target.port or 80
        # Per connection: everything the client sent (requests reuse kept-alive connections).
        self.links: list[tuple[bytearray, asyncio.StreamWriter, asyncio.StreamWriter]] = []
        # While cleared, a request for an event stream waits (an outage of the stream alone).
        self.events_open = asyncio.Event()
        self.events_open.set()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(self.host, self.port)
        sent = bytearray()
        self.links.append((sent, client_w, server_w))

        async def pipe(
            r: asyncio.StreamReader, w: asyncio.StreamWriter, log: bytearray | None = None
        ) -> None:
            try:
                while data := await r.read(65536):
                    if log is not None:
                        log.extend(data)
                        if b"/events " in data:
                            await self.events_open.wait()
                    w.write(data)
                    await w.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                w.close()

        await asyncio.gather(pipe(client_r, server_w, sent), pipe(server_r, client_w))

    def sent(self) -> bytes:
        return b"".join(bytes(sent) for sent, _, _ in self.links).lower()

    def cut(self, marker: bytes) -> int:
        cut = 0
        for sent, a, b in self.links:
            if marker in sent and not a.is_closing():
                a.transport.abort()
                b.transport.abort()
                cut += 1
        return cut

    def close(self) -> None:
        self.server.close()


async def test_the_event_stream_reconnects_with_last_event_id(server: Server) -> None:
    relay = Relay(server.url)
    url = await relay.start()
    try:
        async with asyncio.timeout(30), voxpace.VoxpaceClient(url, TOKEN) as vp:
            out = vp.output()
            async with out.events() as events:
                await events.connected()
                first = await out.open_reply(voxpace.pcm(24000))
                await first.write(bytes(4800))
                await first.finish()
                async for ev in events:
                    if isinstance(ev, PlaybackFinished) and ev.reply == first.id:
                        last_id = ev.event_id
                        break
                assert last_id is not None
                assert relay.cut(b"/events") == 1
                after = await anext(events)
                assert isinstance(after, Hello), "a new subscription starts with hello"
                assert events.reconnects == 1
                assert f"last-event-id: {last_id}".encode() in relay.sent()
                second = await out.open_reply(voxpace.pcm(24000))
                await second.write(bytes(4800))
                await second.finish()
                async for ev in events:
                    if isinstance(ev, SpeechStarted) and ev.reply == second.id:
                        break
    finally:
        relay.close()


async def test_livekit_output_catches_up_on_a_segment_that_ended_while_events_were_down(
    server: Server,
) -> None:
    from test_livekit import frames

    from voxpace.livekit import VoxpaceAudioOutput

    relay = Relay(server.url)
    url = await relay.start()
    try:
        async with asyncio.timeout(30), voxpace.VoxpaceClient(url, TOKEN) as vp:
            audio = VoxpaceAudioOutput(vp.output())
            started = asyncio.Event()
            audio.on("playback_started", lambda _: started.set())
            for f in frames()[:50]:  # 1 s
                await audio.capture_frame(f)
            audio.flush()
            await started.wait()
            relay.events_open.clear()
            assert relay.cut(b"/events") == 1
            await asyncio.sleep(1.5)  # the segment ends while nobody listens
            relay.events_open.set()
            ev = await audio.wait_for_playout()
            await audio.aclose()
    finally:
        relay.close()
    assert not ev.interrupted and abs(ev.playback_position - 1.0) < 0.03
