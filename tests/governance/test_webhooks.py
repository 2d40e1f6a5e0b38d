"""Webhook signing, the destination guard and delivery, against real servers on 127.0.0.1.

Every test here runs under ``only_loopback``: a connection to any address off this machine fails the test (and is
blocked before it leaves), so the refusals below are proven without traffic to the addresses they are about.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from apps.governance import webhooks
from apps.governance.webhooks import UnsafeDestination

# --------------------------------------------------------------------------------------------------------------
# Fixtures: a connection guard, local HTTP servers, a raw TCP listener


@dataclass
class ConnectGuard:
    attempts: list[tuple[str, int]] = field(default_factory=list)
    blocked: list[tuple[str, int]] = field(default_factory=list)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def only_loopback(monkeypatch: pytest.MonkeyPatch) -> Iterator[ConnectGuard]:
    """Record every outgoing TCP connect; refuse, and fail the test on, any that is not to a loopback address."""
    guard = ConnectGuard()
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            target = (str(address[0]), int(address[1]))
            guard.attempts.append(target)
            if not _is_loopback(target[0]):
                guard.blocked.append(target)
                raise ConnectionRefusedError(f"test guard: no traffic to {target[0]}")

    def connect(sock: socket.socket, address: Any) -> None:
        check(sock, address)
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        check(sock, address)
        return real_connect_ex(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield guard
    assert guard.blocked == [], f"connections were attempted off this machine: {guard.blocked}"


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Responder = Callable[[BaseHTTPRequestHandler], None]


class LocalServer:
    """An HTTP server on 127.0.0.1 that counts TCP connections and records the requests it reads."""

    def __init__(self, respond: Responder, tls: ssl.SSLContext | None = None) -> None:
        self.respond = respond
        self.scheme = "https" if tls else "http"
        self.release = threading.Event()  # wakes a slow responder at teardown
        self.requests: list[Received] = []
        self.connections = 0
        self.finished = 0
        self._lock = threading.Lock()
        owner = self

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self) -> tuple[socket.socket, Any]:
                conn, address = super().get_request()
                with owner._lock:
                    owner.connections += 1
                return conn, address

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                with owner._lock:
                    owner.requests.append(Received(self.command, self.path, dict(self.headers.items()), body))
                owner.respond(self)

            do_GET = do_POST = do_PUT = _record

            def finish(self) -> None:
                try:
                    super().finish()
                finally:
                    with owner._lock:
                        owner.finished += 1

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = Server(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def wait_for_connections(self, count: int, timeout: float = 3.0) -> None:
        """Wait until ``count`` connections were accepted and their handlers are done."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self.connections >= count and self.finished >= count:
                    return
            time.sleep(0.01)
        raise AssertionError(f"expected {count} connection(s), saw {self.connections} ({self.finished} finished)")

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def serve() -> Iterator[Callable[..., LocalServer]]:
    servers: list[LocalServer] = []

    def start(respond: Responder, tls: ssl.SSLContext | None = None) -> LocalServer:
        server = LocalServer(respond, tls)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def answer(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Responder:
    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", "text/plain; charset=utf-8")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return respond


class RawListener:
    """A TCP listener on 127.0.0.1 that accepts connections and counts the bytes clients send (it never answers)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = int(self.sock.getsockname()[1])
        self.connections = 0
        self.bytes_received = 0
        self.done = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
            with conn:
                conn.settimeout(2)
                try:
                    while chunk := conn.recv(4096):
                        with self._lock:
                            self.bytes_received += len(chunk)
                except OSError:
                    pass
            with self._lock:
                self.done += 1

    def wait_for_connections(self, count: int, timeout: float = 3.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self.done >= count:
                    return
            time.sleep(0.01)
        raise AssertionError(f"expected {count} connection(s), saw {self.connections}")

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def raw_listener() -> Iterator[RawListener]:
    listener = RawListener()
    yield listener
    listener.stop()


SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
LOOPBACK = ["127.0.0.0/8"]


def signed(body: bytes, secret: str = SECRET, msg_id: str = "msg_1") -> dict[str, str]:
    return webhooks.build_headers(secret=secret, msg_id=msg_id, timestamp=int(time.time()), body=body)


# --------------------------------------------------------------------------------------------------------------
# Signing


def test_sign_reproduces_the_published_standard_webhooks_vector() -> None:
    msg_id, timestamp, body = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
    # The algorithm, done by hand: HMAC-SHA256 keyed with the base64-decoded secret, over "id.timestamp.body".
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    by_hand = base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest())

    signature = webhooks.sign(secret=SECRET, msg_id=msg_id, timestamp=timestamp, body=body)

    assert signature == "v1," + by_hand.decode()
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="  # as the reference libraries give it
    assert webhooks.sign(secret=SECRET.removeprefix("whsec_"), msg_id=msg_id, timestamp=timestamp, body=body) == (
        signature
    )
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}
    assert webhooks.verify(secret=SECRET, headers=headers, body=body, now=timestamp + 10)


def test_new_secret_is_whsec_and_32_random_bytes() -> None:
    first, second = webhooks.new_secret(), webhooks.new_secret()
    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"), validate=True)) == 32
    assert webhooks.new_message_id().startswith("msg_")


def test_sign_and_verify_round_trip() -> None:
    secret = webhooks.new_secret()
    body = webhooks.payload(event="model.approved", data={"version": 3}, text="Model v3 approved")
    headers = webhooks.build_headers(secret=secret, msg_id="msg_42", timestamp=int(time.time()), body=body)

    assert headers["webhook-id"] == "msg_42"
    assert headers["webhook-signature"].startswith("v1,")
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "Maestro-ML-Webhooks/1"
    assert webhooks.verify(secret=secret, headers=headers, body=body)
    assert webhooks.verify(secret=secret, headers={k.title(): v for k, v in headers.items()}, body=body)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda h, b, s, now: (h, b + b" ", s, now), id="tampered body"),
        pytest.param(lambda h, b, s, now: (h, b, webhooks.new_secret(), now), id="wrong secret"),
        pytest.param(lambda h, b, s, now: (h, b, s, now + 301), id="stale timestamp"),
        pytest.param(lambda h, b, s, now: (h, b, s, now - 301), id="timestamp from the future"),
        pytest.param(lambda h, b, s, now: ({**h, "webhook-id": "msg_other"}, b, s, now), id="other message id"),
        pytest.param(lambda h, b, s, now: ({**h, "webhook-timestamp": "12e3"}, b, s, now), id="bad timestamp"),
        pytest.param(
            lambda h, b, s, now: ({k: v for k, v in h.items() if k != "webhook-signature"}, b, s, now),
            id="no signature",
        ),
        pytest.param(lambda h, b, s, now: ({**h, "webhook-signature": "v1,"}, b, s, now), id="empty signature"),
        pytest.param(
            lambda h, b, s, now: ({**h, "webhook-signature": h["webhook-signature"].replace("v1,", "v2,")}, b, s, now),
            id="other version",
        ),
    ],
)
def test_verify_refuses(change: Callable[..., tuple[dict[str, str], bytes, str, int]]) -> None:
    body, timestamp = b'{"a":1}', 1_700_000_000
    headers = webhooks.build_headers(secret=SECRET, msg_id="msg_1", timestamp=timestamp, body=body)
    assert webhooks.verify(secret=SECRET, headers=headers, body=body, now=timestamp)

    headers, body, secret, now = change(headers, body, SECRET, timestamp)
    assert not webhooks.verify(secret=secret, headers=headers, body=body, now=now)


def test_verify_accepts_one_good_signature_among_several() -> None:
    body, timestamp = b"{}", 1_700_000_000
    good = webhooks.sign(secret=SECRET, msg_id="msg_1", timestamp=timestamp, body=body)
    other = webhooks.sign(secret=webhooks.new_secret(), msg_id="msg_1", timestamp=timestamp, body=body)
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1a,bm9wZQ== v1,not-base64! {other} {good}",
    }
    assert webhooks.verify(secret=SECRET, headers=headers, body=body, now=timestamp)
    headers["webhook-signature"] = other
    assert not webhooks.verify(secret=SECRET, headers=headers, body=body, now=timestamp)


def test_a_secret_that_is_not_base64_is_an_error() -> None:
    with pytest.raises(ValueError, match="base64"):
        webhooks.sign(secret="whsec_not base64!", msg_id="m", timestamp=1, body=b"")


def test_payload_is_deterministic_json_with_a_slack_text() -> None:
    at = datetime(2025, 3, 1, 14, 30, 5, tzinfo=timezone(timedelta(hours=2)))
    data = {"zeta": 1, "alpha": {"b": Decimal("0.93"), "a": datetime(2025, 3, 1, 12, 0, tzinfo=UTC)}}

    body = webhooks.payload(event="model.deployed", data=data, text="Churn v4 deployed ✓", at=at)

    assert body == webhooks.payload(
        event="model.deployed", data=dict(reversed(data.items())), text="Churn v4 deployed ✓", at=at
    )
    assert body.startswith(b'{"data":{"alpha":{"a":"2025-03-01T12:00:00+00:00","b":"0.93"},"zeta":1},')
    document = json.loads(body)
    assert list(document) == ["data", "text", "timestamp", "type"]
    assert document["type"] == "model.deployed"
    assert document["timestamp"] == "2025-03-01T12:30:05Z"
    assert document["text"] == "Churn v4 deployed ✓"
    with pytest.raises(ValueError, match="timezone-aware"):
        webhooks.payload(event="e", data={}, text="t", at=datetime(2025, 1, 1))


# --------------------------------------------------------------------------------------------------------------
# Address policy and URL checks (no network)


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",
        "127.255.0.9",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.127.255.254",
        "0.0.0.0",  # noqa: S104 - an address to refuse, nothing binds to it
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "198.18.0.1",
        "::1",
        "::",
        "fe80::1",
        "fe80::1%eth0",
        "fc00::1",
        "fec0::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::ffff:10.0.0.1",
        "::7f00:1",
        "2002:7f00:1::1",
        "64:ff9b::a00:1",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        "not an address",
        "",
    ],
)
def test_address_policy_refuses_internal_addresses(ip: str) -> None:
    assert not webhooks.address_allowed(ip, [])


@pytest.mark.parametrize("ip", ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"])
def test_address_policy_allows_public_addresses(ip: str) -> None:
    assert webhooks.address_allowed(ip, [])


def test_operator_allowed_networks_let_internal_addresses_through() -> None:
    assert webhooks.address_allowed("127.0.0.1", ["127.0.0.0/8"])
    assert webhooks.address_allowed("::ffff:127.0.0.1", ["127.0.0.0/8"])
    assert webhooks.address_allowed("10.20.30.40", ["192.168.0.0/16", " 10.20.0.0/16"])
    assert webhooks.address_allowed("fd00::5", ["fd00::/8"])
    assert not webhooks.address_allowed("10.21.0.1", ["10.20.0.0/16"])
    assert not webhooks.address_allowed("::1", ["127.0.0.0/8"])
    with pytest.raises(ValueError, match="CIDR"):
        webhooks.address_allowed("10.0.0.1", ["ten-dot-something"])


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/x", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("gopher://example.com/", "only http and https"),
        ("example.com/hook", "only http and https"),
        ("http://example.com/hook", "only https"),
        ("https://user:pass@example.com/hook", "credentials"),
        ("https://token@example.com/hook", "credentials"),
        ("https:///hook", "no host"),
        ("https://example.com:99999/", "not a valid URL"),
        ("https://127.0.0.1/", "not a public address"),
        ("https://10.0.0.1/", "not a public address"),
        ("https://169.254.169.254/latest/meta-data/", "not a public address"),
        ("https://[::1]/", "not a public address"),
        ("https://[::ffff:169.254.169.254]/", "not a public address"),
        ("https://0.0.0.0/", "not a public address"),
        ("https://2130706433/", "not a public address"),
        ("https://0x7f000001/", "not a public address"),
        ("https://127.1/", "not a public address"),
        ("https://0177.0.0.1/", "not a public address"),
    ],
)
def test_check_url_refuses(url: str, reason: str) -> None:
    with pytest.raises(UnsafeDestination, match=reason):
        webhooks.check_url(url, allow_http=False, allowed_networks=[])


def test_check_url_accepts_public_destinations_without_resolving(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dns(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("check_url must not resolve names")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    webhooks.check_url("https://hooks.example.com/services/T0/B0", allow_http=False, allowed_networks=[])
    webhooks.check_url("https://93.184.216.34:8443/hook", allow_http=False, allowed_networks=[])
    webhooks.check_url("http://hooks.example.com/", allow_http=True, allowed_networks=[])
    webhooks.check_url("http://127.0.0.1:8080/", allow_http=True, allowed_networks=LOOPBACK)


# --------------------------------------------------------------------------------------------------------------
# Delivery to local servers


def test_delivers_a_signed_body_when_loopback_is_allowed(serve: Callable[..., LocalServer]) -> None:
    server = serve(answer(200, b"received, thanks"))
    secret = webhooks.new_secret()
    body = webhooks.payload(event="model.approved", data={"model": "churn", "version": 4}, text="churn v4 approved")
    headers = webhooks.build_headers(secret=secret, msg_id="msg_abc", timestamp=int(time.time()), body=body)

    result = webhooks.deliver(url=server.url(), body=body, headers=headers, allow_http=True, allowed_networks=LOOPBACK)

    assert result.ok, result.error
    assert (result.status_code, result.error, result.peer_ip) == (200, "", "127.0.0.1")
    assert result.response_excerpt == "received, thanks"
    assert 0 < result.duration_ms < 5000
    [received] = server.requests
    assert (received.method, received.path, received.body) == ("POST", "/hook", body)
    assert webhooks.verify(secret=secret, headers=received.headers, body=received.body)
    lowered = {name.lower(): value for name, value in received.headers.items()}
    assert lowered["user-agent"] == "Maestro-ML-Webhooks/1"
    assert lowered["content-type"] == "application/json"
    assert lowered["webhook-id"] == "msg_abc"


def test_an_error_answer_is_a_failed_delivery(serve: Callable[..., LocalServer]) -> None:
    server = serve(answer(500, b"boom " * 300))
    body = b"{}"

    result = webhooks.deliver(
        url=server.url(), body=body, headers=signed(body), allow_http=True, allowed_networks=LOOPBACK
    )

    assert not result.ok
    assert result.status_code == 500
    assert "500" in result.error
    assert result.response_excerpt == ("boom " * 300)[:500]
    assert len(server.requests) == 1


def test_redirects_are_not_followed(serve: Callable[..., LocalServer]) -> None:
    target = serve(answer(200, b"should never be asked"))
    server = serve(answer(302, headers={"Location": target.url("/elsewhere")}))
    body = b"{}"

    result = webhooks.deliver(
        url=server.url(), body=body, headers=signed(body), allow_http=True, allowed_networks=LOOPBACK
    )

    assert not result.ok
    assert result.status_code == 302
    assert "redirects are not followed" in result.error
    assert len(server.requests) == 1
    assert target.requests == [] and target.connections == 0


def test_a_slow_server_times_out_quickly(serve: Callable[..., LocalServer]) -> None:
    holder: dict[str, LocalServer] = {}

    def stall(handler: BaseHTTPRequestHandler) -> None:
        holder["server"].release.wait(10)

    server = holder["server"] = serve(stall)
    body = b"{}"
    started = time.monotonic()

    result = webhooks.deliver(
        url=server.url(), body=body, headers=signed(body), timeout=0.5, allow_http=True, allowed_networks=LOOPBACK
    )

    assert time.monotonic() - started < 3
    assert not result.ok
    assert result.status_code is None
    assert "timed out" in result.error
    assert len(server.requests) == 1


def test_the_response_excerpt_is_capped_at_500_characters(serve: Callable[..., LocalServer]) -> None:
    server = serve(answer(200, "é".encode() * 3000))
    body = b"{}"

    result = webhooks.deliver(
        url=server.url(), body=body, headers=signed(body), allow_http=True, allowed_networks=LOOPBACK
    )

    assert result.ok
    assert result.response_excerpt == "é" * 500


def test_an_unknown_charset_does_not_spoil_a_delivery(serve: Callable[..., LocalServer]) -> None:
    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(202)
        handler.send_header("Content-Type", "text/plain; charset=no-such-charset")
        handler.send_header("Content-Length", "2")
        handler.end_headers()
        handler.wfile.write(b"ok")

    server = serve(respond)
    result = webhooks.deliver(
        url=server.url(), body=b"{}", headers=signed(b"{}"), allow_http=True, allowed_networks=LOOPBACK
    )
    assert (result.ok, result.status_code, result.response_excerpt) == (True, 202, "ok")


def test_environment_proxies_are_not_used(serve: Callable[..., LocalServer], monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = serve(answer(200, b"proxied"))
    server = serve(answer(200, b"direct"))
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    body = b"{}"

    result = webhooks.deliver(
        url=server.url(), body=body, headers=signed(body), allow_http=True, allowed_networks=LOOPBACK
    )

    assert result.ok and result.response_excerpt == "direct"
    assert proxy.connections == 0


def test_https_only_refuses_http_urls(serve: Callable[..., LocalServer], only_loopback: ConnectGuard) -> None:
    server = serve(answer(200))
    body = b"{}"

    result = webhooks.deliver(
        url=server.url(), body=body, headers=signed(body), allow_http=False, allowed_networks=LOOPBACK
    )

    assert not result.ok
    assert result.error == "refused: only https URLs are allowed"
    assert server.connections == 0 and only_loopback.attempts == []


def test_a_bad_allowed_network_is_a_failed_result_not_an_exception() -> None:
    result = webhooks.deliver(
        url="https://hooks.example.com/", body=b"{}", headers={}, allow_http=False, allowed_networks=["nope"]
    )
    assert not result.ok and "CIDR" in result.error


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "10.0.0.1",
        "169.254.169.254",
        "[::1]",
        "0.0.0.0",  # noqa: S104 - an address to refuse, nothing binds to it
        "2130706433",
        "localhost",
    ],
)
def test_internal_destinations_are_refused_before_connecting(
    host: str, serve: Callable[..., LocalServer], only_loopback: ConnectGuard
) -> None:
    server = serve(answer(200))
    body = b"{}"

    result = webhooks.deliver(
        url=server.url(host=host), body=body, headers=signed(body), allow_http=True, allowed_networks=[]
    )

    assert not result.ok
    assert result.status_code is None
    assert result.error.startswith("refused: ")
    assert "not a public address" in result.error
    assert only_loopback.attempts == []  # no connection was even tried
    assert server.connections == 0 and server.requests == []


def rebinding_resolver(
    monkeypatch: pytest.MonkeyPatch, name: str, public: str = "93.184.216.34"
) -> list[tuple[str, int]]:
    """Make ``name`` resolve to a public address the first time and to 127.0.0.1 after that, as a rebinding DNS
    server would. Other names resolve as usual. Returns the log of look-ups of ``name``."""
    real = socket.getaddrinfo
    lookups: list[tuple[str, int]] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != name:
            return real(host, port, *args, **kwargs)
        address = public if not lookups else "127.0.0.1"
        lookups.append((address, int(port)))
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port)))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def test_dns_rebinding_is_caught_on_the_connected_peer(
    serve: Callable[..., LocalServer], monkeypatch: pytest.MonkeyPatch, only_loopback: ConnectGuard
) -> None:
    server = serve(answer(200))
    lookups = rebinding_resolver(monkeypatch, "hooks.rebind.test")
    body = b"{}"

    result = webhooks.deliver(
        url=server.url(host="hooks.rebind.test"), body=body, headers=signed(body), allow_http=True, allowed_networks=[]
    )

    assert not result.ok
    assert result.error == "refused: the connection reached 127.0.0.1, which is not a public address"
    # The pre-connect check saw the public address and let it pass; the connection then went to loopback...
    assert [address for address, _ in lookups] == ["93.184.216.34", "127.0.0.1"]
    assert only_loopback.attempts == [("127.0.0.1", server.port)]
    # ...and was closed once its peer was read: the server accepted it, but no request was written on it.
    server.wait_for_connections(1)
    assert server.requests == []


def test_dns_rebinding_over_https_is_refused_before_the_tls_handshake(
    raw_listener: RawListener, monkeypatch: pytest.MonkeyPatch, only_loopback: ConnectGuard
) -> None:
    lookups = rebinding_resolver(monkeypatch, "secure.rebind.test")

    result = webhooks.deliver(
        url=f"https://secure.rebind.test:{raw_listener.port}/hook",
        body=b"{}",
        headers=signed(b"{}"),
        allow_http=False,
        allowed_networks=[],
    )

    assert not result.ok
    assert "the connection reached 127.0.0.1" in result.error
    assert len(lookups) == 2
    assert only_loopback.attempts == [("127.0.0.1", raw_listener.port)]
    raw_listener.wait_for_connections(1)
    assert raw_listener.bytes_received == 0  # not even a TLS ClientHello


def test_the_guarded_adapter_checks_the_peer_on_its_own(serve: Callable[..., LocalServer]) -> None:
    server = serve(answer(200))
    session = requests.Session()
    session.trust_env = False
    session.mount("http://", webhooks.GuardedAdapter(allowed_networks=[]))

    with session, pytest.raises(UnsafeDestination, match="127.0.0.1"):
        session.post(server.url(), data=b"{}", timeout=2)

    server.wait_for_connections(1)
    assert server.requests == []

    session = requests.Session()
    session.trust_env = False
    session.mount("http://", webhooks.GuardedAdapter(allowed_networks=LOOPBACK))
    with session:
        assert session.post(server.url(), data=b"{}", timeout=2).status_code == 200
    assert len(server.requests) == 1


@pytest.fixture(scope="module")
def localhost_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for ``localhost`` and 127.0.0.1, and its key, as PEM files."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "localhost.pem", folder / "localhost.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(serve: Callable[..., LocalServer], localhost_certificate: tuple[Path, Path]) -> tuple[LocalServer, Path]:
    cert_path, key_path = localhost_certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return serve(answer(200, b"secure"), tls=context), cert_path


def test_https_delivery_keeps_certificate_and_host_name_checks(
    tls_server: tuple[LocalServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, ca = tls_server
    secret = webhooks.new_secret()
    body = b'{"type":"ping"}'
    headers = webhooks.build_headers(secret=secret, msg_id="msg_tls", timestamp=int(time.time()), body=body)

    result = webhooks.deliver(
        url=server.url(host="localhost"),
        body=body,
        headers=headers,
        allow_http=False,
        allowed_networks=LOOPBACK + ["::1/128"],
        ca_bundle=str(ca),
    )

    assert result.ok, result.error
    assert result.response_excerpt == "secure"
    [received] = server.requests
    assert webhooks.verify(secret=secret, headers=received.headers, body=received.body)

    # Without the certificate's CA: refused by TLS, not by the guard.
    untrusted = webhooks.deliver(
        url=server.url(host="localhost"), body=body, headers=headers, allow_http=False, allowed_networks=LOOPBACK
    )
    assert not untrusted.ok and untrusted.error.startswith("TLS error")
    assert "certificate verify failed" in untrusted.error

    # A name the certificate does not hold, leading to the same server: the host name check still applies.
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host == "other.test" else host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    mismatched = webhooks.deliver(
        url=server.url(host="other.test"),
        body=body,
        headers=headers,
        allow_http=False,
        allowed_networks=LOOPBACK,
        ca_bundle=str(ca),
    )
    assert not mismatched.ok and mismatched.error.startswith("TLS error")
    assert "other.test" in mismatched.error
    assert len(server.requests) == 1


# --------------------------------------------------------------------------------------------------------------
# Backoff


class FixedRandom:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def test_backoff_bound_doubles_from_base_up_to_the_cap() -> None:
    almost_one = FixedRandom(1 - 1e-12)
    bounds = [round(webhooks.backoff_seconds(n, base=10, cap=3600, rng=almost_one), 6) for n in range(1, 11)]
    assert bounds == [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]
    assert webhooks.backoff_seconds(10_000, rng=almost_one) == pytest.approx(3600)
    assert webhooks.backoff_seconds(3, base=1, cap=60, rng=FixedRandom(0.5)) == 2
    assert webhooks.backoff_seconds(1, rng=FixedRandom(0.0)) == 0


def test_backoff_jitter_stays_within_zero_and_the_bound() -> None:
    rng = random.Random(1234)
    for attempt in range(1, 15):
        bound = min(3600, 10 * 2 ** (attempt - 1))
        waits = [webhooks.backoff_seconds(attempt, rng=rng) for _ in range(200)]
        assert all(0 <= wait <= bound for wait in waits)
        assert max(waits) > bound * 0.8  # full jitter: the whole range is used, not a band near the bound
        assert min(waits) < bound * 0.2
    assert 0 <= webhooks.backoff_seconds(2) <= 20  # the module's own random by default


def test_backoff_counts_attempts_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        webhooks.backoff_seconds(0)
