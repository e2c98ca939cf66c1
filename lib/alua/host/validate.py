"""The small checks parameters share: name charsets, object names, NODE=VALUE maps, IP addresses.

IPv4 addresses (target portals) are checked by hand: the monitor of an IPv4 setup parses
its portal parameters on every run, and ipaddress is imported only for an IPv6 address.

OCF's boolean words live with the contract (alua.ocf.environment.is_true).
"""

from __future__ import annotations

from alua.ocf.params import check_item

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Collection

LETTERS_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def charset(extra: str) -> frozenset[str]:
    """ASCII letters and digits and ``extra``: what a tool or the kernel accepts in a name."""
    return frozenset(LETTERS_DIGITS + extra)


def bad_characters(name: str, allowed: frozenset[str]) -> str:
    """The characters of ``name`` outside ``allowed``, sorted and each once ("" when none)."""
    return "".join(sorted({c for c in name if c not in allowed}))


def check_characters(name: str, allowed: frozenset[str], problem: str) -> None:
    """Raise ValueError when ``name`` is empty or has characters outside ``allowed``; ``problem``
    is the reason, with ``{bad!r}`` where the bad characters go."""
    if not name:
        raise ValueError("is empty")
    bad = bad_characters(name, allowed)
    if bad:
        raise ValueError(problem.format(bad=bad))


def check_object_name(
    name: str, allowed: frozenset[str], *, max_len: int, cannot: str, reserved: Collection[str], reserved_problem: str
) -> None:
    """Raise ValueError unless ``name`` is safe as one kernel object (sysfs or configfs path component)."""
    if len(name) > max_len:
        raise ValueError(f"is longer than {max_len} characters")
    check_characters(name, allowed, f"contains characters {cannot}: {{bad!r}}")
    if name in reserved:
        raise ValueError(reserved_problem)


def parse_names(raw: str, check: Callable[[str], None], *, kind: str, none: str) -> tuple[str, ...]:
    """Whitespace-separated names, each checked and each once; ``kind`` names one in a reason
    ("resource name"), ``none`` is the reason for an empty list ("lists no DRBD resource")."""
    names: list[str] = []
    for name in raw.split():
        check_item(check, name, kind)
        if name in names:
            raise ValueError(f"names {name} twice")
        names.append(name)
    if not names:
        raise ValueError(none)
    return tuple(names)


_NODE_CHARS = charset("_.-")


def check_node_name(name: str) -> None:
    """Cluster node names become target group names: keep them to hostname characters."""
    check_characters(name, _NODE_CHARS, "contains characters a node name cannot have: {bad!r}")
    if name in (".", "..") or len(name) > 255:
        raise ValueError("is not a usable node name")


def parse_node_map(raw: str, what: str, check: Callable[[str], None]) -> tuple[tuple[str, str], ...]:
    """``"node1=value1 node2=value2"`` in order; each node once."""
    from alua.ocf.params import parse_pairs

    return parse_pairs(raw, "node", what, check_node_name, check, key_name="node name")


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
