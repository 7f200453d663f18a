"""Outbound HTTP on behalf of a client, that cannot be turned against the inside (SSRF).

Fetching an image from a URL and delivering a webhook both make the service send a
request to an address a client chose. :func:`session` gives a ``requests`` session
whose every connection, redirects included, goes only to public addresses:

* the host is resolved once per connection and *every* address it resolves to must be
  public (:func:`is_public`): not loopback, private, link-local (the cloud metadata
  service at 169.254.169.254 included), shared CGNAT space, multicast, reserved or
  unspecified, nor an IPv6 address embedding one of those (IPv4-mapped, 6to4, NAT64);
* the socket then connects to the address that was checked, so DNS rebinding (a second
  lookup answering 127.0.0.1) cannot switch it; TLS still verifies the certificate
  against the host name;
* only ``http`` and ``https``, at most :data:`MAX_REDIRECTS` redirects, no proxy from
  the environment, :data:`TIMEOUT` seconds to connect and between bytes.

``OUTBOUND_ALLOWED_HOSTS`` (comma-separated host names or IP literals, as written in
URLs) names the internal hosts an installation does want reached: on-premises image
stores, and the tests' local servers. A redirect to another name is checked again.

Nothing here imports the apps: images and webhooks both build on it.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

#: Seconds to connect, and between two reads of the answer.
TIMEOUT = 10
MAX_REDIRECTS = 3
SCHEMES = ("http", "https")

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class BlockedAddress(NewConnectionError):
    """The host cannot be resolved, or resolves to an address the service must not reach; ``detail`` says
    which, for the client."""

    def __init__(self, conn: Any, detail: str) -> None:
        super().__init__(conn, f"{conn}: {detail}")
        self.detail = detail


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether ``address`` is a public unicast address on the internet.

    ``is_global`` already excludes private, loopback, link-local, CGNAT (100.64.0.0/10),
    documentation, benchmarking and reserved space; multicast is excluded on its own. An
    IPv6 address that carries an IPv4 one (IPv4-mapped ``::ffff:a.b.c.d``, 6to4, NAT64
    ``64:ff9b::/96``) is judged by that IPv4 address too.
    """
    if not address.is_global or address.is_multicast:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(embedded)
    return True


def allowed_hosts() -> frozenset[str]:
    """``OUTBOUND_ALLOWED_HOSTS``, lower-cased: hosts that may be internal."""
    return frozenset(host.strip().lower().strip("[]") for host in settings.OUTBOUND_ALLOWED_HOSTS if host.strip())


def check_url(url: str) -> str:
    """``url`` if it is one the service may try to fetch: ``http(s)`` with a host.

    Its addresses are checked when it is fetched (they may change until then).

    Raises:
        ValueError: another scheme, no host, or credentials in the URL; the message says which.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise ValueError("The URL must start with http:// or https://.")
    if not parts.hostname:
        raise ValueError("The URL has no host.")
    if parts.username or parts.password:
        raise ValueError("The URL must not carry a user name or password.")
    return url


def _vetted_address(host: str, port: int) -> tuple[Any, ...]:
    """The first address of ``host`` to connect to, once every address it resolves to is allowed."""
    name = host.lower().strip("[]")
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"The host {host} could not be resolved.") from exc
    if name not in allowed_hosts():
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
            if not is_public(address):
                raise OSError(f"The host {host} resolves to {address}, which is not a public address.")
    return infos[0]


class _PinnedConnectionMixin:
    """Connect to the checked address itself, not to whatever a second DNS lookup says."""

    host: str
    port: int
    timeout: Any

    def _new_conn(self) -> socket.socket:
        try:
            family, kind, proto, _, address = _vetted_address(self.host, self.port)
        except OSError as exc:
            raise BlockedAddress(self, str(exc)) from exc
        sock = socket.socket(family, kind, proto)
        sock.settimeout(self.timeout if isinstance(self.timeout, (int, float)) else TIMEOUT)
        try:
            sock.connect(address)
        except OSError as exc:
            sock.close()
            raise NewConnectionError(self, f"Failed to connect to {self.host}: {exc}") from exc  # type: ignore[arg-type]
        return sock


class _PinnedHTTPConnection(_PinnedConnectionMixin, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedConnectionMixin, HTTPSConnection):
    pass


class _PinnedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class _PinnedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _PinnedHTTPPool, "https": _PinnedHTTPSPool}


def session() -> requests.Session:
    """A ``requests`` session for URLs a client chose (see the module): public addresses only,
    at most :data:`MAX_REDIRECTS` redirects, no environment proxies. Pass ``timeout=TIMEOUT``.

    A refused address surfaces as ``requests.ConnectionError`` whose message names it
    (:func:`describe` turns it into a sentence for the client).
    """
    http = requests.Session()
    http.trust_env = False  # an HTTP(S)_PROXY would connect for us, unchecked
    http.max_redirects = MAX_REDIRECTS
    adapter = _PinnedAdapter(max_retries=0)
    for scheme in SCHEMES:
        http.mount(f"{scheme}://", adapter)
    return http


def describe(exc: requests.RequestException) -> str:
    """A sentence for the client about a failed outbound request (no internals, no traceback)."""
    seen: set[int] = set()
    reason: Any = exc
    while isinstance(reason, BaseException) and id(reason) not in seen:
        seen.add(id(reason))
        if isinstance(reason, BlockedAddress):
            return reason.detail
        # requests wraps urllib3's MaxRetryError, whose .reason is the connection's error.
        reason = getattr(reason, "reason", None) or (reason.args[0] if reason.args else None)
    if isinstance(exc, requests.TooManyRedirects):
        return f"The URL redirected more than {MAX_REDIRECTS} times."
    if isinstance(exc, requests.Timeout):
        return f"The server did not answer within {TIMEOUT} seconds."
    if isinstance(exc, requests.exceptions.InvalidSchema):
        return "The URL (or a redirect) is not http or https."
    if isinstance(exc, requests.ConnectionError):
        return "The server could not be reached."
    return "The request failed."


class FetchError(Exception):
    """A URL could not be fetched; the message says why, for the client."""


#: Seconds a whole fetch may take, however slowly the server drips its bytes.
FETCH_DEADLINE = 60


def fetch(url: str, max_bytes: int) -> bytes:
    """The body of ``GET url``, through :func:`session`, at most ``max_bytes`` long.

    The size is checked against ``Content-Length`` first and then while streaming, so a
    lying or endless server is cut off at ``max_bytes``; the whole download may take
    :data:`FETCH_DEADLINE` seconds.

    Raises:
        FetchError: a refused or unreachable address, a redirect too many, another
            answer than 200, a body over ``max_bytes``, or a timeout.
    """
    try:
        check_url(url)
    except ValueError as exc:
        raise FetchError(str(exc)) from None
    too_large = f"It is larger than {max_bytes / 2**20:.3g} MB."
    deadline = time.monotonic() + FETCH_DEADLINE
    try:
        with session() as http, http.get(url, timeout=TIMEOUT, stream=True) as response:
            if response.status_code != 200:
                raise FetchError(f"The server answered {response.status_code} {response.reason}.")
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(too_large)
            body = bytearray()
            for chunk in response.iter_content(64 * 1024):
                body += chunk
                if len(body) > max_bytes:
                    raise FetchError(too_large)
                if time.monotonic() > deadline:
                    raise FetchError(f"The download took longer than {FETCH_DEADLINE} seconds.")
            return bytes(body)
    except requests.RequestException as exc:
        raise FetchError(describe(exc)) from None


#: Custom headers a client may have sent with its webhooks, at most.
MAX_CUSTOM_HEADERS = 20
#: Headers the service sets on a webhook itself (framing, identity, signature); a custom header cannot replace them.
RESERVED_HEADERS = frozenset({"content-type", "content-length", "host", "user-agent", "webhook-id", "webhook-timestamp",
                              "webhook-signature", "transfer-encoding", "connection"})  # fmt: skip
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def check_headers(headers: object) -> dict[str, str]:
    """``headers`` if they are custom HTTP headers a client may have sent: ``{name: value}`` strings.

    Names are HTTP tokens, values are printable on one line (no header injection), at
    most :data:`MAX_CUSTOM_HEADERS` of them, none of the :data:`RESERVED_HEADERS`.

    Raises:
        ValueError: the message says which header is wrong and why.
    """
    if not isinstance(headers, dict):
        raise ValueError("The headers must be an object of header names and values.")
    if len(headers) > MAX_CUSTOM_HEADERS:
        raise ValueError(f"At most {MAX_CUSTOM_HEADERS} headers.")
    for name, value in headers.items():
        if not isinstance(name, str) or not name or not set(name) <= _TOKEN_CHARS or len(name) > 100:
            raise ValueError(f"{str(name)[:100]!r} is not a valid header name.")
        if name.lower() in RESERVED_HEADERS:
            raise ValueError(f"The {name} header is set by the service.")
        if not isinstance(value, str) or len(value) > 1000 or not value.isprintable():
            raise ValueError(f"The {name} header's value must be a line of printable text, at most 1000 characters.")
    return dict(headers)
