"""What the control API answers, as dataclasses (unknown fields are kept in ``raw``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Outcome:
    """How a reply ended: how much of it played, whether it was cut off, what was heard."""

    played_ms: float
    played_samples: int
    interrupted: bool
    heard_text: str | None = None
    marks_played: int | None = None
    text_timing: str | None = None
    pts: int | None = None

    @property
    def played_s(self) -> float:
        return self.played_ms / 1000.0

    @classmethod
    def from_json(cls, o: dict[str, Any]) -> Outcome:
        return cls(
            played_ms=float(o.get("played_ms", 0.0)),
            played_samples=int(o.get("played_samples", 0)),
            interrupted=bool(o.get("interrupted", False)),
            heard_text=o.get("heard_text"),
            marks_played=o.get("marks_played"),
            text_timing=o.get("text_timing"),
            pts=o.get("pts"),
        )


@dataclass(frozen=True)
class ReplyState:
    """A reply as the server sees it: ``open``, ``finished``, ``played`` or ``interrupted``."""

    output: str
    reply: int
    state: str
    accepted_ms: float
    incomplete: bool
    outcome: Outcome | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, o: dict[str, Any]) -> ReplyState:
        out = o.get("outcome")
        return cls(
            output=str(o.get("output", "")),
            reply=int(o.get("reply", 0)),
            state=str(o.get("state", "")),
            accepted_ms=float(o.get("accepted_ms", 0.0)),
            incomplete=bool(o.get("incomplete", False)),
            outcome=Outcome.from_json(out) if isinstance(out, dict) else None,
            raw=o,
        )


@dataclass(frozen=True)
class Background:
    enabled: bool
    playing: bool
    gain_db: float

    @classmethod
    def from_json(cls, o: dict[str, Any]) -> Background:
        return cls(
            enabled=bool(o.get("enabled")),
            playing=bool(o.get("playing")),
            gain_db=float(o.get("gain_db", 0.0)),
        )


@dataclass(frozen=True)
class OutputState:
    """An output: speaking, paused, how much speech is buffered, its counters."""

    id: str
    speaking: bool
    paused: bool
    buffered_ms: float
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, o: dict[str, Any]) -> OutputState:
        return cls(
            id=str(o.get("id", "")),
            speaking=bool(o.get("speaking")),
            paused=bool(o.get("paused")),
            buffered_ms=float(o.get("buffered_ms", 0.0)),
            raw=o,
        )
