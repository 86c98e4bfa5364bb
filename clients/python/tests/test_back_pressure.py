"""Back-pressure: a 60 s reply streamed as fast as the client can write holds the client's
memory flat (the server takes audio as fast as it plays it; ``write()`` waits)."""

from __future__ import annotations

import array
import asyncio
import math
import resource
import tracemalloc

import voxpace

RATE, CHANNELS = 48000, 2  # 192 kB per second of audio: 11.5 MB in 60 s
SECONDS = 60


def chunk_20ms() -> bytes:
    """20 ms of a 500 Hz tone (a whole number of periods, so chunks join seamlessly)."""
    frames = RATE // 50
    samples = array.array("h")
    for i in range(frames):
        v = int(8000 * math.sin(2 * math.pi * 500 * i / RATE))
        samples.extend([v] * CHANNELS)
    return samples.tobytes()


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


async def test_back_pressure_holds_memory_flat_on_a_60_s_reply(
    client: voxpace.VoxpaceClient,
) -> None:
    out = client.output()
    template = chunk_20ms()
    async with asyncio.timeout(SECONDS * 3):
        reply = await out.open_reply(voxpace.pcm(RATE, CHANNELS))
        await reply.write(bytes(template))  # the upload is open: its buffers exist
        tracemalloc.start()
        try:
            held, rss = [], []
            for i in range(1, SECONDS * 50):
                await reply.write(bytes(template))  # fresh bytes each time, as a TTS gives
                if i % 250 == 0:  # every 5 s of audio
                    held.append(tracemalloc.get_traced_memory()[0])
                    rss.append(rss_bytes())
            await reply.finish()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        outcome = await reply.outcome(timeout=30)
    sent = SECONDS * RATE * CHANNELS * 2
    assert reply.written_bytes == sent
    print(f"sent {sent / 1e6:.1f} MB; Python heap peak {peak / 1e6:.2f} MB, "
          f"held every 5 s {[round(h / 1e6, 2) for h in held]} MB; "
          f"RSS {rss[0] / 1e6:.1f} -> {rss[-1] / 1e6:.1f} MB")
    # The client never holds more than its queue (8 x 32 KiB) plus httpx's buffers.
    assert peak < 2_000_000, f"peak {peak} bytes of Python heap for {sent} bytes sent"
    assert max(held) - min(held) < 500_000, f"heap grew while streaming: {held}"
    assert rss[-1] - rss[0] < 4_000_000, f"RSS grew while streaming: {rss}"
    assert not outcome.interrupted
    assert abs(outcome.played_ms - SECONDS * 1000) < 50
