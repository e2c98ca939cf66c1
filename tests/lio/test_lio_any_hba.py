"""devices="*/NAME": the backstore is found on whichever HBA has it.

targetcli (and so iSCSILogicalUnit, crm/lio.crm) gives each new backstore the
lowest free HBA index on the node, so the same LUN can be iblock_0 on one node
and iblock_1 on the other."""

from __future__ import annotations

from backends.adapters import LIO_SERIAL, LioBackend, lio_node_config, lio_params, lio_target
from backends.harness import NODES
from emulators.lio_fixtures import lio_emulator  # noqa: F401 - fixture

A, B = NODES
BACKEND = LioBackend()


def config_on(*backstores: str) -> dict:
    """The local node's LIO with its LUN on the first backstore; the others exist beside it."""
    config = lio_node_config(A)
    config["backstores"] = {key: {"serial": LIO_SERIAL, "udev_path": "/dev/drbd0"} for key in backstores}
    lun = config["targets"]["iscsi"][lio_target(A)]["tpgs"]["1"]["luns"]["0"]
    lun["backstore"] = backstores[0]
    return config


def node(lio_emulator, tmp_path, config: dict, devices: str):  # noqa: F811
    emulator = lio_emulator(config, name="n")
    return BACKEND.node(A, emulator, tmp_path / "node", lio_params(devices=devices))


def test_any_hba_finds_the_backstore_on_iblock_1(lio_emulator, tmp_path) -> None:  # noqa: F811
    n = node(lio_emulator, tmp_path, config_on("iblock_1/p_lu_vg1", "fileio_0/other"), f"*/p_lu_vg1={LIO_SERIAL}")
    assert n.run("start").rc == 0
    assert n.run("monitor").rc == 0
    dump = n.emulator.dump()
    groups = dump["backstores"]["iblock_1/p_lu_vg1"]["alua"]
    assert set(groups) >= set(NODES) and groups[A]["members"], groups
    assert not set(dump["backstores"]["fileio_0/other"]["alua"]) & set(NODES)
    assert dump["targets"]["iscsi"][lio_target(A)]["tpgs"]["1"]["luns"]["0"]["group"] == A
    assert n.run("promote").rc == 0
    assert n.run("monitor").rc == 8


def test_a_named_hba_that_is_wrong_is_not_found(lio_emulator, tmp_path) -> None:  # noqa: F811
    n = node(lio_emulator, tmp_path, config_on("iblock_1/p_lu_vg1"), f"iblock_0/p_lu_vg1={LIO_SERIAL}")
    result = n.run("start")
    assert result.rc != 0 and "iblock_0/p_lu_vg1 does not exist" in result.reason, str(result)


def test_the_same_name_on_two_hbas_is_a_configuration_error(lio_emulator, tmp_path) -> None:  # noqa: F811
    n = node(lio_emulator, tmp_path, config_on("iblock_0/p_lu_vg1", "iblock_1/p_lu_vg1"), f"*/p_lu_vg1={LIO_SERIAL}")
    result = n.run("start")
    assert result.rc == 6, str(result)
    assert "backstore p_lu_vg1 exists on HBAs iblock_0, iblock_1" in result.reason
    assert n.run("stop").rc == 0
