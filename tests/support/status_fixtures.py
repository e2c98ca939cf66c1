"""What alua-status reads, made up for tests: crm_mon's XML, the CIB's resources, SCST and LIO trees.

The XML is shaped as Pacemaker 2.1's crm_mon --output-as=xml and cibadmin --query --scope
resources print it; the trees hold the files the agents' backends read (SCST sysfs, LIO configfs).
"""

from __future__ import annotations

import os
from pathlib import Path

NODES = ("hpms01", "hpms02")
SERIAL = "509f7d73"


def target(node: str) -> str:
    return f"iqn.2016-02.local.virtual:{node}.vg1"


def crm_mon_xml(nodes: dict[str, str], roles: dict[str, str], *, agent: str = "ocf:alua:scst",
                primitive: str = "p_scst", clone: str = "ms_scst", dc: str | None = "hpms01", quorate: bool = True,
                failures: tuple[str, ...] = (), more: str = "") -> str:
    """nodes: name -> online/offline/standby; roles: name -> Promoted/Unpromoted (the others Stopped)."""
    node_lines = "".join(
        f'    <node name="{n}" id="{i}" online="{str(s != "offline").lower()}" standby="{str(s == "standby").lower()}"'
        f' standby_onfail="false" maintenance="false" pending="false" unclean="false" shutdown="false"'
        f' expected_up="true" is_dc="{str(n == dc).lower()}" resources_running="1" type="member"/>\n'
        for i, (n, s) in enumerate(nodes.items(), start=1)
    )
    instances = "".join(
        f'      <resource id="{primitive}" resource_agent="{agent}" role="{r}" active="true" orphaned="false"'
        f' blocked="false" managed="true" failed="false" failure_ignored="false" nodes_running_on="1">\n'
        f'        <node name="{n}" id="{list(nodes).index(n) + 1}" cached="true"/>\n      </resource>\n'
        for n, r in roles.items()
    )
    stopped = "".join(
        f'      <resource id="{primitive}" resource_agent="{agent}" role="Stopped" active="false" orphaned="false"'
        f' blocked="false" managed="true" failed="false" failure_ignored="false" nodes_running_on="0"/>\n'
        for _ in range(len(nodes) - len(roles))
    )
    present = "true" if dc else "false"
    fails = "".join(f'    <failure op_key="{f}" node="hpms02" exitstatus="error" exitreason="boom"/>\n'
                    for f in failures)
    return (
        '<pacemaker-result api-version="2.30" request="crm_mon -1 --output-as=xml">\n'
        '  <summary>\n    <stack type="corosync"/>\n'
        f'    <current_dc present="{present}" version="2.1.5" name="{dc or ""}" id="1"'
        f' with_quorum="{str(quorate).lower()}"/>\n'
        f'    <nodes_configured number="{len(nodes)}"/>\n  </summary>\n'
        f'  <nodes>\n{node_lines}  </nodes>\n'
        f'  <resources>\n    <clone id="{clone}" multi_state="true" unique="false" managed="true" disabled="false"'
        f' failed="false" failure_ignored="false">\n{instances}{stopped}    </clone>\n{more}  </resources>\n'
        + (f"  <failures>\n{fails}  </failures>\n" if fails else "")
        + '  <status code="0" message="OK"/>\n</pacemaker-result>\n'
    )


def primitive_xml(rid: str, provider: str, kind: str, params: dict[str, str], clone: str) -> str:
    nvpairs = "".join(f'<nvpair name="{k}" value="{v}" id="{rid}-instance_attributes-{k}"/>' for k, v in params.items())
    return (f'<clone id="{clone}"><primitive id="{rid}" class="ocf" provider="{provider}" type="{kind}">'
            f'<instance_attributes id="{rid}-instance_attributes">{nvpairs}</instance_attributes></primitive></clone>')


def scst_params(**extra: str) -> dict[str, str]:
    return {"device_groups": "vg1", "targets": " ".join(f"{n}={target(n)}" for n in NODES), **extra}


def lio_params(**extra: str) -> dict[str, str]:
    return {"devices": f"iblock_0/vg1={SERIAL}", "targets": " ".join(f"{n}={target(n)}" for n in NODES), **extra}


def cib_resources(kernel: str = "scst", params: dict[str, str] | None = None, more: str = "") -> str:
    """cibadmin --query --scope resources: the ALUA primitive in its clone (and ``more``)."""
    default = scst_params() if kernel == "scst" else lio_params()
    alua = primitive_xml(f"p_{kernel}", "alua", kernel, default if params is None else params, f"ms_{kernel}")
    return f"<resources>{alua}{more}</resources>"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def scst_tree(root: Path, states: dict[str, str], *, local: str = "hpms01", enabled: str = "1",
              portals: tuple[str, ...] = (), sessions: tuple[str, ...] = ()) -> Path:
    """SCST's sysfs as the agent leaves it: device group vg1 with one target group per node."""
    tgt = root / "targets" / "iscsi" / target(local)
    _write(tgt / "enabled", f"{enabled}\n")
    _write(tgt / "rel_tgt_id", f"{NODES.index(local) + 1}\n")
    (tgt / "sessions").mkdir(parents=True, exist_ok=True)
    for session in sessions:
        (tgt / "sessions" / session).mkdir()
    for i, address in enumerate(portals):
        _write(tgt / f"allowed_portal{i or ''}", f"{address}\n")
    (root / "devices" / "vg1").mkdir(parents=True, exist_ok=True)
    dg = root / "device_groups" / "vg1"
    (dg / "devices").mkdir(parents=True, exist_ok=True)
    os.symlink("../../../devices/vg1", dg / "devices" / "vg1")
    for i, (node, state) in enumerate(states.items(), start=1):
        tg = dg / "target_groups" / node
        _write(tg / "state", f"{state}\n")
        _write(tg / "group_id", f"{i}\n")
        if node == local:
            os.symlink(f"../../../../targets/iscsi/{target(node)}", tg / target(node))
        else:
            _write(tg / target(node) / "rel_tgt_id", f"{i}\n")
    return root


LIO_CODES = {"active": 0, "nonoptimized": 1, "standby": 2, "unavailable": 3, "offline": 14, "transitioning": 15}


def lio_tree(root: Path, states: dict[str, str], *, local: str = "hpms01", enabled: str = "1",
             portals: tuple[str, ...] = (), sessions: tuple[str, ...] = ()) -> Path:
    """LIO's configfs: backstore iblock_0/vg1 with one target port group per node, the local LUN in its own."""
    dev = root / "core" / "iblock_0" / "vg1"
    _write(dev / "enable", "1\n")
    _write(dev / "wwn" / "vpd_unit_serial", f"T10 VPD Unit Serial Number: {SERIAL}\n")
    _write(dev / "alua" / "default_tg_pt_gp" / "members", "")
    for i, (node, state) in enumerate(states.items(), start=1):
        group = dev / "alua" / node
        _write(group / "alua_access_state", f"{LIO_CODES[state]}\n")
        _write(group / "tg_pt_gp_id", f"{i}\n")
        _write(group / "members", f"iSCSI/{target(local)}/tpgt_1/lun_0\n" if node == local else "")
    tpg = root / "iscsi" / target(local) / "tpgt_1"
    _write(tpg / "enable", f"{enabled}\n")
    _write(tpg / "dynamic_sessions", "".join(f"{s}\n" for s in sessions))
    for portal in portals:
        (tpg / "np" / portal).mkdir(parents=True)
    (tpg / "np").mkdir(exist_ok=True)
    return root
