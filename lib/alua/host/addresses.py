"""IP addresses in parameters (target portals): checked without importing ipaddress for IPv4.

The monitor of an IPv4 setup parses its portal parameters on every run, so
IPv4 is checked by hand; ipaddress is imported only for an IPv6 address.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


def check_ipv4(host: str) -> None:
    octets = host.split(".")
    if len(octets) != 4 or not all(o.isdigit() and o.isascii() and len(o) <= 3 for o in octets):
        raise ValueError(f"has address {host!r}, not a dotted IPv4 address (IPv6 goes in brackets: [ADDR]:PORT)")
    if any(int(o) > 255 or (len(o) > 1 and o[0] == "0") for o in octets):
        raise ValueError(f"has address {host!r}, not a valid IPv4 address")


def check_ipv6(host: str, *, who: str = "LIO") -> str:
    """The address in its one canonical spelling (a target refuses or misses a second spelling)."""
    import ipaddress  # only for IPv6 portals: the monitor of an IPv4 setup stays light

    try:
        address = ipaddress.IPv6Address(host)
    except ValueError:
        raise ValueError(f"has address [{host}], not a valid IPv6 address") from None
    if address.is_link_local and not address.scope_id:
        raise ValueError(f"has link-local address [{host}] without a %scope (e.g. [{host}%eth1]), which {who} refuses")
    return str(address)


def parse_address_map(raw: str, what: str, canonical: Callable[[str], str]) -> dict[str, tuple[str, ...]]:
    """``"node1=A,B node2=C"``: each node's comma-separated portals (or addresses), each checked by
    ``canonical`` (which returns its one spelling, so that a portal spelled twice is refused)."""
    from alua.host.validate import parse_node_map

    def check(value: str) -> None:
        seen: dict[str, str] = {}
        for item in value.split(","):
            try:
                spelled = canonical(item)
            except ValueError as e:
                raise ValueError(f"{item!r} that {e}") from None
            if spelled in seen:
                same = "" if seen[spelled] == item else f" (also spelled {seen[spelled]!r})"
                raise ValueError(f"{item!r} twice{same}")
            seen[spelled] = item

    return {node: tuple(value.split(",")) for node, value in parse_node_map(raw, what, check)}
