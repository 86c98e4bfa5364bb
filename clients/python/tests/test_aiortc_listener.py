"""aiortc (the Python WebRTC stack) listens over WHEP while the silence gate skips frames
(issue 21): silence, a tone, silence, a second tone, every part heard in place.

The gate sends no packet for silent frames (one keep-alive every 400 ms) and jumps the RTP
timestamp of the next packet by the frames it skipped; a peer that mishandles the jump plays
the second tone early, stretched or with a hole. Frames are placed by their pts (RTP time,
48 kHz) into one timeline, so the test sees exactly what a player scheduling by timestamp plays.
"""

from __future__ import annotations

import array
import asyncio
import math
from collections.abc import Callable

import aioice.ice
import av
import httpx
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

import voxpace
from voxpace.events import SpeechStarted

from conftest import TOKEN, Server

RATE = 24000  # the output's rate (conftest), so the posted PCM plays unresampled
HEARD_RATE = 48000  # what aiortc's Opus decoder gives
WINDOW_MS = 10
FRAME_MS = 20
LOUD = 8000  # tone amplitude; the gaps' threshold is far below its RMS


def tone(freq: float, ms: int) -> bytes:
    n = RATE * ms // 1000
    return array.array(
        "h", (round(LOUD * math.sin(2 * math.pi * freq * i / RATE)) for i in range(n))
    ).tobytes()


def envelope(samples: array.array[int], rate: int) -> list[float]:
    """RMS per 10 ms window."""
    step = rate * WINDOW_MS // 1000
    out = []
    for start in range(0, len(samples) - step + 1, step):
        chunk = samples[start : start + step]
        out.append(math.sqrt(sum(s * s for s in chunk) / step))
    return out


def sounds(env: list[float], floor: float) -> list[tuple[int, int]]:
    """(first, last+1) window of each run of windows above ``floor``, runs closer than
    100 ms merged (a tone is one sound even if a window dipped: the dropout check sees that)."""
    runs: list[tuple[int, int]] = []
    for i, v in enumerate(env):
        if v <= floor:
            continue
        if runs and i - runs[-1][1] < 100 // WINDOW_MS:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs


class Listener:
    """One aiortc peer doing WHEP against ``POST /whep/<output>``, recording by pts."""

    def __init__(self, server: Server, output: str) -> None:
        self.server = server
        self.output = output
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.resource: str | None = None
        self.frames: list[tuple[int, array.array[int]]] = []  # (pts at 48 kHz, channel 0)
        self.received = asyncio.Event()
        self.error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self.pc.addTransceiver("audio", direction="recvonly")
        track_ready: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()

        def on_track(track: MediaStreamTrack) -> None:
            if not track_ready.done():
                track_ready.set_result(track)

        self.pc.on("track", on_track)
        # aiortc completes ICE gathering inside setLocalDescription: the offer has every candidate.
        await self.pc.setLocalDescription(await self.pc.createOffer())
        async with httpx.AsyncClient(timeout=10) as http:
            r = await http.post(
                f"{self.server.url}/whep/{self.output}",
                content=self.pc.localDescription.sdp,
                headers={"content-type": "application/sdp", "authorization": f"Bearer {TOKEN}"},
            )
        if r.status_code == 404:
            pytest.fail(
                f"{self.server.url} has no WHEP route: build voxpace with --all-features "
                f"(`cargo build -p voxpace-runtime --all-features`): {r.text}"
            )
        assert r.status_code == 201, f"WHEP offer refused: {r.status_code} {r.text}"
        self.resource = httpx.URL(self.server.url).join(r.headers["location"]).__str__()
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=r.text, type="answer"))
        track = await asyncio.wait_for(track_ready, 10)
        self._task = asyncio.create_task(self._recv(track))

    async def _recv(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await asyncio.wait_for(track.recv(), 5)  # the keep-alive comes every 400 ms
                assert isinstance(frame, av.AudioFrame), f"audio frames expected, got {frame!r}"
                assert frame.sample_rate == HEARD_RATE and frame.format.name == "s16"
                assert frame.pts is not None
                pcm = array.array("h", bytes(frame.planes[0])[: frame.samples * 2 * len(frame.layout.channels)])
                self.frames.append((frame.pts, pcm[:: len(frame.layout.channels)]))
                self.received.set()
        except MediaStreamError:
            pass  # the track ended (our close)
        except BaseException as e:  # noqa: BLE001 - reported by the test, never swallowed
            self.error = e

    def timeline(self) -> array.array[int]:
        """Every received frame at its pts (RTP time, wrapped at 2^32) from the first one;
        what no packet covered stays zero, as a player fills it."""
        first = self.frames[0][0]
        placed = [((pts - first) % 2**32, pcm) for pts, pcm in self.frames]
        end = max(at + len(pcm) for at, pcm in placed)
        out = array.array("h", bytes(2 * end))
        for at, pcm in placed:
            out[at : at + len(pcm)] = pcm
        return out

    async def close(self) -> None:
        if self.resource is not None:
            async with httpx.AsyncClient(timeout=10) as http:
                r = await http.delete(self.resource, headers={"authorization": f"Bearer {TOKEN}"})
            assert r.status_code in (200, 204), f"DELETE {self.resource}: {r.status_code}"
        await self.pc.close()
        if self._task is not None:
            await asyncio.wait_for(self._task, 10)


async def test_aiortc_hears_gated_silence_and_both_tones(
    make_server: Callable[..., Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Host candidates on loopback only (aioice leaves 127.0.0.1 out by default); no STUN.
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])
    server = make_server()
    first, second = tone(1000, 800), tone(600, 600)
    async with server.client() as client, asyncio.timeout(60):
        out = client.output()
        listener = Listener(server, out.id)
        started: dict[int, float] = {}
        try:
            async with out.events() as events:
                await events.connected()
                await listener.connect()
                await asyncio.wait_for(listener.received.wait(), 10)
                await asyncio.sleep(1.5)  # silence: the gate closes after 5 frames
                a = await out.play(first, voxpace.pcm(RATE))
                await asyncio.sleep(0.8 + 1.5)
                b = await out.play(second, voxpace.pcm(RATE))
                async for ev in events:
                    if isinstance(ev, SpeechStarted) and ev.t_ms is not None:
                        started[ev.reply] = ev.t_ms
                        if len(started) == 2:
                            break
                await asyncio.sleep(0.6 + 1.0)  # the second tone and some silence after it
        finally:
            await listener.close()
    assert listener.error is None, f"aiortc's receiver failed: {listener.error!r}"

    timeline = listener.timeline()
    # The gate was at work: far fewer packets came than the timeline's 20 ms frames (without
    # it every frame is sent), so the jumps below are what aiortc heard.
    assert len(listener.frames) < len(timeline) // (HEARD_RATE * FRAME_MS // 1000) // 2
    heard = envelope(timeline, HEARD_RATE)
    posted = [envelope(array.array("h", pcm), RATE) for pcm in (first, second)]
    floor = LOUD / math.sqrt(2) / 10  # a tenth of the tone's RMS: far above codec noise
    found = sounds(heard, floor)
    assert len(found) == 2, f"two sounds expected, heard runs (10 ms windows): {found}"
    frame = FRAME_MS // WINDOW_MS
    for (begin, end), want in zip(found, posted, strict=True):
        assert abs((end - begin) - len(want)) <= frame, (
            f"a {len(want) * WINDOW_MS} ms tone heard as {(end - begin) * WINDOW_MS} ms"
        )
        level = sum(want) / len(want)
        # Inside the tone (the codec's ramps at each end aside) no window far below its RMS.
        inner = heard[begin + frame : end - frame]
        low = [i for i, v in enumerate(inner) if v < level / 2]
        assert not low, f"dropout inside a tone at windows {low} (RMS {[round(inner[i]) for i in low]})"
    # The gaps: silent (below the floor) everywhere outside the two sounds.
    outside = heard[: found[0][0]] + heard[found[0][1] : found[1][0]] + heard[found[1][1] :]
    assert max(outside, default=0) <= floor
    # The second tone where the output's media time puts it (the timestamp jump is right).
    assert a.reply in started and b.reply in started
    media_gap_ms = started[b.reply] - started[a.reply]
    heard_gap_ms = (found[1][0] - found[0][0]) * WINDOW_MS
    assert abs(heard_gap_ms - media_gap_ms) <= 60, (
        f"second tone heard {heard_gap_ms} ms after the first, media time says {media_gap_ms} ms"
    )
