"""Bad input: each a clear typed exception with its kind; nothing hangs (every wait bounded)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import pytest

import voxpace
from conftest import Server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_server_that_is_down() -> None:
    async with asyncio.timeout(15), voxpace.VoxpaceClient(f"http://127.0.0.1:{free_port()}", timeout=2) as vp:
        with pytest.raises(voxpace.ServerUnreachable) as e:
            await vp.outputs()
        assert e.value.retryable
        with pytest.raises(voxpace.ServerUnreachable):
            await vp.output().open_reply(voxpace.pcm(16000))
        events = vp.output().events(reconnect=False)
        with pytest.raises(voxpace.ServerUnreachable):
            await events.connected()


async def test_a_server_that_goes_away_mid_stream(server: Server) -> None:
    async with asyncio.timeout(30), server.client() as vp:
        events = vp.output().events()
        await events.connected()
        server.stop()
        with pytest.raises(voxpace.VoxpaceError) as e:
            async for _ in events:
                pass  # output_ended may come first; then the stream ends
            raise voxpace.ServerUnreachable("the stream ended")
        assert e.value.retryable or isinstance(e.value, voxpace.ServerUnreachable)


async def test_a_wrong_token(server: Server) -> None:
    async with asyncio.timeout(15), server.client(token="wrong") as vp:
        with pytest.raises(voxpace.Unauthorized) as e:
            await vp.outputs()
        assert e.value.status == 401 and e.value.code == "unauthorized"
        assert not e.value.retryable
        with pytest.raises(voxpace.Unauthorized):
            await vp.output().events().connected()
    async with server.client(token=None) as vp:
        with pytest.raises(voxpace.Unauthorized):
            await vp.output().interrupt()


async def test_an_output_that_does_not_exist(client: voxpace.VoxpaceClient) -> None:
    out = client.output("nope")
    async with asyncio.timeout(15):
        for call in (out.state, out.interrupt, out.pause, lambda: out.open_reply(voxpace.pcm(8000))):
            with pytest.raises(voxpace.NotFound) as e:
                await call()
            assert e.value.code == "unknown_output" and e.value.kind == "invalid_input"
        with pytest.raises(voxpace.NotFound):
            await out.events().connected()
        with pytest.raises(voxpace.NotFound) as e:
            await client.output().reply(999)
        assert e.value.code == "unknown_reply"


async def test_replies_the_server_rejects(client: voxpace.VoxpaceClient) -> None:
    out = client.output()
    async with asyncio.timeout(15):
        with pytest.raises(voxpace.Rejected) as e:
            await out.play(b"hello", "text/plain")
        assert e.value.status == 415 and "audio/" in e.value.server_message
        with pytest.raises(voxpace.Rejected) as e:
            await out.play(b"\x01\x02\x03", voxpace.pcm(16000))
        assert e.value.code == "partial_sample" and not e.value.retryable
        with pytest.raises(voxpace.Rejected) as e:
            await out.play(b"RIFF....not a wav at all", "audio/wav")
        assert e.value.status == 400
        reply = await out.open_reply(voxpace.pcm(16000))
        await reply.write(bytes(3200))
        while (await reply.state()).accepted_ms <= 0:
            await asyncio.sleep(0.01)
        with pytest.raises(voxpace.Rejected) as e:
            await reply.mark("late", at_ms=0.0)  # behind audio already accepted
        assert e.value.code == "bad_marks"
        await reply.finish()
        with pytest.raises(voxpace.Conflict) as ended:
            await _finish_again(reply)
        assert ended.value.kind == "reply_terminal"


async def _finish_again(reply: voxpace.Reply) -> None:
    # The server's own refusal of a second finish, not the client's memory of the first.
    await reply._http.send("POST", f"/v1/outputs/{reply.output}/replies/{reply.id}/finish")


async def test_busy_and_shutting_down_are_retryable(make_server: Callable[..., Server]) -> None:
    server = make_server()
    async with asyncio.timeout(30), server.client() as vp:
        out = vp.output()
        reply = await out.open_reply(voxpace.pcm(24000))
        await reply.write(bytes(48000))  # 1 s: the output's buffer
        server.process.send_signal(2)  # SIGINT: graceful shutdown, no new replies
        with pytest.raises(voxpace.VoxpaceError) as e:
            for _ in range(100):
                await out.open_reply(voxpace.pcm(24000))
                await asyncio.sleep(0.02)
        assert e.value.retryable, e.value
