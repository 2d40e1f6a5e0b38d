"""WSGI pieces around Django's application (``config.wsgi``).

A request whose body the application did not read (a 413 refuses a body over its limit unread) leaves that body on
the socket. gunicorn drains only 64 KiB of it before closing the connection, and a socket closed with unread data
is reset: the client, still sending, sees a broken connection instead of the answer. :class:`DrainUnreadBody` reads
and discards the rest of such a body once the response is written, up to ``REQUEST_DRAIN_MAX_BYTES`` and
``REQUEST_DRAIN_SECONDS``, so the client finishes sending and reads the 413 (or any other answer).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

logger = logging.getLogger("maestro.request")

CHUNK = 256 * 1024


def has_body(environ: dict[str, Any]) -> bool:
    try:
        declared = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    return declared > 0 or "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()


def drain(stream, *, max_bytes: int, seconds: float) -> int:
    """Read and discard what is left of a request body, at most ``max_bytes`` bytes and ``seconds`` seconds;
    answers how many bytes were read."""
    deadline = time.monotonic() + seconds
    read = 0
    while read < max_bytes and time.monotonic() < deadline:
        chunk = stream.read(min(CHUNK, max_bytes - read))
        if not chunk:
            break
        read += len(chunk)
    return read


class _Drained:
    """The application's response iterable; closing it closes the response, then drains the request body."""

    def __init__(self, result: Iterable[bytes], environ: dict[str, Any], middleware: DrainUnreadBody):
        self.result, self.environ, self.middleware = result, environ, middleware

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.result)

    def close(self) -> None:
        try:
            if hasattr(self.result, "close"):
                self.result.close()
        finally:
            self.middleware.drain(self.environ)


class DrainUnreadBody:
    """WSGI middleware: after a request that came with a body, read what the application left of it (bounded)."""

    def __init__(self, application: Callable, *, max_bytes: int, seconds: float):
        self.application, self.max_bytes, self.seconds = application, max_bytes, seconds

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        result = self.application(environ, start_response)
        if self.max_bytes <= 0 or not has_body(environ):
            return result  # no body (static files keep gunicorn's sendfile)
        return _Drained(result, environ, self)

    def drain(self, environ: dict[str, Any]) -> None:
        try:
            drained = drain(environ["wsgi.input"], max_bytes=self.max_bytes, seconds=self.seconds)
        except OSError:  # the client went away: nothing left to answer
            return
        if drained:
            logger.debug(
                "Discarded %d unread bytes of %s %s", drained, environ.get("REQUEST_METHOD"), environ.get("PATH_INFO")
            )
