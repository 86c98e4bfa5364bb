"""Outputs, background, clips and manual input against a real ``voxpace serve``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from conftest import ROOT, Server

import voxpace
from voxpace.events import Hello, OutputEnded, PlaybackFinished

ASSETS = ROOT / "runtime" / "assets"


async def test_outputs_are_created_listed_and_deleted(client: voxpace.VoxpaceClient) -> None:
    async with asyncio.timeout(20):
        second = await client.create_output("second")
        assert {o.id for o in await client.outputs()} == {"default", "second"}
        with pytest.raises(voxpace.Conflict):
            await client.create_output("second")
        with pytest.raises(voxpace.Rejected):
            await client.create_output("not a valid id!")
        async with second.events() as events:
            hello = await events.connected()
            assert isinstance(hello, Hello) and hello.output == "second"
            reply = await second.open_reply(voxpace.pcm(24000))
            await reply.write(bytes(24000))  # 0.5 s, then the output ends under it
            await second.delete()
            seen = [ev async for ev in events]  # the stream ends after output_ended
        assert isinstance(seen[-1], OutputEnded) and seen[-1].output == "second"
        assert any(isinstance(e, PlaybackFinished) and e.reply == reply.id for e in seen)
        assert [o.id for o in await client.outputs()] == ["default"]


async def test_background_clips_and_manual_input(make_server: Callable[..., Server]) -> None:
    server = make_server(
        f'manual_input = true\n[background]\nfile = "{ASSETS / "music.wav"}"\ngain_db = -20\n'
        f'[clips.ding]\nfile = "{ASSETS / "ding.wav"}"\n'
    )
    async with asyncio.timeout(20), server.client() as vp:
        out = vp.output()
        bg = await out.background()
        assert bg.enabled and bg.gain_db == -20
        bg = await out.set_background(gain_db=-6, enabled=False)
        assert (bg.enabled, bg.gain_db) == (False, -6)
        with pytest.raises(voxpace.Rejected) as e:
            await out.set_background(gain_db=40)
        assert e.value.code == "bad_gain"
        await out.clip("ding")
        with pytest.raises(voxpace.NotFound) as missing:
            await out.clip("nope")
        assert missing.value.code == "unknown_clip" and "ding" in missing.value.server_message
        # manual_input: an interrupt closes intake until input is enabled again.
        first = await out.open_reply(voxpace.pcm(24000))
        await first.write(bytes(48000))
        assert await out.interrupt() == first.id
        with pytest.raises(voxpace.Conflict) as closed:
            await out.open_reply(voxpace.pcm(24000))
        assert closed.value.code == "intake_closed"
        await out.enable_input()
        reply = await out.open_reply(voxpace.pcm(24000))
        await reply.write(bytes(4800))
        assert not (await reply.outcome(timeout=10)).interrupted
