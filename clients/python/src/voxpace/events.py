"""The events of an output's server-sent event stream, one dataclass per event type.

Each class names its SSE event type in ``TYPE`` and holds the JSON object's fields; a field
the server does not send stays at its default, a field this client does not know is kept in
``raw``. An event type this client does not know arrives as :class:`UnknownEvent` (nothing is
dropped). ``tests/test_drift.py`` checks these classes against the server's ``/openapi.json``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

Id = Union[int, str]
"""A source or sink id: a number or a configured name."""


@dataclass(frozen=True)
class Event:
    """Fields every event may carry: its SSE ``id`` and the whole JSON object."""

    TYPE: ClassVar[str] = ""
    event_id: str | None = field(default=None, kw_only=True)
    raw: dict[str, Any] = field(default_factory=dict, kw_only=True, repr=False)


@dataclass(frozen=True)
class Timed(Event):
    """An event at a point of the output's media time: ``pts`` in samples, ``t_ms``."""

    pts: int | None = field(default=None, kw_only=True)
    t_ms: float | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class Hello(Event):
    """First on every stream: which output it follows."""

    TYPE: ClassVar[str] = "hello"
    output: str = ""


@dataclass(frozen=True)
class SpeechStarted(Timed):
    """A reply's first sample went out."""

    TYPE: ClassVar[str] = "speech_started"
    reply: int = 0


@dataclass(frozen=True)
class TextPlayed(Timed):
    """A text mark's first sample went out: the listener hears ``text`` now."""

    TYPE: ClassVar[str] = "text_played"
    reply: int = 0
    text: str = ""
    offset: int | None = None
    offset_ms: float | None = None


@dataclass(frozen=True)
class PlaybackFinished(Timed):
    """A reply ended: played to the end, or interrupted after ``played_ms``."""

    TYPE: ClassVar[str] = "playback_finished"
    reply: int = 0
    played_samples: int = 0
    played_ms: float = 0.0
    interrupted: bool = False
    position: str | None = None
    heard_text: str | None = None
    marks_played: int | None = None
    text_timing: str | None = None
    loudness: dict[str, float] | None = None


@dataclass(frozen=True)
class Paused(Timed):
    TYPE: ClassVar[str] = "paused"


@dataclass(frozen=True)
class Resumed(Timed):
    TYPE: ClassVar[str] = "resumed"


@dataclass(frozen=True)
class SpeakingChanged(Timed):
    """Speech started, or stopped for longer than the grace period."""

    TYPE: ClassVar[str] = "speaking_changed"
    speaking: bool = False


@dataclass(frozen=True)
class SinkDetached(Event):
    TYPE: ClassVar[str] = "sink_detached"
    sink: Id | None = None
    name: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class SourceDamaged(Timed):
    """Damage in a background file, skipped or restarted past."""

    TYPE: ClassVar[str] = "source_damaged"
    source: Id | None = None
    file: str | None = None
    reason: str | None = None
    recovery: str | None = None
    attempt: int | None = None


@dataclass(frozen=True)
class SourceFailed(Timed):
    TYPE: ClassVar[str] = "source_failed"
    source: Id | None = None
    file: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class SourceFinished(Event):
    TYPE: ClassVar[str] = "source_finished"
    source: Id | None = None
    file: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class ReplyIncomplete(Event):
    """A reply body stalled or broke mid-stream; the reply ends with what arrived."""

    TYPE: ClassVar[str] = "reply_incomplete"
    reply: int = 0
    reason: str | None = None
    accepted_ms: float | None = None


@dataclass(frozen=True)
class ReplyDamaged(Event):
    """Damage skipped in a compressed reply body."""

    TYPE: ClassVar[str] = "reply_damaged"
    reply: int = 0
    at_ms: float | None = None
    reason: str | None = None


@dataclass(frozen=True)
class PublishState(Event):
    """The WHIP publish's state changed (also sent right after ``hello``)."""

    TYPE: ClassVar[str] = "publish_state"
    url: str | None = None
    state: str | None = None
    attempts: int | None = None
    failures: int | None = None
    publishes: int | None = None
    last_error: str | None = None
    resource: str | None = None
    retry_in_ms: int | None = None
    since_ms: int | None = None


@dataclass(frozen=True)
class Lagged(Event):
    """This subscriber fell behind and ``missed`` events were dropped for it."""

    TYPE: ClassVar[str] = "lagged"
    missed: int = 0


@dataclass(frozen=True)
class OutputEnded(Event):
    """Last on the stream: the output ended (every reply's playback_finished came before)."""

    TYPE: ClassVar[str] = "output_ended"
    output: str = ""


@dataclass(frozen=True)
class UnknownEvent(Event):
    """An event type this client does not know, passed through as it came."""

    type: str = ""
    data: dict[str, Any] = field(default_factory=dict)


EVENT_TYPES: dict[str, type[Event]] = {
    cls.TYPE: cls
    for cls in (
        Hello,
        SpeechStarted,
        TextPlayed,
        PlaybackFinished,
        Paused,
        Resumed,
        SpeakingChanged,
        SinkDetached,
        SourceDamaged,
        SourceFailed,
        SourceFinished,
        ReplyIncomplete,
        ReplyDamaged,
        PublishState,
        Lagged,
        OutputEnded,
    )
}
"""Every known event type by its SSE name."""

_COMMON = {"event_id", "raw"}


def payload_fields(cls: type[Event]) -> set[str]:
    """The JSON fields a class reads (besides ``type``)."""
    return {f.name for f in dataclasses.fields(cls)} - _COMMON


def parse_event(name: str, data: str, event_id: str | None = None) -> Event:
    """One SSE event (its ``event:`` name, ``data:`` JSON and ``id:``) as a typed event."""
    try:
        obj = json.loads(data) if data else {}
    except ValueError:
        obj = {"data": data}
    if not isinstance(obj, dict):
        obj = {"data": obj}
    # httpx-sse names an event without an ``event:`` line "message"; the JSON says its type.
    kind = str(obj.get("type", "")) if name in ("", "message") else name
    cls = EVENT_TYPES.get(kind)
    if cls is None:
        return UnknownEvent(type=kind, data=obj, event_id=event_id, raw=obj)
    known = payload_fields(cls)
    kwargs = {k: v for k, v in obj.items() if k in known}
    return cls(**kwargs, event_id=event_id, raw=obj)
