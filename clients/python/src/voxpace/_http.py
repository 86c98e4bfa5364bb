"""The one place requests are sent: the token, bounded timeouts, errors mapped to types."""

from __future__ import annotations

from typing import Any

import httpx

from .errors import api_error, transport_error


class Http:
    """An ``httpx.AsyncClient`` for one server, with the token on every request."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        timeout: float,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self.timeout = httpx.Timeout(timeout)
        self.client = client or httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers=headers, timeout=self.timeout
        )
        if client is not None:
            client.headers.update(headers)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request; a 4xx/5xx or a transport failure raises its typed error."""
        try:
            response = await self.client.request(method, path, **kwargs)
        except httpx.TransportError as e:
            raise transport_error(e, f"{method} {path}") from e
        if response.is_error:
            raise api_error(response.status_code, response.content)
        return response

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return (await self.send(method, path, **kwargs)).json()
