"""The guard on every URL Accord calls on someone's behalf (webhooks), against server-side
request forgery: an API key must not be able to make Accord post to its own loopback
interface, to the private network it runs in, or to a cloud metadata service.

By default a URL must be https and every address its host resolves to must be a public one.
``allow_private`` (``ACCORD_WEBHOOK_ALLOW_PRIVATE``, for tests and private deployments) also
accepts plain http and loopback and private addresses; link-local addresses (169.254.0.0/16,
fe80::/10, where cloud metadata services answer), the other known metadata addresses and
multicast stay refused whatever the setting, since no webhook receiver lives there.

The check runs when a URL is stored and again on every connection: ``GuardedBackend`` is the
network backend of the HTTP client, so it resolves the host itself, checks each address and
connects only to an address it checked. A second lookup by the client, which a hostile DNS
server could answer differently (DNS rebinding), never happens."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import httpcore

RESOLVE_TIMEOUT_S = 3.0
"""How long a name may take to resolve; longer counts as not resolving."""

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA = (
    ipaddress.ip_network("fd00:ec2::/64"),  # AWS's instance metadata over IPv6
    ipaddress.ip_network("100.100.100.200/32"),  # Alibaba Cloud's
)
"""Metadata services outside the link-local ranges (AWS, GCP and Azure answer on
169.254.169.254, which is link-local)."""
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SAFE_PATH = "/%:@!$&'()*+,;=-._~"
_SAFE_QUERY = _SAFE_PATH + "?"


class UnsafeUrlError(Exception):
    """The URL may not be called: its scheme or form, or an address its host resolves to."""


class UnresolvableError(UnsafeUrlError):
    """The host has no address now. A new URL is refused; a delivery tries again later, since
    a name server may be down for a while."""


@dataclass(frozen=True, slots=True)
class Target:
    """A URL taken apart as the HTTP client needs it."""

    scheme: str
    host: str
    """ASCII: a name in IDNA form, or an address."""
    port: int
    target: str
    """Path and query, percent-encoded, as the request line carries them."""

    @property
    def url(self) -> httpcore.URL:
        return httpcore.URL(
            scheme=self.scheme.encode(),
            host=self.host.encode(),
            port=self.port,
            target=self.target.encode(),
        )

    @property
    def authority(self) -> str:
        """The ``Host`` header: the port only when it is not the scheme's own."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse(url: str, *, allow_private: bool) -> Target:
    """The URL's parts, once its scheme and form are acceptable; ``UnsafeUrlError`` otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrlError(f"it is not a URL Accord can call ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and allow_private):
        raise UnsafeUrlError(
            "it must be https (plain http only where the server sets ACCORD_WEBHOOK_ALLOW_PRIVATE)"
        )
    if parts.username is not None or parts.password is not None:
        # Every administrator can read a webhook's URL; a delivery proves itself by its
        # signature instead.
        raise UnsafeUrlError("it must not carry a user name or password")
    if not parts.hostname:
        raise UnsafeUrlError("it names no host")
    if port == 0:
        raise UnsafeUrlError("port 0 cannot be called")
    try:
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise UnsafeUrlError(f"{parts.hostname!r} is not a valid host name") from None
    target = quote(parts.path or "/", safe=_SAFE_PATH)
    if parts.query:
        target += "?" + quote(parts.query, safe=_SAFE_QUERY)
    return Target(scheme, host, port or (443 if scheme == "https" else 80), target)


def _inside(address: Address) -> Iterator[Address]:
    """The address, and any IPv4 address an IPv6 one carries (mapped, 6to4, NAT64), which is
    where a connection to it may end up."""
    yield address
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            yield address.ipv4_mapped
        if address.sixtofour is not None:
            yield address.sixtofour
        if address in _NAT64:
            yield ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)


def refusal(address: Address, *, allow_private: bool) -> str | None:
    """Why a connection to ``address`` is refused, or ``None`` when it may be made."""
    for inner in _inside(address):
        if inner.is_link_local or any(inner in network for network in _METADATA):
            return f"{address}, a link-local or cloud metadata address"
        if inner.is_multicast:
            return f"{address}, a multicast address"
        if not allow_private and (not inner.is_global or inner.is_reserved):
            return f"{address}, a loopback, private or reserved address"
    return None


async def resolve(host: str, port: int, *, allow_private: bool) -> list[Address]:
    """Every address of ``host``, each checked: one refused address refuses the host, since a
    client could connect to any of them."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError:
        raise UnresolvableError(f"{host} did not resolve within {RESOLVE_TIMEOUT_S:g} s") from None
    except (OSError, UnicodeError, ValueError) as exc:
        strerror = exc.strerror if isinstance(exc, OSError) else None
        reason = strerror or str(exc)
        raise UnresolvableError(f"{host} does not resolve ({reason})") from None
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in found))
    for address in addresses:
        refused = refusal(address, allow_private=allow_private)
        if refused is not None:
            raise UnsafeUrlError(f"{host} resolves to {refused}")
    return addresses


async def check(url: str, *, allow_private: bool) -> None:
    """The whole check of a URL about to be stored: form, scheme, and every address."""
    target = parse(url, allow_private=allow_private)
    await resolve(target.host, target.port, allow_private=allow_private)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the check built in (see the module's docstring)."""

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._backend = httpcore.AnyIOBackend()

    # The signatures are httpcore's (it calls them with these keywords).
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await resolve(host, port, allow_private=self._allow_private)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._backend.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,  # noqa: ARG002
        timeout: float | None = None,  # noqa: ARG002, ASYNC109
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,  # noqa: ARG002
    ) -> httpcore.AsyncNetworkStream:
        raise UnsafeUrlError("Accord does not call Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)
