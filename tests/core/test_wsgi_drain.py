"""A request body the application left unread (a 413 refuses it unread) is read and discarded once the answer is
written, up to REQUEST_DRAIN_MAX_BYTES, so the client can finish sending and read the answer; requests without a
body keep the application's own response (gunicorn's sendfile for static files)."""

from __future__ import annotations

import io

from apps.core.wsgi import DrainUnreadBody


class Body(io.BytesIO):
    """``wsgi.input`` that counts what was read of it."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.read_bytes = 0

    def read(self, size=-1):
        chunk = super().read(size)
        self.read_bytes += len(chunk)
        return chunk


def refuse_unread(environ, start_response):
    start_response("413 Request Entity Too Large", [("Content-Type", "application/json")])
    return [b'{"detail": "too large"}']


def respond(middleware, environ) -> bytes:
    result = middleware(environ, lambda status, headers: None)
    try:
        return b"".join(result)
    finally:
        result.close()


def environ_with(body: bytes, **extra) -> dict:
    return {"REQUEST_METHOD": "POST", "PATH_INFO": "/api/v1/auth/login", "wsgi.input": Body(body), **extra}


def test_an_unread_body_is_read_after_the_answer():
    environ = environ_with(b"x" * 3_000_000, CONTENT_LENGTH="3000000")
    middleware = DrainUnreadBody(refuse_unread, max_bytes=10_000_000, seconds=30)
    assert respond(middleware, environ) == b'{"detail": "too large"}'
    assert environ["wsgi.input"].read_bytes == 3_000_000


def test_draining_stops_at_the_byte_bound():
    environ = environ_with(b"x" * 3_000_000, CONTENT_LENGTH="3000000")
    respond(DrainUnreadBody(refuse_unread, max_bytes=1_000_000, seconds=30), environ)
    assert environ["wsgi.input"].read_bytes == 1_000_000


def test_a_chunked_body_is_drained_too():
    environ = environ_with(b"y" * 500_000, HTTP_TRANSFER_ENCODING="chunked")
    respond(DrainUnreadBody(refuse_unread, max_bytes=10_000_000, seconds=30), environ)
    assert environ["wsgi.input"].read_bytes == 500_000


def test_a_request_without_a_body_gets_the_applications_own_iterable():
    answer = [b"static bytes"]
    middleware = DrainUnreadBody(lambda environ, start_response: answer, max_bytes=10_000_000, seconds=30)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/static/x.css", "wsgi.input": Body(b"")}
    assert middleware(environ, lambda status, headers: None) is answer
