"""What the output really sent: the ``/audio`` monitor (live WAV), read in the background."""

from __future__ import annotations

import array
import asyncio

import voxpace


class Monitor:
    """Collects the output's mixed samples from the moment ``start()`` returns."""

    def __init__(self, output: voxpace.Output) -> None:
        self._output = output
        self._data = bytearray()
        self._task: asyncio.Task[None] | None = None
        self._header = True

    async def start(self) -> Monitor:
        self._task = asyncio.create_task(self._run())
        # The header arrives once the monitor slot is taken: audio after this is caught.
        async with asyncio.timeout(10):
            while self._header:
                await asyncio.sleep(0.01)
        return self

    async def _run(self) -> None:
        async for chunk in self._output.audio():
            if self._header:
                chunk = chunk[44:]
                self._header = False
            self._data.extend(chunk)

    async def stop(self) -> array.array[int]:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        samples = array.array("h")
        samples.frombytes(bytes(self._data[: len(self._data) // 2 * 2]))
        return samples


def nonzero(samples: array.array[int] | list[int]) -> list[int]:
    """The samples without exact zeros (silence between replies, a pause's gap)."""
    return [s for s in samples if s != 0]
