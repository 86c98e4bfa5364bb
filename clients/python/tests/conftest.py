"""The real server: ``voxpace serve`` (the binary this checkout built) on a free loopback
port, with a config each test writes; stopped by its PID. Never a mock of voxpace.

``VOXPACE_BIN`` names the binary (default: the workspace's ``target/debug/voxpace``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import wave
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import voxpace

ROOT = Path(__file__).resolve().parents[3]
SPEECH = ROOT / "runtime" / "assets" / "speech.wav"
TOKEN = "test-token"


def binary() -> Path:
    path = Path(os.environ.get("VOXPACE_BIN", ROOT / "target" / "debug" / "voxpace"))
    if not path.exists():
        pytest.fail(f"{path}: no voxpace binary; build it with `cargo build -p voxpace-runtime`")
    return path


@dataclass
class Server:
    url: str
    token: str | None
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, token: str | None = "default") -> voxpace.VoxpaceClient:
        return voxpace.VoxpaceClient(self.url, self.token if token == "default" else token)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start_server(tmp: Path, extra: str = "", *, token: str | None = TOKEN) -> Server:
    """Start ``voxpace serve`` with a 24 kHz mono output ``default`` and a 1 s buffer."""
    tokens = f'tokens = ["{token}"]' if token else ""
    config = tmp / "voxpace.toml"
    config.write_text(
        "[output]\nsample_rate = 24000\nchannels = 1\nbuffer_ms = 1000\n"
        f"{extra}\n"
        '[server]\nlisten = "127.0.0.1:0"\noutputs = ["default"]\nshutdown_grace_ms = 500\n'
        f"{tokens}\n"
    )
    log = tmp / "voxpace.log"
    process = subprocess.Popen(
        [str(binary()), "--log", "warn", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=log.open("wb"),
    )
    assert process.stdout is not None
    first: list[bytes] = []
    reader = threading.Thread(target=lambda: first.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(20)
    line = first[0].decode() if first else ""
    if not line.startswith("listening on "):
        process.kill()
        pytest.fail(f"voxpace serve did not start: {line!r}\n{log.read_text()}")
    return Server(line.removeprefix("listening on ").strip(), token, process, log)


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def make(extra: str = "", *, token: str | None = TOKEN) -> Server:
        s = start_server(tmp_path, extra, token=token)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop()


@pytest.fixture
def server(make_server: Callable[..., Server]) -> Server:
    return make_server()


@pytest.fixture
async def client(server: Server) -> AsyncIterator[voxpace.VoxpaceClient]:
    async with server.client() as c:
        yield c


def read_wav(path: Path) -> tuple[bytes, int, int]:
    """(PCM bytes, rate, channels) of a 16-bit WAV file."""
    with wave.open(str(path)) as w:
        return w.readframes(w.getnframes()), w.getframerate(), w.getnchannels()
