"""uvicorn's httptools protocol with two guards against slow and oversized clients.

- A header read timeout: a connection has ``header_read_timeout`` seconds from its first byte
  (or from connecting) to finish its request line and headers, else it is closed. uvicorn's
  keep-alive timeout only covers the wait *between* requests; without this a client trickling
  one header byte at a time holds a connection (and a file descriptor) for ever.
- A cap on the bytes of the request line and headers (``h11_max_incomplete_event_size``, the
  same setting uvicorn's h11 protocol uses): beyond it the answer is 431 and the connection
  closes, before httptools buffers a header of any size.

The settings ride on uvicorn's ``Config`` (``header_read_timeout`` is an attribute the serve
command adds), so they reach worker processes with it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from reflective_app.errors import error_body
from reflective_protocol.errors import ErrorCode

DEFAULT_HEADER_READ_TIMEOUT = 10.0
DEFAULT_MAX_HEADER_BYTES = 32 * 1024

log = logging.getLogger("reflective.http")


class _HeadersTooLarge(Exception):
    """Raised from a parser callback to stop parsing a request whose headers are too big."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, config: Any, server_state: Any, app_state: Any, _loop: Any = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._header_timeout = float(
            getattr(config, "header_read_timeout", None) or DEFAULT_HEADER_READ_TIMEOUT
        )
        self._max_header_bytes = int(
            config.h11_max_incomplete_event_size or DEFAULT_MAX_HEADER_BYTES
        )
        self._reading_headers = False
        self._header_bytes = 0
        self._parsed_header_bytes = 0
        self._header_timer: asyncio.TimerHandle | None = None

    # A request's headers start: at connection, and at the first byte of each later request.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_headers()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._reading_headers:
            self._start_headers()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        self._cancel_timer()
        super().on_headers_complete()

    def _count(self, size: int) -> None:
        # Headers that arrived in one piece are measured here, as the parser reports them.
        self._parsed_header_bytes += size
        if self._parsed_header_bytes > self._max_header_bytes:
            raise _HeadersTooLarge

    def connection_lost(self, exc: Exception | None) -> None:
        self._reading_headers = False
        self._cancel_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        try:
            self._feed(data)
        except _HeadersTooLarge:
            self._refuse_large_headers()
            return
        # Headers still incomplete: measured as they arrive, before the parser has buffered
        # one huge header whole.
        if self._reading_headers and not self.transport.is_closing():
            self._header_bytes += len(data)
            if self._header_bytes > self._max_header_bytes:
                self._refuse_large_headers()

    def _feed(self, data: bytes) -> None:
        """uvicorn's data_received, letting a _HeadersTooLarge from a callback through."""
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, _HeadersTooLarge):
                raise exc.__context__ from None
            self._invalid_request()
        except httptools.HttpParserError:
            self._invalid_request()
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()

    def _invalid_request(self) -> None:
        msg = "Invalid HTTP request received."
        self.logger.warning(msg)
        self.send_400_response(msg)

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request it cannot parse, in the API's error shape."""
        body = error_body(msg, ErrorCode.BAD_REQUEST)
        self.transport.write(
            b"HTTP/1.1 400 Bad Request\r\n"
            b"content-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + body
        )
        self.transport.close()

    def _start_headers(self) -> None:
        self._reading_headers = True
        self._header_bytes = 0
        self._parsed_header_bytes = 0
        self._cancel_timer()
        self._header_timer = self.loop.call_later(self._header_timeout, self._headers_too_slow)

    def _cancel_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self._reading_headers and not self.transport.is_closing():
            log.debug("slow_client_dropped")
            self._reading_headers = False
            self.transport.close()

    def _refuse_large_headers(self) -> None:
        self._reading_headers = False
        self._cancel_timer()
        body = error_body("Request header fields too large", ErrorCode.HEADERS_TOO_LARGE)
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + body
        )
        self.transport.close()
