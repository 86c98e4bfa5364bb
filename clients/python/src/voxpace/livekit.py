"""LiveKit Agents: ``VoxpaceAudioOutput``, an ``AudioOutput`` that speaks through voxpace.

``session.output.audio = VoxpaceAudioOutput(client.output("default"))`` and the session's
speech goes to voxpace instead of the room: each segment (``capture_frame`` ... ``flush``)
is one reply, streamed as it is synthesised (with back-pressure); ``clear_buffer``
interrupts it (voxpace fades out within a frame); ``pause``/``resume`` hold and release it
without dropping a sample (``can_pause`` is true, so the framework's false-interruption
resume keeps every sample); ``on_playback_started`` follows voxpace's ``speech_started``;
``on_playback_finished`` follows its ``playback_finished``, once per segment, with the
played seconds, the interrupted flag and the heard text. Timed transcripts on the frames
(``lk.timed_transcripts``, from aligned TTS) become text marks, so the heard text is exact;
without them ``synchronized_transcript`` is ``None`` and the framework keeps its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field

from livekit import rtc
from livekit.agents.types import USERDATA_TIMED_TRANSCRIPT
from livekit.agents.voice.io import AudioOutput, AudioOutputCapabilities, TimedString

from .client import Output
from .errors import Conflict, VoxpaceError
from .events import Hello, PlaybackFinished, SpeechStarted
from .formats import pcm
from .reply import Reply
from .stream import EventStream

log = logging.getLogger("voxpace.livekit")


@dataclass
class _Segment:
    """One playback segment: one voxpace reply."""

    opening: asyncio.Future[Reply]
    cleared: bool = False
    marked: bool = False
    done: bool = False
    tasks: list[asyncio.Future[object]] = field(default_factory=list)


class VoxpaceAudioOutput(AudioOutput):
    """An ``AudioOutput`` whose audio plays through a voxpace output."""

    def __init__(self, output: Output, *, label: str = "voxpace") -> None:
        super().__init__(
            label=label,
            capabilities=AudioOutputCapabilities(pause=True),
            next_in_chain=None,
            sample_rate=None,  # voxpace takes any rate and converts it
        )
        self._vp_output = output
        self._vp_segment: _Segment | None = None
        self._vp_by_reply: dict[int, _Segment] = {}
        self._vp_events: EventStream | None = None
        self._vp_reader: asyncio.Task[None] | None = None
        self._vp_started: asyncio.Future[None] | None = None
        self._vp_control: asyncio.Future[None] | None = None

    async def start(self) -> None:
        """Subscribe to the output's events (done on the first frame if not called)."""
        if self._vp_started is None:
            self._vp_started = asyncio.get_running_loop().create_future()
            self._vp_events = self._vp_output.events()
            self._vp_reader = asyncio.create_task(self._read_events())
        await asyncio.shield(self._vp_started)

    async def aclose(self) -> None:
        if self._vp_reader is not None:
            self._vp_reader.cancel()
            try:
                await self._vp_reader
            except (asyncio.CancelledError, VoxpaceError):
                pass
        if self._vp_events is not None:
            await self._vp_events.aclose()

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        await self.start()
        seg = self._vp_segment
        if seg is None:
            seg = self._vp_segment = _Segment(asyncio.get_running_loop().create_future())
            await self._open(seg, frame.sample_rate, frame.num_channels)
        if seg.cleared:
            return  # the rest of an interrupted segment is not played
        reply = await seg.opening
        try:
            for text in frame.userdata.get(USERDATA_TIMED_TRANSCRIPT, []):
                await self._mark(seg, reply, text)
            await reply.write(frame.data)
        except Conflict:
            seg.cleared = True  # interrupted while this frame was on its way

    async def _open(self, seg: _Segment, rate: int, channels: int) -> None:
        try:
            reply = await self._vp_output.open_reply(pcm(rate, channels))
        except VoxpaceError as e:
            seg.opening.set_exception(e)
            seg.opening.exception()  # retrieved: the caller gets it raised
            self._finished(seg, None)  # so wait_for_playout() does not wait for it
            raise
        self._vp_by_reply[reply.id] = seg
        seg.opening.set_result(reply)

    async def _mark(self, seg: _Segment, reply: Reply, text: str) -> None:
        at = reply.written_ms or 0.0
        if isinstance(text, TimedString) and isinstance(text.start_time, (int, float)):
            # A mark may not fall behind audio already sent; aligned TTS never asks that.
            at = max(at, float(text.start_time) * 1000.0)
        await reply.mark(str(text), at)
        seg.marked = True

    def flush(self) -> None:
        super().flush()
        seg, self._vp_segment = self._vp_segment, None
        if seg is not None:
            seg.tasks.append(asyncio.ensure_future(self._finish(seg)))

    async def _finish(self, seg: _Segment) -> None:
        try:
            reply = await seg.opening
            await reply.finish()
        except VoxpaceError as e:
            log.warning("voxpace: finishing a segment failed: %s", e)
            self._finished(seg, None)

    def clear_buffer(self) -> None:
        pending = [s for s in self._vp_by_reply.values() if not s.done]
        if self._vp_segment is not None:
            self._vp_segment.cleared = True
            if self._vp_segment not in pending:
                pending.append(self._vp_segment)
        if pending:
            self._then(self._interrupt(pending))

    async def _interrupt(self, pending: list[_Segment]) -> None:
        # A reply still being opened is interrupted once it exists.
        for seg in pending:
            await asyncio.wait([seg.opening])
        await self._vp_output.interrupt()

    def pause(self) -> None:
        super().pause()
        self._then(self._vp_output.pause())

    def resume(self) -> None:
        super().resume()
        self._then(self._vp_output.resume())

    def _then(self, call: Awaitable[None]) -> None:
        """Run control calls one after another, in the order the framework made them."""
        previous = self._vp_control

        async def run() -> None:
            if previous is not None:
                await asyncio.wait([previous])
            try:
                await call
            except VoxpaceError as e:
                log.warning("voxpace: control call failed: %s", e)

        self._vp_control = asyncio.ensure_future(run())

    async def _read_events(self) -> None:
        assert self._vp_events is not None and self._vp_started is not None
        try:
            async for ev in self._vp_events:
                if isinstance(ev, Hello):
                    if not self._vp_started.done():
                        self._vp_started.set_result(None)
                    elif self._vp_events.reconnects:
                        await self._catch_up()
                elif isinstance(ev, SpeechStarted):
                    if ev.reply in self._vp_by_reply:
                        self.on_playback_started(created_at=time.time())
                elif isinstance(ev, PlaybackFinished):
                    seg = self._vp_by_reply.get(ev.reply)
                    if seg is not None:
                        self._finished(seg, ev)
        except VoxpaceError as e:
            if not self._vp_started.done():
                self._vp_started.set_exception(e)
            log.error("voxpace: event stream lost: %s", e)
            # Nothing will report the pending segments: end them so nobody waits forever.
            for seg in list(self._vp_by_reply.values()):
                self._finished(seg, None)

    async def _catch_up(self) -> None:
        """After a reconnect: segments that ended while the stream was down."""
        for reply_id, seg in list(self._vp_by_reply.items()):
            state = await self._vp_output.reply(reply_id)
            if state.outcome is not None:
                o = state.outcome
                self._finished(
                    seg,
                    PlaybackFinished(
                        reply=reply_id,
                        played_ms=o.played_ms,
                        played_samples=o.played_samples,
                        interrupted=o.interrupted,
                        heard_text=o.heard_text,
                    ),
                )

    def _finished(self, seg: _Segment, ev: PlaybackFinished | None) -> None:
        if seg.done:
            return
        seg.done = True
        for reply_id, s in list(self._vp_by_reply.items()):
            if s is seg:
                del self._vp_by_reply[reply_id]
        self.on_playback_finished(
            playback_position=ev.played_ms / 1000.0 if ev else 0.0,
            interrupted=ev.interrupted if ev else True,
            synchronized_transcript=(ev.heard_text or "") if ev and seg.marked else None,
        )


__all__ = ["VoxpaceAudioOutput"]
