"""Replies against a real ``voxpace serve``: whole, interrupted, paused and resumed."""

from __future__ import annotations

import array
import asyncio
import subprocess
from pathlib import Path

import voxpace
from voxpace.events import Paused, PlaybackFinished, Resumed, SpeechStarted, TextPlayed

from conftest import SPEECH, read_wav
from monitor import Monitor, nonzero

# What speech.wav says, at the offset (ms) each piece starts (as a TTS aligner gives it).
MARKS = [(0, "Hello!"), (850, " I am your voice agent."), (2355, " You can interrupt me"), (3230, " at any time.")]


def speech() -> tuple[bytes, int]:
    pcm, rate, channels = read_wav(SPEECH)
    assert (rate, channels) == (24000, 1), "the output's format, so samples compare exactly"
    return pcm, rate


async def write_in_chunks(reply: voxpace.Reply, pcm: bytes, chunk: int = 4800) -> None:
    for i in range(0, len(pcm), chunk):
        await reply.write(pcm[i : i + chunk])


async def test_a_speech_file_arrives_whole(client: voxpace.VoxpaceClient) -> None:
    out = client.output()
    pcm, rate = speech()
    monitor = await Monitor(out).start()
    async with asyncio.timeout(30):
        async with await out.open_reply(voxpace.pcm(rate)) as reply:
            await write_in_chunks(reply, pcm)
        outcome = await reply.outcome()
        await asyncio.sleep(0.3)  # the last frames reach the monitor
    heard = await monitor.stop()
    sent = array.array("h", pcm)
    assert not outcome.interrupted
    assert outcome.played_samples == len(sent)
    assert nonzero(heard) == nonzero(sent), "every sample out, unchanged and in order"


async def test_interrupt_mid_reply_reports_heard_text(client: voxpace.VoxpaceClient) -> None:
    out = client.output()
    pcm, rate = speech()
    played: list[str] = []
    async with asyncio.timeout(30), out.events() as events:
        await events.connected()
        reply = await out.open_reply(voxpace.pcm(rate))
        await reply.marks([{"at_ms": at, "text": text} for at, text in MARKS])
        writer = asyncio.create_task(write_in_chunks(reply, pcm))
        async for ev in events:
            if isinstance(ev, TextPlayed) and ev.reply == reply.id:
                played.append(ev.text)
                if len(played) == 2:
                    break
        await out.interrupt()
        try:
            await writer
        except voxpace.Conflict as e:  # the upload is refused once the reply ended
            assert e.code == "reply_interrupted" and e.kind == "reply_terminal"
        outcome = await reply.outcome(timeout=10)
        finished = None
        async for ev in events:
            if isinstance(ev, TextPlayed) and ev.reply == reply.id:
                played.append(ev.text)
            if isinstance(ev, PlaybackFinished) and ev.reply == reply.id:
                finished = ev
                break
    assert outcome.interrupted
    assert 850 <= outcome.played_ms < len(pcm) / 2 / rate * 1000
    assert outcome.heard_text == "".join(played), "heard text = the marks played"
    assert outcome.marks_played == len(played) and 2 <= len(played) < len(MARKS)
    assert outcome.text_timing == "marks"
    assert finished is not None and finished.interrupted
    assert finished.heard_text == outcome.heard_text


async def test_pause_and_resume_keep_every_sample(client: voxpace.VoxpaceClient) -> None:
    out = client.output()
    pcm, rate = speech()
    monitor = await Monitor(out).start()
    async with asyncio.timeout(30), out.events() as events:
        await events.connected()
        reply = await out.open_reply(voxpace.pcm(rate))
        writer = asyncio.create_task(write_in_chunks(reply, pcm))
        async for ev in events:
            if isinstance(ev, SpeechStarted) and ev.reply == reply.id:
                break
        await asyncio.sleep(1.0)
        await out.pause()
        async for ev in events:
            if isinstance(ev, Paused):
                break
        assert (await out.state()).paused
        await asyncio.sleep(0.6)
        await out.resume()
        async for ev in events:
            if isinstance(ev, Resumed):
                break
        await writer
        await reply.finish()
        outcome = await reply.outcome()
        await asyncio.sleep(0.3)
    heard = await monitor.stop()
    sent = array.array("h", pcm)
    assert not outcome.interrupted
    assert outcome.played_samples == len(sent)
    # The pause put silence between two stretches; the speech itself is all there.
    assert nonzero(heard) == nonzero(sent)
    # ...and the gap is really in the output: at least 0.5 s of exact silence mid-speech.
    first = next(i for i, s in enumerate(heard) if s)
    last = max(i for i, s in enumerate(heard) if s)
    assert (last - first + 1) - len(sent) >= rate // 2


async def test_an_encoded_speech_file_streams_whole(
    client: voxpace.VoxpaceClient, tmp_path: Path
) -> None:
    """Speech made by espeak-ng (22.05 kHz), encoded to MP3 by ffmpeg, streamed in pieces as a
    TTS service sends it: all of it plays."""
    wav, mp3 = tmp_path / "s.wav", tmp_path / "s.mp3"
    text = "The quick brown fox jumps over the lazy dog, and then it sits down."
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, timeout=30)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(wav), "-b:a", "64k", str(mp3)], check=True, timeout=30
    )
    pcm, rate, _ = read_wav(wav)
    seconds = len(pcm) / 2 / rate
    data = mp3.read_bytes()
    async with asyncio.timeout(30):
        async with await client.output().open_reply("audio/mpeg") as reply:
            for i in range(0, len(data), 1000):
                await reply.write(data[i : i + 1000])
        outcome = await reply.outcome()
    assert not outcome.interrupted
    # MP3 frames round the end up (1152 samples); the encoder's delay is trimmed.
    assert seconds * 1000 - 30 <= outcome.played_ms <= seconds * 1000 + 80
