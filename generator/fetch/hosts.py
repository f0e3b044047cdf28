"""Which server a URL reaches, whether the build may reach it, and whether it is worth asking.

Three rules the HTTP fetcher applies to every request (and every redirect hop):

- **addresses**: a listed URL must not make the build machine talk to
  itself or its network (loopback, private, link-local, and any other
  address that is not globally routable), checked on the addresses a host
  name resolves to, so a name pointing at 127.0.0.1 is refused too;
- **server keys**: the per-host limit and the circuit breaker count per
  server, keyed by the resolved address (an IPv4 address, or an IPv6 /64
  network), not by the name in the URL: a thousand subdomains of one
  machine are one machine. A registrable domain would need the public
  suffix list, and it would merge unrelated tenants of one cloud domain
  while missing the many domains one hostile machine can answer for;
- **the breaker**: a server that failed ``limit`` times in a row is skipped
  for the rest of the build, so a dead host costs a few timeouts, not one
  per dataset.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

ALLOW_PRIVATE_OPTION = "--allow-private-addresses"
# Consecutive failed attempts (timeouts, connection errors, 5xx or 429 after
# retries) after which a server is skipped for the rest of the build. A dead
# host fails a whole wave of per-host requests at once: this is a bit more
# than one wave of the default per-host limit, so one bad second on a busy
# host does not trip it.
HOST_FAILURE_LIMIT = 20

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class PrivateAddressError(OSError):
    """A host that resolves to an address the build must not connect to."""

    def __init__(self, host: str, address: str, kind: str) -> None:
        super().__init__(
            f"refusing {kind} address {address} of host {host} "
            f"(loopback, private and link-local addresses are refused; {ALLOW_PRIVATE_OPTION} allows them)"
        )
        self.host = host
        self.address = address


def parse_address(text: str) -> Address | None:
    """An IP address literal (``[...]`` and an IPv6 zone allowed), or None for a host name."""
    try:
        return ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def get_address_kind(address: Address) -> str | None:
    """Why the build must not connect to ``address`` ("loopback", "private", ...), or None if it may.

    An IPv4 address carried inside IPv6 (mapped, 6to4, Teredo) is judged as
    itself: ``::ffff:127.0.0.1`` is loopback.
    """
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if inner is not None:
            return get_address_kind(inner)
    for kind in ("loopback", "link_local", "private", "multicast", "unspecified", "reserved"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if address.is_global else "non-public"


def check_address(host: str, address: str) -> None:
    """Raise ``PrivateAddressError`` unless ``address`` (of ``host``) is a public one."""
    parsed = parse_address(address)
    kind = "unparsable" if parsed is None else get_address_kind(parsed)
    if kind is not None:
        raise PrivateAddressError(host, address, kind)


def get_server_key(addresses: list[str], port: int) -> str:
    """The key of the server behind a host: its lowest address (IPv6: its /64 network) and port.

    The lowest, so that round-robin DNS answering in another order names the
    same server. A /64 is what one IPv6 host is given: a hostile one could
    answer on any of its addresses.
    """
    parsed = [a for a in map(parse_address, addresses) if a is not None]
    unmapped = [a.ipv4_mapped or a if isinstance(a, ipaddress.IPv6Address) else a for a in parsed]
    if not unmapped:
        return f"{addresses[0] if addresses else '?'}:{port}"
    first = min(unmapped, key=lambda a: (a.version, a))
    if isinstance(first, ipaddress.IPv6Address):
        return f"[{ipaddress.IPv6Network((first, 64), strict=False)}]:{port}"
    return f"{first}:{port}"


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, refusing private addresses (unless allowed).

    The connector resolves again when it connects, through this resolver:
    a name that answered a public address to the fetcher's check and then
    a private one (DNS rebinding) is refused at connection time too.
    """

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if not self.allow_private:
            for r in results:
                check_address(host, r["host"])
        return results

    async def close(self) -> None:
        await self._inner.close()


@dataclass
class HostBreaker:
    """Counts each server's consecutive failures; past ``limit`` the server is skipped.

    One per fetcher, so per build: tomorrow's build asks the host again.
    """

    limit: int = HOST_FAILURE_LIMIT
    failures: dict[str, int] = field(default_factory=dict)
    tripped: dict[str, str] = field(default_factory=dict)  # server key -> why it is skipped

    def reason(self, key: str) -> str | None:
        """Why ``key`` is skipped, or None while it is still asked."""
        return self.tripped.get(key)

    def succeeded(self, key: str) -> None:
        if key not in self.tripped:
            self.failures.pop(key, None)

    def failed(self, key: str, host: str, message: str) -> None:
        if key in self.tripped or self.limit <= 0:
            return
        n = self.failures[key] = self.failures.get(key, 0) + 1
        if n >= self.limit:
            self.tripped[key] = f"host {host} skipped after {n} consecutive failures ({message})"
