"""Errors: one base class, one subclass per way a call can fail, each saying whether a retry
can help.

The server answers every 4xx/5xx with a JSON body ``{error, message}`` (and ``kind`` where it
says it). The body is parsed defensively: a ``kind`` the server sends wins; without one, the
kind is derived from the HTTP status, in one place (:func:`kind_for_status`).
"""

from __future__ import annotations

from typing import Any

import httpx

#: The kinds an error can have (the server's vocabulary, see ``Error`` in ``/openapi.json``).
#: ``retryable``: the same call may succeed shortly (busy, too many connections, server down);
#: ``invalid_input``: the request is wrong and will stay wrong; ``reply_terminal``: the reply
#: (or output) it addressed has ended; ``fatal``: the server failed.
KINDS = ("retryable", "invalid_input", "reply_terminal", "fatal")


def kind_for_status(status: int) -> str:
    """The kind of an error answer whose body does not say it."""
    if status in (429, 502, 503, 504):
        return "retryable"
    if status in (408, 409, 410):
        return "reply_terminal"
    if 400 <= status < 500:
        return "invalid_input"
    return "fatal"


class VoxpaceError(Exception):
    """Any failure of a voxpace call. ``kind`` is one of :data:`KINDS`."""

    kind: str = "fatal"

    def __init__(self, message: str, *, kind: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if kind is not None:
            self.kind = kind

    @property
    def retryable(self) -> bool:
        """True when the same call may succeed if tried again shortly."""
        return self.kind == "retryable"


class ServerUnreachable(VoxpaceError):
    """No connection to the server (down, wrong address) or it went away mid-call."""

    kind = "retryable"


class Timeout(VoxpaceError):
    """A bounded wait ran out (connecting, an answer, an event, an outcome)."""

    kind = "retryable"


class ApiError(VoxpaceError):
    """The server refused a request: ``status``, its stable ``code`` and ``message``.

    ``body`` is the whole JSON answer (a refused reply's answer also says where the reply
    stands: ``state``, ``accepted_ms``, ``outcome``).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        kind: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            f"{status} {code}: {message}", kind=kind or kind_for_status(status)
        )
        self.status = status
        self.code = code
        self.server_message = message
        self.body = body or {}


class Unauthorized(ApiError):
    """401: a token is needed, or the one sent is not valid for this endpoint."""


class NotFound(ApiError):
    """404: no such output, reply, clip or route."""


class Conflict(ApiError):
    """409/410: the reply was finished or interrupted, intake is closed, the output ended."""


class Rejected(ApiError):
    """400/413/415/422 and other 4xx: the request (audio, JSON, marks) is not acceptable."""


class Busy(ApiError):
    """429/503: the server is busy or shutting down; retry shortly."""


class ServerError(ApiError):
    """5xx other than 503: the server failed."""


def _class_for(status: int) -> type[ApiError]:
    if status == 401:
        return Unauthorized
    if status == 404:
        return NotFound
    if status in (409, 410):
        return Conflict
    if status in (429, 503):
        return Busy
    if status >= 500:
        return ServerError
    return Rejected


def api_error(status: int, body: bytes) -> ApiError:
    """The typed error for an error answer, whatever its body holds."""
    import json

    data: Any = None
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        pass
    if not isinstance(data, dict):
        text = body[:500].decode("utf-8", "replace").strip()
        return _class_for(status)(status, "http_error", text or f"HTTP {status}")
    code = data.get("error")
    message = data.get("message")
    kind = data.get("kind")
    return _class_for(status)(
        status,
        code if isinstance(code, str) else "http_error",
        message if isinstance(message, str) else f"HTTP {status}",
        kind=kind if isinstance(kind, str) and kind else None,
        body=data,
    )


def transport_error(e: httpx.TransportError, what: str) -> VoxpaceError:
    """A failure below HTTP, as a typed error naming what was being done."""
    if isinstance(e, httpx.TimeoutException):
        return Timeout(f"{what}: timed out ({type(e).__name__})")
    return ServerUnreachable(f"{what}: {type(e).__name__}: {e}")
