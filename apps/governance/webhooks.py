"""Signed webhook delivery with a guard against server-side request forgery.

Signing follows the Standard Webhooks scheme, so a receiver can check a delivery with any of its libraries:

- ``webhook-id``: the message id, the same on every retry of one message (receivers drop duplicates by it);
- ``webhook-timestamp``: when this attempt was signed, in integer Unix seconds;
- ``webhook-signature``: ``v1,<base64 HMAC-SHA256>`` of ``f"{id}.{timestamp}."`` followed by the raw body, keyed
  with the base64-decoded part of a ``whsec_...`` secret. Several space-separated signatures may be sent, e.g. while
  a secret is rotated; one match is enough.

A retry keeps the ``webhook-id`` and gets a fresh timestamp and signature (call :func:`build_headers` again).

The destination guard has three layers, and the last one is what makes it hold:

1. :func:`check_url` (no DNS): only http(s), http only when allowed, no credentials in the URL, a host, and a literal
   IP host (in any form the resolver accepts, such as ``2130706433`` or ``127.1``) must pass the address policy;
2. :func:`deliver` resolves the host and refuses if any address it resolves to fails the policy;
3. every socket the delivery opens is checked, right after ``connect()`` and before a byte is written (for HTTPS,
   before the TLS handshake), on the address it is actually connected to (``getpeername()``). A name that resolved
   to a public address for step 2 and to an internal one when the connection was made (DNS rebinding) is refused
   here. TLS still runs against the URL's host name, so certificate and SNI checks are unchanged.

The address policy, :func:`address_allowed`: an address must be globally routable (``ipaddress``'s ``is_global``)
and not loopback, private, link-local (which covers the 169.254.169.254 metadata service), site-local, multicast,
reserved, unspecified, nor in the shared address space of carrier-grade NAT (100.64.0.0/10). An IPv6 address that
embeds an IPv4 one (IPv4-mapped ``::ffff:a.b.c.d``, 6to4 ``2002::/16``, Teredo, NAT64 ``64:ff9b::/96``) must pass
for the embedded address too. An operator can let internal destinations through by listing networks (CIDR) in
``allowed_networks``; an address inside one of them is allowed whatever the rules above say.

Redirects are never followed (a 3xx answer is a failed delivery), environment proxies and ``.netrc`` are ignored,
and nothing is retried within one call: the caller schedules retries with :func:`backoff_seconds`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import random
import secrets
import socket
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager

__all__ = [
    "USER_AGENT",
    "DeliveryResult",
    "GuardedAdapter",
    "UnsafeDestination",
    "address_allowed",
    "backoff_seconds",
    "build_headers",
    "check_url",
    "deliver",
    "new_message_id",
    "new_secret",
    "payload",
    "resolve_checked",
    "sign",
    "verify",
]

USER_AGENT = "Maestro-ML-Webhooks/1"
SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SIGNATURE_VERSION = "v1"
EXCERPT_CHARS = 500
# Enough bytes for EXCERPT_CHARS characters of UTF-8; the rest of a response body is never read.
_EXCERPT_BYTES = EXCERPT_CHARS * 4

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# ----------------------------------------------------------------------------------------------------------------
# Signing


def new_secret() -> str:
    """A new signing secret: ``whsec_`` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def new_message_id() -> str:
    """A new ``webhook-id``: ``msg_`` and 32 hex digits. Keep it for the retries of the same message."""
    return f"msg_{uuid.uuid4().hex}"


def _key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a webhook secret is 'whsec_' followed by base64") from exc
    if not key:
        raise ValueError("a webhook secret must not be empty")
    return key


def _digest(key: bytes, msg_id: str, timestamp: int | str, body: bytes) -> bytes:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def sign(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value ``v1,<base64>`` for one message.

    The key is the base64-decoded part of ``secret`` after ``whsec_`` (a secret without the prefix is read the same
    way, as the reference libraries do). Raises ``ValueError`` for a secret that is not base64.
    """
    digest = _digest(_key(secret), msg_id, int(timestamp), body)
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def verify(
    *,
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    tolerance: int = 300,
    now: float | None = None,
) -> bool:
    """Whether ``body`` with these headers was signed with ``secret`` less than ``tolerance`` seconds from now.

    Header names are matched without regard to case. ``webhook-signature`` may hold several space-separated
    signatures; entries of other versions than ``v1`` are ignored, and one matching ``v1`` entry is enough. Each is
    compared in constant time. A missing header, a timestamp that is not an integer, or one more than ``tolerance``
    seconds before or after ``now`` (default: the current time) gives False. A ``secret`` that is not base64 is a
    ``ValueError``, as for :func:`sign`.
    """
    lowered = {str(name).lower(): value for name, value in headers.items()}
    msg_id = lowered.get("webhook-id")
    raw_timestamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not msg_id or not raw_timestamp or not signatures:
        return False
    raw_timestamp = raw_timestamp.strip()
    if not raw_timestamp.isascii() or not raw_timestamp.isdigit():
        return False
    timestamp = int(raw_timestamp)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = _digest(_key(secret), msg_id, raw_timestamp, body)
    matched = False
    for entry in signatures.split():
        version, _, encoded = entry.partition(",")
        if version != SIGNATURE_VERSION or not encoded:
            continue
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        # No early exit, so the time taken does not tell which entry matched.
        matched |= hmac.compare_digest(candidate, expected)
    return matched


def build_headers(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers of one delivery attempt: the three Standard Webhooks ones, the content type and the user agent."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": sign(secret=secret, msg_id=msg_id, timestamp=timestamp, body=body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def _json_default(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _iso_utc(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("the payload timestamp must be timezone-aware")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def payload(*, event: str, data: dict[str, Any], text: str, at: datetime | None = None) -> bytes:
    """The JSON body of a webhook: ``type``, ``timestamp`` (ISO 8601, UTC), ``data`` and ``text``.

    ``text`` is a one-line human summary; it makes the body acceptable to a Slack incoming webhook as it is. Keys are
    sorted and separators compact, so the same input always gives the same bytes; ``at`` (default: now) must be
    timezone-aware. Datetimes and dates in ``data`` become ISO strings, ``Decimal`` and ``UUID`` strings.
    """
    document = {
        "type": event,
        "timestamp": _iso_utc(at if at is not None else datetime.now(UTC)),
        "data": data,
        "text": text,
    }
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_json_default
    ).encode("utf-8")


# ----------------------------------------------------------------------------------------------------------------
# Destination policy


class UnsafeDestination(Exception):
    """A webhook URL or the address it leads to is not one deliveries may go to.

    Deliberately not an ``OSError``: urllib3 neither retries nor wraps it, so a refused connection fails at once.
    """


_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")


def _networks(allowed_networks: Iterable[str | Network]) -> list[Network]:
    """Parse CIDR strings (host bits allowed, ``10.1.2.3/8`` means ``10.0.0.0/8``); ValueError for a bad one."""
    parsed: list[Network] = []
    for entry in allowed_networks:
        if isinstance(entry, ipaddress.IPv4Network | ipaddress.IPv6Network):
            parsed.append(entry)
        else:
            try:
                parsed.append(ipaddress.ip_network(str(entry).strip(), strict=False))
            except ValueError as exc:
                raise ValueError(f"not a network in CIDR notation: {entry!r}") from exc
    return parsed


def _parse_address(ip: str | Address) -> Address | None:
    if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return ip
    try:
        # A zone (fe80::1%eth0) says which interface, not which address.
        return ipaddress.ip_address(str(ip).split("%", 1)[0])
    except ValueError:
        return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    embedded: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        embedded.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        embedded.append(address.sixtofour)
    if address.teredo is not None:
        embedded.extend(address.teredo)
    if address in _NAT64_WELL_KNOWN:
        embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return embedded


def _public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if address.ipv4_mapped is not None or address in _NAT64_WELL_KNOWN:
            # The IPv6 form is only a way to reach the IPv4 address; judge that one (64:ff9b::/96 would otherwise
            # count as reserved, which would stop every delivery from an IPv6-only host behind NAT64).
            return all(_public(inner) for inner in embedded)
        if address.is_site_local or not all(_public(inner) for inner in embedded):
            return False
    return (
        address.is_global
        and not address.is_loopback
        and not address.is_private
        and not address.is_link_local
        and not address.is_multicast
        and not address.is_reserved
        and not address.is_unspecified
        and address not in _SHARED_ADDRESS_SPACE
    )


def address_allowed(ip: str | Address, allowed_networks: Iterable[str | Network]) -> bool:
    """Whether deliveries may connect to ``ip``: a public address, or one inside an operator-allowed network.

    An IPv4-mapped IPv6 address also counts as inside a network that holds its IPv4 address. Anything that is not an
    IP address gives False. Raises ``ValueError`` for an entry of ``allowed_networks`` that is not CIDR.
    """
    address = _parse_address(ip)
    if address is None:
        return False
    forms: list[Address] = [address]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        forms.append(address.ipv4_mapped)
    networks = _networks(allowed_networks)
    # Comparing an address with a network of the other IP version is simply False.
    if any(form in network for form in forms for network in networks):
        return True
    return _public(address)


def _literal_address(host: str) -> Address | None:
    """The IP address ``host`` spells, in any notation the system resolver would read as one, without DNS."""
    address = _parse_address(host)
    if address is not None:
        return address
    try:
        # inet_aton reads the old short, octal, hex and decimal forms (127.1, 0x7f000001, 2130706433), which
        # getaddrinfo accepts too. No public host name is all digits, so nothing legitimate is caught by this.
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def check_url(url: str, *, allow_http: bool, allowed_networks: Iterable[str | Network]) -> None:
    """Raise :class:`UnsafeDestination` unless ``url`` is one deliveries may be sent to. Does no DNS look-up.

    Refused: a scheme other than http(s), http unless ``allow_http``, a user name or password in the URL, no host,
    a bad port, and a host that is an IP address the policy refuses. Host names are checked when they are resolved
    and connected to, by :func:`deliver`.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeDestination(f"not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeDestination(f"only http and https URLs are allowed, not {scheme or 'no scheme'!r}")
    if scheme == "http" and not allow_http:
        raise UnsafeDestination("only https URLs are allowed")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeDestination("URLs with credentials are not allowed")
    host = parts.hostname
    if not host:
        raise UnsafeDestination("the URL has no host")
    if port == 0:
        raise UnsafeDestination("port 0 is not a destination")
    literal = _literal_address(host)
    if literal is not None and not address_allowed(literal, allowed_networks):
        raise UnsafeDestination(f"{literal} is not a public address")


def resolve_checked(host: str, port: int, *, allowed_networks: Iterable[str | Network]) -> list[str]:
    """Resolve ``host`` and return its addresses; raise :class:`UnsafeDestination` if any fails the policy.

    ``socket.gaierror`` (an ``OSError``) comes through for a name that does not resolve.
    """
    networks = _networks(allowed_networks)
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise UnsafeDestination(f"{host} resolves to no address")
    for address in addresses:
        if not address_allowed(address, networks):
            raise UnsafeDestination(f"{host} resolves to {address}, which is not a public address")
    return addresses


# ----------------------------------------------------------------------------------------------------------------
# The guarded transport


def _check_peer(sock: socket.socket, networks: list[Network]) -> str:
    """The address ``sock`` is connected to, if the policy allows it; else close ``sock`` and refuse."""
    try:
        peer = str(sock.getpeername()[0])
    except OSError as exc:
        sock.close()
        raise UnsafeDestination("could not read the address of the connected peer") from exc
    if not address_allowed(peer, networks):
        sock.close()
        raise UnsafeDestination(f"the connection reached {peer}, which is not a public address")
    return peer


def _guarded_pool_classes(networks: list[Network]) -> dict[str, type[HTTPConnectionPool]]:
    """Pool classes whose connections check their peer: built per adapter, so nothing changes process-wide."""

    class GuardedHTTPConnection(HTTPConnection):
        peer_ip: str | None = None

        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            self.peer_ip = _check_peer(sock, networks)
            return sock

    class GuardedHTTPSConnection(HTTPSConnection):
        peer_ip: str | None = None

        def _new_conn(self) -> socket.socket:
            # connect() wraps this plain TCP socket in TLS only after it is returned: the check comes first.
            sock = super()._new_conn()
            self.peer_ip = _check_peer(sock, networks)
            return sock

    class GuardedHTTPConnectionPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTPConnection

    class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection

    return {"http": GuardedHTTPConnectionPool, "https": GuardedHTTPSConnectionPool}


class GuardedAdapter(HTTPAdapter):
    """A ``requests`` transport adapter whose every connection must reach an address :func:`address_allowed` allows.

    Mount it for ``http://`` and ``https://`` on a session with ``trust_env = False``; proxies are refused, since
    the peer would then be the proxy. A refused connection raises :class:`UnsafeDestination` from the request.
    """

    def __init__(self, *, allowed_networks: Iterable[str | Network] = (), **kwargs: Any) -> None:
        # Set before HTTPAdapter.__init__, which builds the pool manager.
        self._allowed = _networks(allowed_networks)
        super().__init__(**kwargs)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block=block, **pool_kwargs)
        # Instance attribute: only the pools this manager makes get the guarded connection classes.
        self.poolmanager.pool_classes_by_scheme = _guarded_pool_classes(self._allowed)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        raise UnsafeDestination("webhook deliveries do not go through proxies")


def _guarded_session(networks: list[Network]) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxies, .netrc credentials or CA bundles from the environment
    session.headers.clear()  # only the headers the caller gives (requests still adds Host and Content-Length)
    adapter = GuardedAdapter(allowed_networks=networks, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


# ----------------------------------------------------------------------------------------------------------------
# Delivery


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What one delivery attempt came to. ``ok`` is a 2xx answer; ``error`` is empty then, a short reason else."""

    status_code: int | None
    ok: bool
    error: str
    duration_ms: float
    peer_ip: str | None
    response_excerpt: str


def _short(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost cause of a requests/urllib3 error, whose message is the one worth keeping."""
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = getattr(exc, "reason", None)  # urllib3's MaxRetryError
        if not isinstance(inner, BaseException):
            inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc.__cause__
        if inner is None:
            break
        exc = inner
    return exc


def _describe(exc: Exception) -> str:
    if isinstance(exc, UnsafeDestination):
        return f"refused: {_short(exc)}"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, requests.exceptions.Timeout | TimeoutError):
        return "timed out waiting for the response"
    if isinstance(exc, socket.gaierror):
        return f"could not resolve the host: {_short(exc)}"
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS error: {_short(_root_cause(exc))}"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return f"connection failed: {_short(_root_cause(exc))}"
    return f"{type(exc).__name__}: {_short(exc)}"


def _peer_of(response: requests.Response) -> str | None:
    """The checked peer address of the connection the response came on (read before the response is closed)."""
    peer = getattr(getattr(response.raw, "connection", None), "peer_ip", None)
    return peer if isinstance(peer, str) else None


def _excerpt(response: requests.Response, deadline: float) -> str:
    """The start of the body, at most EXCERPT_CHARS characters; reading stops at the deadline."""
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(chunk_size=512):
            chunks.append(chunk)
            size += len(chunk)
            if size >= _EXCERPT_BYTES or time.monotonic() > deadline:
                break
    except (requests.RequestException, OSError):
        pass  # the status is what counts; a body cut short is still an excerpt
    raw = b"".join(chunks)[:_EXCERPT_BYTES]
    try:
        text = raw.decode(response.encoding or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        text = raw.decode("utf-8", errors="replace")
    return text[:EXCERPT_CHARS]


def deliver(
    *,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float = 8.0,
    allow_http: bool,
    allowed_networks: Iterable[str | Network],
    ca_bundle: str | None = None,
) -> DeliveryResult:
    """POST ``body`` with ``headers`` to ``url`` once, through the destination guard (see the module docstring).

    ``timeout`` bounds the connection and each wait for data, and reading the response excerpt stops once it has
    passed. A 2xx answer is ``ok``; a 3xx is a failure, as redirects are not followed; any other answer or error is
    a failure with a short reason in ``error``. HTTPS certificates are checked against requests' default CA bundle
    (certifi), or against the CA certificates in the file ``ca_bundle`` instead, for an internal CA.

    This function does not raise for network or policy failures, nor for a bad ``allowed_networks`` entry (that is
    a failed result too), so a worker can record every attempt.
    """
    started = time.monotonic()

    def result(
        *, status: int | None = None, error: str = "", peer: str | None = None, excerpt: str = ""
    ) -> DeliveryResult:
        elapsed = round((time.monotonic() - started) * 1000, 1)
        return DeliveryResult(
            status_code=status, ok=not error, error=error, duration_ms=elapsed, peer_ip=peer, response_excerpt=excerpt
        )

    try:
        networks = _networks(allowed_networks)
        check_url(url, allow_http=allow_http, allowed_networks=networks)
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        resolve_checked(str(parts.hostname), port, allowed_networks=networks)
        with _guarded_session(networks) as session:
            if ca_bundle:
                session.verify = ca_bundle
            response = session.post(
                url, data=body, headers=dict(headers), timeout=timeout, allow_redirects=False, stream=True
            )
            with response:
                peer = _peer_of(response)
                excerpt = _excerpt(response, deadline=time.monotonic() + timeout)
    except Exception as exc:  # every failure is a result the caller records
        return result(error=_describe(exc))

    status = response.status_code
    if 200 <= status < 300:
        return result(status=status, peer=peer, excerpt=excerpt)
    if 300 <= status < 400:
        location = response.headers.get("location", "")
        where = f" (to {location[:200]})" if location else ""
        return result(status=status, error=f"redirects are not followed{where}", peer=peer, excerpt=excerpt)
    return result(status=status, error=f"the server answered {status}", peer=peer, excerpt=excerpt)


# ----------------------------------------------------------------------------------------------------------------
# Retries


class _Random(Protocol):
    def random(self) -> float: ...


def backoff_seconds(attempt: int, *, base: float = 10, cap: float = 3600, rng: _Random = random) -> float:
    """Seconds to wait before retry ``attempt`` (1 for the first retry): exponential backoff with full jitter.

    The bound is ``base`` for attempt 1 and doubles with each attempt up to ``cap``; the wait is drawn uniformly
    from ``[0, bound)``, so retries of many failed deliveries spread out instead of arriving together.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    # Past 2**64 the bound is the cap anyway, and a smaller exponent keeps the float from overflowing.
    bound = min(cap, base * 2 ** min(attempt - 1, 64))
    return rng.random() * bound
