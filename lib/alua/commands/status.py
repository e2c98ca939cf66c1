"""alua-status: the state of the ALUA stack at a glance, for this node and its cluster; read-only.

What it runs, each without a shell and with a timeout (all of them within 20 s):

- ``crm_mon -1 --output-as=xml``: the nodes and the roles of the ALUA clone (the clone whose
  primitive is ocf:alua:scst or ocf:alua:lio), the DRBD clone (ocf:linbit:drbd) and the VG
  clone (ocf:alua:drbd-lvm);
- ``cibadmin --query --local --scope resources``: their parameters, once, only when crm_mon's
  XML does not carry the CIB;
- ``crm_node -n`` only when this host's name is not a cluster node's name;
- ``drbdsetup events2 --now all`` only on DRBD 9 (or 8.4 without udev's by-res links).

So a run costs two Pacemaker calls.  Everything else is read from the kernel: the ALUA groups'
states and the local target through the agents' own backends (SCST sysfs, LIO configfs),
DRBD through /proc/drbd, the VG's active LVs through device-mapper in sysfs.  Nothing is
written: no sysfs or configfs attribute, no CIB, no file.

Exit status: 0 healthy, 1 degraded, 2 broken, 3 cannot tell (see alua-status(8)); also 2
for a bad option.
"""

from __future__ import annotations

import os
import sys

from alua.commands.status_model import BROKEN, UNKNOWN, add, judge, new_status, render
from alua.host.run import CommandRunner
from alua.ocf.context import Deadline
from alua.ocf.errors import OcfError
from alua.tools.cib import CibView
from alua.tools.crm_mon import CrmMon, error_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from alua.targets.roles import AluaBackend

USAGE = "usage: alua-status [--json]"
BUDGET_S = 20.0  # the whole run
TOOL_TIMEOUT_S = 10.0  # each Pacemaker call
ALUA_AGENTS = ("ocf:alua:scst", "ocf:alua:lio")
DRBD_AGENT = "ocf:linbit:drbd"
VG_AGENT = "ocf:alua:drbd-lvm"


class Paths:
    """Where the kernel interfaces are (None: where the agents look); tests point them at trees."""

    __slots__ = ("scst", "lio", "sys_block", "proc_drbd", "by_res")

    def __init__(self, *, scst: str | None = None, lio: str | None = None, sys_block: str | None = None,
                 proc_drbd: str | None = None, by_res: str | None = None) -> None:
        self.scst, self.lio, self.sys_block, self.proc_drbd, self.by_res = scst, lio, sys_block, proc_drbd, by_res


class _Quiet:
    """The backends' logger: reading never logs, and alua-status writes nothing anywhere."""

    def debug(self, msg: str) -> None: ...
    info = warning = error = debug


def hostname() -> str:
    """This host's name: the cluster node's name unless corosync.conf names it otherwise."""
    return os.uname().nodename


class _Pacemaker:
    """The Pacemaker calls of one run: crm_mon once, cibadmin at most once, crm_node rarely."""

    def __init__(self, runner: CommandRunner) -> None:
        self.runner = runner
        self._cib: CibView | None = None
        self.crm: CrmMon | None = None

    def _run(self, argv: list[str]) -> str:
        result = self.runner.run(argv, timeout=TOOL_TIMEOUT_S)
        if not result.ok:
            why = error_text(result.stdout) or result.tail()
            raise OcfError(f"{argv[0]} exited {result.returncode}: {why} (is the cluster running here?)")
        return result.stdout

    def status(self) -> CrmMon:
        self.crm = CrmMon.parse(self._run(["crm_mon", "-1", "--output-as=xml"]))
        return self.crm

    def params(self, primitive: str) -> dict[str, str]:
        assert self.crm is not None
        found = CibView(self.crm.root).primitive_params(primitive)  # a crm_mon that carries the CIB
        if found is None:
            if self._cib is None:
                self._cib = CibView.parse(self._run(["cibadmin", "--query", "--local", "--scope", "resources"]))
            found = self._cib.primitive_params(primitive)
        return found or {}

    def local_node(self) -> str:
        assert self.crm is not None
        name = hostname()
        if name in self.crm.nodes:
            return name
        try:
            return self._run(["crm_node", "-n"]).strip() or name
        except OcfError:
            return name


def collect(runner: CommandRunner, paths: Paths | None = None) -> dict[str, Any]:
    """Everything alua-status shows, judged (see status_model.judge)."""
    paths = paths or Paths()
    status = new_status(hostname())
    pacemaker = _Pacemaker(runner)
    try:
        crm = pacemaker.status()
        status["node"] = pacemaker.local_node()
    except (OcfError, ValueError) as e:
        add(status, UNKNOWN, f"cannot read the cluster: {e}")
        return judge(status)
    clones = crm.clones_of(*ALUA_AGENTS)
    alua_clone = clones[0] if clones else None
    status["cluster"] = {
        "dc": crm.dc, "quorate": crm.quorate, "failures": crm.failures,
        "nodes": {n.name: {"state": n.state, "alua_role": alua_clone.role_of(n.name) if alua_clone else None}
                  for n in crm.nodes.values()},
    }
    drbd_names: list[str] = []
    for clone in crm.clones_of(DRBD_AGENT):
        drbd_names += pacemaker.params(clone.primitive).get("drbd_resource", "").split()
    if alua_clone is None:
        add(status, UNKNOWN, "the cluster has no ALUA clone (of ocf:alua:scst or ocf:alua:lio)")
    else:
        if len(clones) > 1:
            add(status, UNKNOWN, f"more than one ALUA clone: {', '.join(c.id for c in clones)}; showing {clones[0].id}")
        drbd_names += _alua(status, alua_clone, pacemaker.params(alua_clone.primitive), paths)
    for clone in crm.clones_of(VG_AGENT):
        params = pacemaker.params(clone.primitive)
        drbd_names += params.get("drbd_resources", "").split()
        _vg(status, clone.id, params, paths)
    _drbd(status, runner, list(dict.fromkeys(drbd_names)), paths)
    return judge(status)


def _alua(status: dict[str, Any], clone: Any, raw: dict[str, str], paths: Paths) -> list[str]:
    """The ALUA section from the primitive's parameters and this node's kernel; its drbd_resources."""
    from alua.targets.promotable import node_ports
    from alua.targets.roles import Topology

    kernel = clone.agent.rsplit(":", 1)[-1]
    cfg, backend = _backend(kernel, raw, paths, status)
    topology = Topology(node_ports(cfg), status["node"])
    alua = status["alua"] = {
        "clone": clone.id, "primitive": clone.primitive, "agent": clone.agent, "kernel": kernel,
        "unpromoted_state": cfg.unpromoted_state, "loaded": False, "units": {}, "target": None, "local_problems": [],
    }
    try:
        alua["loaded"] = backend.loaded()
        if not alua["loaded"]:
            add(status, UNKNOWN, f"{backend.not_loaded()}: this node's ALUA view cannot be read")
            return list(cfg.drbd_resources)
        for port in topology.ports:
            for unit, state in backend.group_states(port.node).items():
                alua["units"].setdefault(unit, {})[port.node] = state
        local = topology.local
        alua["local_problems"] = backend.local_problems(topology) + (backend.target_problems(local) if local else [])
        if local is not None:
            view = backend.target_view(local)
            alua["target"] = {"name": view.name, "enabled": None if view.enabled is None else view.enabled == "1",
                              "portals": list(view.portals), "sessions": view.sessions}
    except OcfError as e:
        add(status, UNKNOWN, f"cannot read this node's {kernel.upper()}: {e.reason}")
    return list(cfg.drbd_resources)


def _backend(kernel: str, raw: dict[str, str], paths: Paths, status: dict[str, Any]) -> tuple[Any, AluaBackend]:
    """The agent's own parameter class and backend, for reading only."""
    env = {f"OCF_RESKEY_{k}": v for k, v in raw.items()}
    if kernel == "scst":
        from alua.agents.scst import ScstParams
        from alua.targets.scst.backend import ScstBackend, ScstSysfs

        cfg, errors = ScstParams.from_env(env, strict=False)
        backend: AluaBackend = ScstBackend(cfg.device_groups, cfg.target_driver, _Quiet(), sysfs=ScstSysfs(paths.scst))
    else:
        from alua.agents.lio import LioParams
        from alua.targets.lio.backend import LioBackend, LioConfigfs

        cfg, errors = LioParams.from_env(env, strict=False)
        backend = LioBackend(cfg.devices, _Quiet(), fabric=cfg.fabric, tpgt=cfg.tpgt, check_rtpi=bool(cfg.rel_tgt_ids),
                             portals=cfg.portals, configfs=LioConfigfs(paths.lio))
    for error in errors:
        add(status, BROKEN, f"the ALUA primitive's {error.reason}")
    return cfg, backend


def _vg(status: dict[str, Any], clone: str, params: dict[str, str], paths: Paths) -> None:
    from alua.tools import dm

    vg = params.get("volume_group", "")
    if vg:
        status["vgs"][vg] = {"clone": clone, "expected_lvs": params.get("logical_volumes", "").split(),
                             "active_lvs": sorted(dm.active_lvs(vg, paths.sys_block))}


def _drbd(status: dict[str, Any], runner: CommandRunner, names: list[str], paths: Paths) -> None:
    from alua.tools.drbd.reader import DrbdReader

    if not names:
        return
    try:
        found = DrbdReader(runner, proc_drbd=paths.proc_drbd, by_res=paths.by_res).resources(names)
    except OcfError as e:
        add(status, UNKNOWN, f"cannot read DRBD: {e.reason}")
        return
    for name, res in found.items():
        status["drbd"][name] = None if res is None else {
            "role": res.role, "disks": res.disk_states, "resyncing": res.resyncing, "problem": res.problem(),
            "peers": {c.name: {"connection": c.connection_state, "role": c.peer_role,
                               "disks": [pd.peer_disk_state for _, pd in sorted(c.peer_devices.items())]}
                      for c in res.connections.values()},
        }


def main(argv: list[str] | None = None, *, paths: Paths | None = None, runner: CommandRunner | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args in (["-h"], ["--help"]):
        sys.stdout.write(f"{USAGE}\n{__doc__.splitlines()[0]}\n")
        return 0
    if any(a != "--json" for a in args):
        bad = next(a for a in args if a != "--json")
        sys.stderr.write(f"alua-status: unknown option {bad!r}\n{USAGE}\n")
        return 2
    try:
        status = collect(runner or CommandRunner(Deadline(BUDGET_S)), paths)
        if "--json" in args:
            import json

            sys.stdout.write(json.dumps(status, indent=2, sort_keys=True) + "\n")
        else:
            sys.stdout.write(render(status))
        sys.stdout.flush()
        return status["exit_code"]
    except KeyboardInterrupt:
        sys.stderr.write("alua-status: interrupted\n")
    except BrokenPipeError:
        pass
    except Exception as e:  # never a traceback: one line, and "cannot tell"
        sys.stderr.write(f"alua-status: cannot tell: {type(e).__name__}: {e}\n")
    return 3
