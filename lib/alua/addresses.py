"""IP addresses in parameters (target portals): checked without importing ipaddress for IPv4.

The monitor of an IPv4 setup parses its portal parameters on every run, so
IPv4 is checked by hand; ipaddress is imported only for an IPv6 address.
"""

from __future__ import annotations


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
