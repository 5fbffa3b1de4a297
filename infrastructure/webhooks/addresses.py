"""Where a webhook may be sent: never into this machine or a private network (SSRF).

An endpoint URL is given by whoever holds an admin key, and the OMS posts to it from inside the
network it runs in: a URL naming 127.0.0.1, 10.0.0.5 or 169.254.169.254 (a cloud's metadata
service) would make it a proxy into places its callers cannot reach. So a URL is refused when
saved if its host is, or resolves to, an address that is not public, and checked again at send
time after resolving it (DNS may have changed, or answer differently now), and the request then
goes to the very address that was checked. ``OMS_WEBHOOKS_ALLOW_PRIVATE=true`` lifts the rule
(receivers on the same network; the tests' receiver on loopback).
"""
from __future__ import annotations

import concurrent.futures
import ipaddress
import socket
from urllib.parse import urlsplit

# A name that takes longer to resolve when saved is taken as unresolvable then (checked at send time).
RESOLVE_TIMEOUT_SECONDS = 5.0
_resolver = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhook-dns")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedAddress(Exception):
    """The URL leads to an address webhooks may not reach."""


class Unresolvable(Exception):
    """The host has no address (now)."""


def refusal(address: IPAddress) -> str | None:
    """Why a webhook may not go to ``address``, or None for a public address. ``is_global``
    leaves out the private, loopback, link-local, shared (100.64/10), reserved and documentation
    ranges; multicast is no receiver either, and an IPv4 address inside IPv6 is judged as IPv4."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return refusal(embedded)
    if address.is_loopback:
        return f"{address} is a loopback address"
    if address.is_link_local:
        return f"{address} is a link-local address"
    if address.is_private:
        return f"{address} is a private address"
    if address.is_multicast:
        return f"{address} is a multicast address"
    if not address.is_global:
        return f"{address} is not a public address"
    return None


def literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def names_this_machine(host: str) -> bool:
    """localhost and any name under it are this machine whatever DNS says (RFC 6761)."""
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (raises Unresolvable)."""
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    if names_this_machine(host):
        return [ipaddress.IPv4Address("127.0.0.1")]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise Unresolvable(f"{host} does not resolve: {error}") from None
    addresses = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])  # (without an IPv6 zone)
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise Unresolvable(f"{host} does not resolve")
    return addresses


def public_addresses(host: str, port: int) -> list[IPAddress]:
    """The addresses to send to; RefusedAddress if any the host resolves to is not public (a name
    that also points inward is not trusted with the outward one)."""
    addresses = resolve(host, port)
    for address in addresses:
        reason = refusal(address)
        if reason is not None:
            raise RefusedAddress(f"{host} resolves to {address}: {reason}" if literal_address(host) is None
                                 else reason)
    return addresses


def refusal_of_url(url: str) -> str | None:
    """Why an endpoint URL may not be saved, or None. A host that does not resolve (yet) is
    accepted: it is checked again whenever something is sent to it."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        return "the URL has no host"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    future = _resolver.submit(resolve, host, port)
    try:
        addresses = future.result(timeout=RESOLVE_TIMEOUT_SECONDS)
    except (Unresolvable, concurrent.futures.TimeoutError):
        return None
    for address in addresses:
        reason = refusal(address)
        if reason is not None:
            named = f"{host} resolves to {address}: " if literal_address(host) is None else ""
            return (f"{named}{reason}; webhooks go to public addresses only (OMS_WEBHOOKS_ALLOW_PRIVATE=true "
                    "allows others)")
    return None
