"""Pipecat from PyPI: a real Pipeline whose TTS synthesises with espeak-ng, through the
voxpace processor into the assistant context aggregator."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, AsyncIterator

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    EndFrame,
    ErrorFrame,
    Frame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker, ProcessorUnusablePolicy
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TTSService
from pipecat.workers.runner import WorkerRunner

import voxpace
from voxpace.events import PlaybackFinished, TextPlayed
from voxpace.pipecat import VoxpaceOutputProcessor

SENTENCES = [
    "Hello there.",
    "This is the first thing I say.",
    "Here comes the second sentence.",
    "And this is the third one.",
    "Finally, the fourth sentence ends it.",
]


class EspeakTTS(TTSService):
    """A TTS service that really synthesises, with espeak-ng (no network, no model)."""

    def __init__(self) -> None:
        super().__init__(
            push_start_frame=True,
            push_stop_frames=True,
            settings=TTSSettings(model=None, voice=None, language=None),
        )

    def can_generate_metrics(self) -> bool:
        return False

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame | None, None]:
        proc = await asyncio.create_subprocess_exec(
            "espeak-ng", "--stdout", text, stdout=asyncio.subprocess.PIPE
        )
        wav, _ = await asyncio.wait_for(proc.communicate(), 30)

        async def body() -> AsyncIterator[bytes]:
            yield wav

        async for frame in self._stream_audio_frames_from_iterator(
            body(), strip_wav_header=True, context_id=context_id
        ):
            yield frame


class Seen(FrameProcessor):
    """Passes every frame on and notes the downstream ones' types."""

    def __init__(self) -> None:
        super().__init__()
        self.types: list[type[Frame]] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction == FrameDirection.DOWNSTREAM:
            self.types.append(type(frame))
        await self.push_frame(frame, direction)


def words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z']+", text)


async def speak(
    out: voxpace.Output, interrupt_after: int | None, seen: Seen
) -> tuple[str, PlaybackFinished | None, list[str]]:
    """Run a pipeline saying SENTENCES; optionally interrupt once that many marks played.
    Returns the assistant's text in the context, the last reply's playback_finished and the
    marks played."""
    context = LLMContext()
    pair = LLMContextAggregatorPair(context)
    pipeline = Pipeline([EspeakTTS(), VoxpaceOutputProcessor(out), seen, pair.assistant()])
    task = PipelineWorker(pipeline, params=PipelineParams(audio_out_sample_rate=24000))
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(task)
    played: list[str] = []
    finished: PlaybackFinished | None = None
    async with out.events() as events:
        await events.connected()
        running = asyncio.create_task(runner.run())
        await task.queue_frames(
            [LLMFullResponseStartFrame()]
            + [LLMTextFrame(s + " ") for s in SENTENCES]
            + [LLMFullResponseEndFrame()]
        )
        async for ev in events:
            if isinstance(ev, TextPlayed):
                played.append(ev.text)
                if interrupt_after is not None and len(played) == interrupt_after:
                    await task.queue_frame(InterruptionFrame())
            if isinstance(ev, PlaybackFinished):
                finished = ev
                if ev.interrupted or len(played) >= len(SENTENCES) - 1:
                    break
        await asyncio.sleep(1.0)  # the aggregator writes the context; speech's grace ends
        await task.queue_frame(EndFrame())
        await asyncio.wait_for(running, 20)
    said = " ".join(
        str(m.get("content", ""))
        for m in context.get_messages()
        if isinstance(m, dict) and m.get("role") == "assistant"
    )
    return said, finished, played


async def test_a_pipeline_speaks_through_voxpace(client: voxpace.VoxpaceClient) -> None:
    async with asyncio.timeout(90):
        said, finished, played = await speak(client.output(), None, seen := Seen())
    assert finished is not None and not finished.interrupted
    assert TTSAudioRawFrame not in seen.types, "the audio goes to voxpace, not down the pipeline"
    assert seen.types.count(TTSTextFrame) == len(SENTENCES)
    started = seen.types.index(BotStartedSpeakingFrame)
    assert started < seen.types.index(TTSTextFrame) < seen.types.index(BotStoppedSpeakingFrame)
    assert words(said) == words(" ".join(SENTENCES))


async def test_an_interruption_leaves_only_the_heard_words_in_the_context(
    client: voxpace.VoxpaceClient,
) -> None:
    async with asyncio.timeout(90):
        said, finished, played = await speak(client.output(), 2, Seen())
    assert finished is not None and finished.interrupted
    heard = finished.heard_text or ""
    assert finished.marks_played is not None and 2 <= finished.marks_played < len(SENTENCES)
    assert words(said) == words(heard), "the context holds exactly what voxpace says was heard"
    assert words(heard) == words(" ".join(SENTENCES[: finished.marks_played]))


class Errors(FrameProcessor):
    """Notes the error frames coming upstream."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[ErrorFrame] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, ErrorFrame):
            self.errors.append(frame)
        await self.push_frame(frame, direction)


async def test_a_missing_output_makes_the_processor_unusable_and_ends_the_pipeline(
    client: voxpace.VoxpaceClient,
) -> None:
    errors = Errors()
    pipeline = Pipeline([errors, EspeakTTS(), VoxpaceOutputProcessor(client.output("nope"))])
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(audio_out_sample_rate=24000),
        processor_unusable_policy=ProcessorUnusablePolicy.CANCEL,
    )
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await asyncio.wait_for(runner.run(), 20)  # the policy ends it; nothing hangs
    assert errors.errors and "unknown_output" in errors.errors[0].error
    assert isinstance(errors.errors[0].exception, voxpace.NotFound)


async def test_an_end_frame_waits_for_the_text_still_playing(client: voxpace.VoxpaceClient) -> None:
    """The pipeline is ended right after the LLM's text: the words still playing reach the
    context as they are heard, before the pipeline ends."""
    context = LLMContext()
    pair = LLMContextAggregatorPair(context)
    speak = VoxpaceOutputProcessor(client.output())
    worker = PipelineWorker(
        Pipeline([EspeakTTS(), speak, pair.assistant()]),
        params=PipelineParams(audio_out_sample_rate=24000),
    )
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    running = asyncio.create_task(runner.run())
    await worker.queue_frames(
        [LLMFullResponseStartFrame()]
        + [LLMTextFrame(s + " ") for s in SENTENCES[:3]]
        + [LLMFullResponseEndFrame(), EndFrame()]
    )
    await asyncio.wait_for(running, 60)
    said = " ".join(
        str(m.get("content", ""))
        for m in context.get_messages()
        if isinstance(m, dict) and m.get("role") == "assistant"
    )
    assert words(said) == words(" ".join(SENTENCES[:3]))
