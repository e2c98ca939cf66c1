"""ocf:alua:scst's 'devices' and 'luns': only values SCST's mgmt parser reads as one intended command pass."""

from __future__ import annotations

import pytest

from alua.ocf.errors import ConfigError
from alua.targets.scst.backend import parse_device_groups
from alua.targets.scst.layer_params import DeviceSpec, check_layer_params, lun_map, parse_devices, parse_luns, parse_portals


def test_devices_in_order() -> None:
    devices = parse_devices("vg1=/dev/vg1/lun1 data=/dev/mapper/vg1-data")
    assert [(d.name, d.path) for d in devices] == [("vg1", "/dev/vg1/lun1"), ("data", "/dev/mapper/vg1-data")]
    assert lun_map(devices, ()) == ((0, "vg1"), (1, "data"))
    assert lun_map(devices, ((4, "data"), (2, "vg1"))) == ((4, "data"), (2, "vg1"))


def test_luns() -> None:
    assert parse_luns("0=vg1 16383=data") == ((0, "vg1"), (16383, "data"))


BAD = [
    (parse_devices, "vg1", "expected DEVICE=PATH"),
    (parse_devices, "vg1=", "is not an absolute path"),
    (parse_devices, "vg1=dev/vg1/lun1", "is not an absolute path"),
    (parse_devices, "vg1=/dev/vg1/lun1;read_only=1", "contains ';'"),
    (parse_devices, "vg1=/dev/disk/by-id/a=b", "contains '='"),
    (parse_devices, "vg1=/dev/vg1/lun1\x1b", "contains a control character"),
    (parse_devices, "=/dev/vg1/lun1", "has device name '' that is empty"),
    (parse_devices, "vg/1=/dev/vg1/lun1", "has device name 'vg/1'"),
    (parse_devices, "mgmt=/dev/vg1/lun1", "is a reserved name"),
    (parse_devices, "vg1=/dev/a vg1=/dev/b", "names device vg1 twice"),
    (parse_devices, "vg1=/dev/a data=/dev/a", "gives path /dev/a to two devices"),
    (parse_devices, "", "lists no DEVICE=PATH entry"),
    (parse_luns, "16384=vg1", "not a number from 0 to 16383"),
    (parse_luns, "-1=vg1", "not a number from 0 to 16383"),
    (parse_luns, "00=vg1", "without leading zeros"),
    (parse_luns, "\u0663=vg1", "not a number"),  # a non-ASCII digit
    (parse_luns, "0=vg1 0=data", "names LUN 0 twice"),
    (parse_luns, "0=vg1 1=vg1", "gives device vg1 two LUNs"),
    (parse_luns, "0=vg 1", "expected LUN=DEVICE"),
    (parse_luns, "0=vg;1", "has DEVICE 'vg;1' for LUN 0"),
    (parse_portals, "hpms01=192.168.122.99:3260", "not a valid IPv6 address"),  # no port: one for all
    (parse_portals, "hpms01=192.168.122.256", "not a valid IPv4 address"),
    (parse_portals, "hpms01=192.168.122.*", "not a dotted IPv4 address"),  # no allowed_portal patterns
    (parse_portals, "hpms01=!192.168.122.9", "not a dotted IPv4 address"),
    (parse_portals, "hpms01=192.168.122.99,192.168.122.99", "'192.168.122.99' twice"),
    (parse_portals, "hpms01=fe80::1", "without a %scope"),
    (parse_portals, "hpms01=10.0.0.1\nadd_target_attribute x", "expected NODE=ADDRESS"),
    (parse_portals, "hpms01=10.0.0.1\x07", "control character"),
    (parse_portals, "hpms01", "expected NODE=ADDRESS[,ADDRESS...]"),
    (parse_portals, "bad/node=10.0.0.1", "has node name 'bad/node'"),
]


@pytest.mark.parametrize(("parse", "raw", "why"), BAD)
def test_bad_values(parse, raw: str, why: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse(raw)
    assert why in str(caught.value)


GROUPS = parse_device_groups("vg1=vg1,data")


@pytest.mark.parametrize(("devices", "luns", "param", "why"), [
    ("vg1=/a other=/b", "", "devices", "device other is in no device group"),
    ("", "0=vg1", "luns", "without parameter 'devices'"),
    ("vg1=/a", "0=data", "luns", "LUN 0 names device data"),
    ("vg1=/a data=/b", "0=vg1", "luns", "gives device data of parameter 'devices' no LUN"),
])
def test_cross_checks_name_the_parameter(devices: str, luns: str, param: str, why: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check_layer_params(GROUPS, parse_devices(devices) if devices else (), parse_luns(luns) if luns else ())
    assert caught.value.param == param and why in caught.value.reason


def test_portals() -> None:
    assert parse_portals("hpms01=192.168.122.99,192.168.152.99 hpms02=fd00::98") == {
        "hpms01": ("192.168.122.99", "192.168.152.99"), "hpms02": ("fd00::98",)}


@pytest.mark.parametrize(("devices", "driver", "why"), [
    ("", "iscsi", "without parameter 'devices'"),
    ("vg1=/a", "qla2x00t", "is iSCSI's allowed_portal; parameter 'target_driver' is qla2x00t"),
])
def test_portals_need_an_owned_iscsi_target(devices: str, driver: str, why: str) -> None:
    portals = parse_portals("hpms01=10.0.0.1")
    with pytest.raises(ConfigError) as caught:
        check_layer_params(GROUPS, parse_devices(devices) if devices else (), (), portals, driver)
    assert caught.value.param == "portals" and why in caught.value.reason


def test_a_consistent_layer_passes() -> None:
    check_layer_params(GROUPS, (DeviceSpec("vg1", "/a"), DeviceSpec("data", "/b")), ((3, "data"), (0, "vg1")))
    check_layer_params(GROUPS, (), ())
