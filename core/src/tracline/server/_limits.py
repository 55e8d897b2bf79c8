"""Limits that hold whatever the client sends: body size, slow headers, slow bodies.

:class:`BodyLimit` refuses a body over the limit whether it is announced (``Content-Length``,
413 before reading), malformed (a ``Content-Length`` that is not a number, 400), or chunked
(counted as it arrives, 413 once past the limit), and a body that stalls (408).
:class:`TimedH11Protocol` closes a connection whose request headers are not complete within
the header timeout, on a new connection and between keep-alive requests (slow-loris).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["BodyLimit", "TimedH11Protocol"]

Scope = dict[str, Any]
Message = dict[str, Any]


async def _answer(send: Any, status: int, message: str) -> None:
    body = json.dumps({"error": {"type": "ValidationError", "field": "body",
                                 "message": message, "hint": None}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """ASGI middleware: request bodies up to ``max_body`` bytes, none idle past ``idle``."""

    def __init__(self, app: Any, max_body: int, idle: float = 30.0) -> None:
        self.app, self.max_body, self.idle = app, max_body, idle

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        lengths = [v for k, v in scope["headers"] if k.lower() == b"content-length"]
        if lengths:
            text = lengths[0].decode("latin-1").strip()
            if len(lengths) > 1 or not text.isdigit():
                await _answer(send, 400, "body: Content-Length is not one whole number")
                return
            if int(text) > self.max_body:
                await _answer(send, 413, f"body: {text} bytes is over the limit of "
                              f"{self.max_body} bytes")
                return
        received = 0
        started = refused = False

        async def refuse(status: int, message: str) -> Message:
            nonlocal refused
            refused = True
            if not started:
                await _answer(send, status, message)
            return {"type": "http.disconnect"}  # what the application sees from now on

        async def limited_receive() -> Message:
            nonlocal received
            if refused:
                return {"type": "http.disconnect"}
            try:
                message: Message = await asyncio.wait_for(receive(), self.idle)
            except TimeoutError:
                return await refuse(408, f"body: nothing arrived for {self.idle:.0f} s")
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    if message.get("more_body", False):
                        await self._drain(receive)
                    return await refuse(413, f"body: over the limit of {self.max_body} bytes")
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the answer was given; the application's own is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except Exception:
            if not refused:  # the application's reaction to the disconnect it was shown
                raise

    async def _drain(self, receive: Any) -> None:
        """Read and drop what the client is still sending (bounded), so that it reads the
        answer instead of a reset connection."""
        dropped = 0
        while dropped < 4 * self.max_body:
            try:
                message = await asyncio.wait_for(receive(), 5.0)
            except TimeoutError:
                return
            if message["type"] != "http.request":
                return
            dropped += len(message.get("body", b""))
            if not message.get("more_body", False):
                return


class TimedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections whose request headers come too slowly."""

    header_timeout = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()

    def handle_events(self) -> None:
        before = self.cycle
        super().handle_events()
        if self.cycle is not None and self.cycle is not before:
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
