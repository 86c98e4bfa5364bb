"""Pipecat: ``VoxpaceOutputProcessor``, a frame processor that a pipeline puts after its TTS.

Why a processor and not an output transport: Pipecat's ``BaseOutputTransport`` paces audio
itself (it writes 10-20 ms chunks to a device on its own clock and releases word frames by
their pts: the local clock that voxpace replaces), and a transport is also the pipeline's
input (microphone, VAD, STT). A processor after the TTS leaves whichever transport the
pipeline uses for input in place, takes the TTS audio out of the pipeline and lets voxpace
pace it, and holds back the text until voxpace says it was heard.

- ``TTSStartedFrame`` ... ``TTSStoppedFrame``: one voxpace reply; each ``TTSAudioRawFrame``
  streams into it (``write`` waits when voxpace is full, so the pipeline is slowed down
  rather than buffered) and is not pushed on.
- ``TTSTextFrame``: sent to voxpace as a text mark where the audio written so far ends, and
  held back, together with every frame behind it, until voxpace reports that mark played
  (``text_played``), or the reply played to its end. The assistant context aggregator after
  this processor therefore records only what the listener heard.
- ``InterruptionFrame``: interrupts voxpace (a click-free fade); text already heard is let
  through first, the rest is dropped, then the interruption goes on.
- ``BotStartedSpeakingFrame``/``BotStoppedSpeakingFrame`` are pushed (both ways) from
  voxpace's ``speaking_changed`` events.
- ``EndFrame`` waits (``drain_timeout``) until the text still playing has been heard and let
  through, so a pipeline that ends right after its last words still records them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from loguru import logger
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    Frame,
    InterruptionFrame,
    StartFrame,
    SystemFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from .client import Output
from .errors import Conflict, VoxpaceError
from .events import PlaybackFinished, SpeakingChanged, TextPlayed
from .formats import pcm
from .reply import Reply
from .stream import EventStream


@dataclass
class _Held:
    """A frame held back; text frames wait for their mark (``reply``, ``index``)."""

    frame: Frame
    reply: int | None = None
    index: int = 0


class VoxpaceOutputProcessor(FrameProcessor):
    """Put after the TTS: ``Pipeline([..., tts, VoxpaceOutputProcessor(output), context.assistant()])``."""

    def __init__(
        self,
        output: Output,
        *,
        outcome_timeout: float = 5.0,
        drain_timeout: float = 30.0,
        name: str | None = None,
    ) -> None:
        """``outcome_timeout`` bounds the wait for what was heard on an interruption;
        ``drain_timeout`` how long an ``EndFrame`` waits for the text still playing."""
        super().__init__(name=name)
        self._vp = output
        self._outcome_timeout = outcome_timeout
        self._drain_timeout = drain_timeout
        self._stream: EventStream | None = None
        self._reader: asyncio.Task[None] | None = None
        self._reply: Reply | None = None
        self._replies: dict[int, Reply] = {}
        self._pending_marks: list[str] = []
        self._marks_sent: dict[int, int] = {}
        self._played: dict[int, int] = {}
        self._done: set[int] = set()
        self._held: deque[_Held] = deque()
        self._broken = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, StartFrame):
            await self.push_frame(frame, direction)
            await self._start()
        elif isinstance(frame, (EndFrame, CancelFrame)):
            if isinstance(frame, EndFrame):
                await self._finish_reply()
                await self._drain()
            await self._stop()
            await self.push_frame(frame, direction)
        elif isinstance(frame, InterruptionFrame):
            await self._interrupt()
            await self.push_frame(frame, direction)
        elif isinstance(frame, SystemFrame) or direction == FrameDirection.UPSTREAM:
            await self.push_frame(frame, direction)
        elif isinstance(frame, TTSStartedFrame):
            await self._finish_reply()
            self._broken = False
            await self._forward(frame)
        elif isinstance(frame, TTSAudioRawFrame):
            await self._write(frame)
        elif isinstance(frame, TTSTextFrame):
            await self._text(frame)
        elif isinstance(frame, TTSStoppedFrame):
            await self._finish_reply()
            await self._forward(frame)
        else:
            await self._forward(frame)

    async def _start(self) -> None:
        self._stream = self._vp.events()
        try:
            await self._stream.connected()
        except VoxpaceError as e:
            # Nothing can be said without the output: this processor is unusable, and the
            # worker's processor_unusable_policy decides (CANCEL ends the pipeline).
            await self.push_error(
                f"voxpace output {self._vp.id!r}: {e}", e, force_treat_as_permanent=True
            )
            return
        self._reader = self.create_task(self._read_events())

    async def _stop(self) -> None:
        if self._reader is not None:
            await self.cancel_task(self._reader)
            self._reader = None
        if self._stream is not None:
            await self._stream.aclose()
            self._stream = None

    async def _write(self, frame: TTSAudioRawFrame) -> None:
        if self._broken:
            return
        try:
            if self._reply is None:
                reply = await self._vp.open_reply(pcm(frame.sample_rate, frame.num_channels))
                self._reply = self._replies[reply.id] = reply
                for text in self._pending_marks:
                    await self._mark(reply, text)
                self._pending_marks.clear()
            await self._reply.write(frame.audio)
        except Conflict as e:
            logger.debug(f"{self}: the reply takes no more audio: {e}")
        except VoxpaceError as e:
            # Said once; the rest of this TTS turn is dropped (the next one tries again).
            self._broken = True
            await self.push_error(f"voxpace output {self._vp.id!r}: {e}", e)

    async def _text(self, frame: TTSTextFrame) -> None:
        if self._reply is None:
            # No audio of this turn reached voxpace yet: it is marked with what comes next.
            self._pending_marks.append(frame.text)
            self._held.append(_Held(frame, reply=-1, index=len(self._pending_marks) - 1))
            return
        index = await self._mark(self._reply, frame.text)
        if index is not None:
            self._held.append(_Held(frame, reply=self._reply.id, index=index))

    async def _mark(self, reply: Reply, text: str) -> int | None:
        """Send a mark; its index among the reply's marks, or None when it was refused (the
        reply ended: that text is never heard)."""
        for held in self._held:
            if held.reply == -1:  # text that came before the reply's first audio
                held.reply = reply.id
        try:
            await reply.mark(text)
        except Conflict:
            return None
        index = self._marks_sent.get(reply.id, 0)
        self._marks_sent[reply.id] = index + 1
        return index

    async def _finish_reply(self) -> None:
        reply, self._reply = self._reply, None
        if reply is not None:
            try:
                await reply.finish()
            except VoxpaceError as e:
                logger.warning(f"{self}: finishing reply {reply.id}: {e}")

    async def _drain(self) -> None:
        """Before the pipeline ends, the text still playing is let through as it is heard
        (text that never got audio is not)."""
        self._pending_marks.clear()
        self._held = deque(h for h in self._held if h.reply != -1)
        try:
            async with asyncio.timeout(self._drain_timeout):
                while self._held and self._reader is not None and not self._reader.done():
                    await asyncio.sleep(0.02)
        except TimeoutError:
            logger.warning(f"{self}: ending with {len(self._held)} frames not yet heard")

    async def _forward(self, frame: Frame) -> None:
        if self._held:
            self._held.append(_Held(frame))
        else:
            await self.push_frame(frame)

    async def _release(self) -> None:
        """Push held frames whose text was heard, and the frames behind them, in order."""
        while self._held:
            head = self._held[0]
            if head.reply is not None:
                heard = head.index < self._played.get(head.reply, 0) or head.reply in self._done
                if not heard:
                    return
            self._held.popleft()
            await self.push_frame(head.frame)

    async def _interrupt(self) -> None:
        reply, self._reply = self._reply, None
        self._pending_marks.clear()
        try:
            await self._vp.interrupt()
        except VoxpaceError as e:
            logger.warning(f"{self}: interrupt: {e}")
        if reply is not None:
            await reply.abort()  # the server refuses the rest of its audio anyway
        # What each reply whose text is held really played: heard text goes on first.
        waiting = {h.reply for h in self._held if h.reply is not None and h.reply >= 0}
        for reply_id in waiting - self._done:
            r = self._replies.get(reply_id)
            if r is None:
                continue
            try:
                outcome = await r.outcome(timeout=self._outcome_timeout, finish=False)
            except VoxpaceError as e:
                logger.warning(f"{self}: outcome of reply {reply_id}: {e}")
                continue
            count = outcome.marks_played or 0
            self._played[reply_id] = max(self._played.get(reply_id, 0), count)
        heard = [
            h
            for h in self._held
            if h.reply is not None and h.reply >= 0 and h.index < self._played.get(h.reply, 0)
        ]
        self._held.clear()
        for h in heard:
            await self.push_frame(h.frame)
        self._done.update(self._replies)
        self._replies.clear()

    def _ended(self, ev: PlaybackFinished) -> None:
        """A reply ended: all its text was heard, or (interrupted) its first marks_played."""
        self._replies.pop(ev.reply, None)
        if not ev.interrupted:
            self._done.add(ev.reply)
            return
        heard = ev.marks_played or 0
        self._played[ev.reply] = heard
        self._held = deque(
            h for h in self._held if not (h.reply == ev.reply and h.index >= heard)
        )

    async def _read_events(self) -> None:
        assert self._stream is not None
        try:
            async for ev in self._stream:
                if isinstance(ev, TextPlayed):
                    self._played[ev.reply] = self._played.get(ev.reply, 0) + 1
                    await self._release()
                elif isinstance(ev, PlaybackFinished):
                    self._ended(ev)
                    await self._release()
                elif isinstance(ev, SpeakingChanged):
                    started = BotStartedSpeakingFrame if ev.speaking else BotStoppedSpeakingFrame
                    await self.push_frame(started())
                    await self.push_frame(started(), FrameDirection.UPSTREAM)
        except VoxpaceError as e:
            logger.error(f"{self}: voxpace event stream lost: {e}")


__all__ = ["VoxpaceOutputProcessor"]
