"""LiveKit Agents from PyPI driving ``VoxpaceAudioOutput`` through the real ``AudioOutput``
contract (no LiveKit server): segments finished, interrupted, paused then resumed, and
``wait_for_playout()`` returning the right ``PlaybackFinishedEvent``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from conftest import SPEECH, read_wav
from livekit import rtc
from livekit.agents.types import USERDATA_TIMED_TRANSCRIPT
from livekit.agents.voice.io import PlaybackFinishedEvent, TimedString

import voxpace
from voxpace.events import TextPlayed
from voxpace.livekit import VoxpaceAudioOutput

WORDS = [(0.0, "Hello!"), (0.85, " I am your voice agent."), (2.355, " You can interrupt me"), (3.23, " at any time.")]


def frames(with_text: bool = False) -> list[rtc.AudioFrame]:
    """speech.wav as 20 ms frames, as a TTS gives them; with its words as timed transcripts
    on the frame where each begins (as an aligned TTS attaches them)."""
    pcm, rate, channels = read_wav(SPEECH)
    step = rate // 50 * 2
    out = []
    words = list(WORDS)
    for i in range(0, len(pcm), step):
        chunk = pcm[i : i + step]
        f = rtc.AudioFrame(chunk, rate, channels, len(chunk) // 2)
        t = i / 2 / rate
        timed = []
        while with_text and words and words[0][0] <= t + 0.02:
            start, text = words.pop(0)
            timed.append(TimedString(text, start_time=start))
        if timed:
            f.userdata[USERDATA_TIMED_TRANSCRIPT] = timed
        out.append(f)
    return out


SPEECH_S = len(read_wav(SPEECH)[0]) / 2 / 24000


async def play(audio: VoxpaceAudioOutput, fs: list[rtc.AudioFrame]) -> None:
    for f in fs:
        await audio.capture_frame(f)
    audio.flush()


async def test_segments_finish_with_their_played_duration(client: voxpace.VoxpaceClient) -> None:
    audio = VoxpaceAudioOutput(client.output())
    started: list[float] = []
    finished: list[PlaybackFinishedEvent] = []
    audio.on("playback_started", lambda ev: started.append(ev.created_at))
    audio.on("playback_finished", finished.append)
    assert audio.can_pause
    try:
        async with asyncio.timeout(40):
            await play(audio, frames())
            first = await audio.wait_for_playout()
            short = frames()[:50]  # 1 s
            await play(audio, short)
            second = await audio.wait_for_playout()
    finally:
        await audio.aclose()
    assert not first.interrupted and abs(first.playback_position - SPEECH_S) < 0.03
    assert first.synchronized_transcript is None  # no timed text: the framework keeps its own
    assert not second.interrupted and abs(second.playback_position - 1.0) < 0.03
    assert finished == [first, second] and len(started) == 2


async def test_clear_buffer_interrupts_with_the_heard_text(client: voxpace.VoxpaceClient) -> None:
    out = client.output()
    audio = VoxpaceAudioOutput(out)
    finished: list[PlaybackFinishedEvent] = []
    audio.on("playback_finished", finished.append)
    played: list[str] = []
    try:
        async with asyncio.timeout(40), out.events() as events:
            await events.connected()
            feeding = asyncio.create_task(play(audio, frames(with_text=True)))
            async for ev in events:
                if isinstance(ev, TextPlayed):
                    played.append(ev.text)
                    if len(played) == 2:
                        break
            audio.clear_buffer()  # the user barged in
            await feeding  # the framework stops feeding and flushes
            result = await audio.wait_for_playout()
    finally:
        await audio.aclose()
    assert result.interrupted
    assert 0.85 <= result.playback_position < SPEECH_S - 0.5
    assert result.synchronized_transcript is not None
    assert result.synchronized_transcript.startswith("".join(played))
    assert len(finished) == 1, "exactly once per segment"


async def test_pause_then_resume_keeps_every_sample(client: voxpace.VoxpaceClient) -> None:
    out = client.output()
    audio = VoxpaceAudioOutput(out)
    try:
        async with asyncio.timeout(40):
            feeding = asyncio.create_task(play(audio, frames(with_text=True)))
            await asyncio.sleep(1.5)
            audio.pause()  # a false interruption: the user only coughed
            await asyncio.sleep(0.8)
            assert (await out.state()).paused
            audio.resume()
            await feeding
            ev = await audio.wait_for_playout()
    finally:
        await audio.aclose()
    assert not ev.interrupted
    assert abs(ev.playback_position - SPEECH_S) < 0.03, "nothing dropped by the pause"
    assert ev.synchronized_transcript == "".join(t for _, t in WORDS)


async def test_a_missing_output_fails_the_capture_and_nothing_waits(
    client: voxpace.VoxpaceClient,
) -> None:
    audio = VoxpaceAudioOutput(client.output("nope"))
    async with asyncio.timeout(15):
        try:
            await audio.capture_frame(frames()[0])
        except voxpace.NotFound:
            pass
        else:
            raise AssertionError("capture_frame into a missing output must raise")
        await audio.aclose()


async def _frames_iter(fs: list[rtc.AudioFrame]) -> AsyncIterator[rtc.AudioFrame]:
    for f in fs:
        yield f


async def test_an_agent_session_speaks_through_voxpace(client: voxpace.VoxpaceClient) -> None:
    """A real AgentSession (no room, no LLM: ``say()`` with audio from an aligned TTS):
    interrupted mid-speech, its chat history keeps exactly what voxpace says was heard."""
    from livekit.agents import Agent, AgentSession

    out = client.output()
    audio = VoxpaceAudioOutput(out)
    session: AgentSession = AgentSession()
    session.output.audio = audio
    text = "".join(t for _, t in WORDS)
    played: list[str] = []
    try:
        async with asyncio.timeout(60), out.events() as events:
            await events.connected()
            await session.start(Agent(instructions="You are a test."))
            whole = session.say(text, audio=_frames_iter(frames(with_text=True)))
            await whole
            cut = session.say(text, audio=_frames_iter(frames(with_text=True)))
            first: int | None = None
            async for ev in events:
                if isinstance(ev, TextPlayed) and first is None:
                    first = ev.reply
                if isinstance(ev, TextPlayed) and ev.reply != first and ev.text == WORDS[1][1]:
                    played = [WORDS[0][1], ev.text]
                    break
            cut.interrupt()
            await cut
    finally:
        await session.aclose()
        await audio.aclose()
    said = [(m.text_content, m.interrupted) for m in session.history.items if m.type == "message"]
    assert len(said) == 2, said
    assert said[0] == (text, False)
    assert said[1][1] is True
    heard = said[1][0] or ""
    assert heard.startswith("".join(played).strip()) and len(heard) < len(text)
