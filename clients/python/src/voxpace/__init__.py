"""voxpace: drive a ``voxpace serve`` audio output from Python.

- :mod:`voxpace.client`: :class:`VoxpaceClient` and :class:`Output` (the control API)
- :mod:`voxpace.reply`: :class:`Reply`, a reply as an async writer with back-pressure
- :mod:`voxpace.stream`: :class:`EventStream`, live events over SSE (httpx-sse)
- :mod:`voxpace.events`: one dataclass per event type
- :mod:`voxpace.models`: reply, outcome, output and background states
- :mod:`voxpace.errors`: typed errors carrying the server's kind
- :mod:`voxpace.formats`: reply content types
- :mod:`voxpace.livekit`: ``VoxpaceAudioOutput`` for LiveKit Agents (extra ``livekit``)
- :mod:`voxpace.pipecat`: ``VoxpaceOutputProcessor`` for Pipecat (extra ``pipecat``)
"""

from .client import Output, VoxpaceClient
from .errors import (
    ApiError,
    Busy,
    Conflict,
    NotFound,
    Rejected,
    ServerError,
    ServerUnreachable,
    Timeout,
    Unauthorized,
    VoxpaceError,
)
from .events import Event, UnknownEvent, parse_event
from .formats import pcm
from .models import Outcome, ReplyState
from .reply import Reply
from .stream import EventStream

__all__ = [
    "ApiError",
    "Busy",
    "Conflict",
    "Event",
    "EventStream",
    "NotFound",
    "Outcome",
    "Output",
    "Rejected",
    "Reply",
    "ReplyState",
    "ServerError",
    "ServerUnreachable",
    "Timeout",
    "Unauthorized",
    "UnknownEvent",
    "VoxpaceClient",
    "VoxpaceError",
    "parse_event",
    "pcm",
]
