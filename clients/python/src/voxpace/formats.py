"""Content types of reply bodies: raw PCM at any rate and channel count, or encoded audio."""

from __future__ import annotations

WAV = "audio/wav"
MP3 = "audio/mpeg"
OGG = "audio/ogg"
FLAC = "audio/flac"


def pcm(rate: int, channels: int = 1) -> str:
    """16-bit little-endian PCM at ``rate`` Hz with ``channels`` interleaved channels."""
    return f"audio/L16;rate={rate};channels={channels}"


def bytes_per_ms(content_type: str) -> float | None:
    """Bytes per millisecond of a raw PCM content type, ``None`` for anything else."""
    kind, *params = [p.strip() for p in content_type.split(";")]
    if kind.lower() not in ("audio/l16", "audio/pcm"):
        return None
    values = dict(p.split("=", 1) for p in params if "=" in p)
    try:
        rate = int(values.get("rate", "0"))
        channels = int(values.get("channels", "1"))
    except ValueError:
        return None
    return rate * channels * 2 / 1000 if rate > 0 else None
