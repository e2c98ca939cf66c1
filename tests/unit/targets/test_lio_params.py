"""ocf:alua:lio's 'portals' and 'devices': only names LIO would make into the intended directory pass."""

from __future__ import annotations

import pytest

from alua.targets.lio.names import check_portal, parse_devices, parse_portals


@pytest.mark.parametrize("portal", ["192.168.122.99:3260", "0.0.0.0:3260", "10.0.0.1:1", "[fd00::99]:3260",
                                    "[::]:3260", "255.255.255.255:65535"])
def test_good_portals(portal: str) -> None:
    check_portal(portal)


@pytest.mark.parametrize(("portal", "why"), [
    ("192.168.122.99", "is not ADDRESS:PORT"),
    (":3260", "is not ADDRESS:PORT"),
    ("192.168.122.99:0", "not a number from 1 to 65535"),
    ("192.168.122.99:03260", "not a number from 1 to 65535"),   # LIO would read it as octal
    ("192.168.122.99:65536", "not a number from 1 to 65535"),
    ("192.168.122.99:３２６０", "not a number from 1 to 65535"),  # non-ASCII digits
    ("192.168.122.099:3260", "not a valid IPv4 address"),
    ("192.168.122.256:3260", "not a valid IPv4 address"),
    ("192.168.122:3260", "not a dotted IPv4 address"),
    ("host.example:3260", "not a dotted IPv4 address"),
    ("fd00::99:3260", "not a dotted IPv4 address"),
    ("[fd00::zz]:3260", "not a valid IPv6 address"),
    ("[fd00::99:3260", "not a dotted IPv4 address"),
    ("1.2.3.4:3260/x", "not a number"),
    ("1" * 300 + ":3260", "longer than 255"),
    ("[fe80::99]:3260", "link-local address .* without a %scope"),
])
def test_bad_portals(portal: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        check_portal(portal)


def test_link_local_with_scope_and_canonical_forms() -> None:
    assert check_portal("[fe80::99%eth1]:3260") == "[fe80::99%eth1]:3260"
    assert check_portal("[fd00:0::99]:3260") == "[fd00::99]:3260"
    assert check_portal("192.168.122.99:3260") == "192.168.122.99:3260"


def test_parse_maps_nodes_to_their_portals_in_order() -> None:
    parsed = parse_portals("hpms01=192.168.122.99:3260,192.168.152.99:3260 hpms02=[fd00::98]:3260")
    assert parsed == {"hpms01": ("192.168.122.99:3260", "192.168.152.99:3260"), "hpms02": ("[fd00::98]:3260",)}


@pytest.mark.parametrize(("raw", "why"), [
    ("hpms01=1.2.3.4:3260,1.2.3.4:3260", "twice"),
    ("hpms01=[fd00::99]:3260,[fd00:0::99]:3260", "twice \\(also spelled '\\[fd00::99\\]:3260'\\)"),
    ("hpms01=1.2.3.4:3260 hpms01=1.2.3.5:3260", "names node hpms01 twice"),
    ("hpms01=", "is not ADDRESS:PORT"),
    ("hpms01=1.2.3.4:3260,", "is not ADDRESS:PORT"),
    ("1.2.3.4:3260", "expected NODE=PORTAL"),
    ("", "lists no NODE=PORTAL"),
])
def test_parse_refuses(raw: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_portals(raw)


def test_devices_with_any_hba() -> None:
    (dev,) = parse_devices("*/p_lu_vg1=509f7d73")
    assert (dev.hba, dev.name, dev.serial) == ("*", "p_lu_vg1", "509f7d73")


@pytest.mark.parametrize(("raw", "why"), [
    ("*/p_lu_vg1=1 iblock_0/p_lu_vg1=1", "twice"),
    ("iblock_0/p_lu_vg1=1 */p_lu_vg1=1", "twice"),
    ("*/*=1", "device name '\\*'"),
    ("iblock/vg1=1", "LIO names HBAs"),
    ("**/vg1=1", "HBA '\\*\\*'"),
])
def test_devices_refused(raw: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_devices(raw)
