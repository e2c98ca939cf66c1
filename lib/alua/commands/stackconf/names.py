"""The admin's names, checked with the agents' own rules, and the Stack they describe.

Every value is checked by the function the agent that receives it uses (node names,
IQNs, addresses and portals, DRBD resource, VG and LV names, LIO serials); then the
parameters the stack gives ocf:alua:scst or ocf:alua:lio are parsed by that agent's own
parameter declarations, so nothing is written that the agent would refuse. A few rules
are the output's own: names that go into resource ids (Pacemaker's XML ids) and values
written into crm, shell and XML text without quoting.
"""

from __future__ import annotations

from alua import Record
from alua.host.validate import charset, check_characters, check_node_name
from alua.ocf.params import check_item, reject_control_chars

BACKENDS = ("scst", "lio")
DEFAULT_PORT = "3260"
# Part of a resource id (p_lvm_VG, p_lu_NAME): what an XML id may hold after "p_".
_ID_CHARS = charset("_.-")
# Written as they are into crm, shell and XML text: no quoting needed anywhere.
_PLAIN_CHARS = charset("_.:@+-/,")
_FENCE_PARAM_CHARS = charset("_-")


class UsageError(Exception):
    """A bad or missing value: ``where`` names the option (or the config file's key)."""

    def __init__(self, where: str, value: str | None, problem: str) -> None:
        shown = "" if value is None else f" {value!r}"
        super().__init__(f"{where}{shown}: {problem}")


class Lun(Record):
    """One LUN: its name (the SCST device; LIO's p_lu_NAME), its LV in the VG, its unit serial."""

    __slots__ = ("name", "lv", "serial")

    def __init__(self, name: str, lv: str, serial: str) -> None:
        self.name, self.lv, self.serial = name, lv, serial

    def path(self, vg: str) -> str:
        return f"/dev/{vg}/{self.lv}"


class Fence(Record):
    """A node's fence device: the stonith agent and its NAME=VALUE parameters."""

    __slots__ = ("agent", "params")

    def __init__(self, agent: str, params: tuple[tuple[str, str], ...]) -> None:
        self.agent, self.params = agent, params

    def _pairs(self, host: str) -> list[tuple[str, str]]:
        given = dict(self.params)
        return ([] if "pcmk_host_list" in given else [("pcmk_host_list", host)]) + list(self.params)

    def crm_params(self, node: str) -> str:
        return " ".join(f"{k}={v}" if v else f'{k}=""' for k, v in self._pairs(node))

    def pcs_params(self, node_var: str) -> str:
        return " ".join(f'{k}="{v}"' if v.startswith("$") else f"{k}={v}" for k, v in self._pairs(node_var))


class Stack(Record):
    __slots__ = ("backends", "node1", "node2", "iqn1", "iqn2", "addresses1", "addresses2", "port", "vg", "drbd",
                 "luns", "fences")

    def __init__(self, **values: object) -> None:
        for name in self.__slots__:
            setattr(self, name, values[name])

    def portals(self, node: int) -> tuple[str, ...]:
        """LIO's ADDRESS:PORT (IPv6 in brackets) of node 1 or 2."""
        addresses = self.addresses1 if node == 1 else self.addresses2
        return tuple(f"[{a}]:{self.port}" if ":" in a else f"{a}:{self.port}" for a in addresses)


def check_id_part(name: str) -> None:
    check_characters(name, _ID_CHARS, "goes into resource ids, which cannot have {bad!r}")


def check_plain(value: str) -> None:
    check_characters(value, _PLAIN_CHARS, "contains {bad!r}, which alua-config does not write into the configuration")


def _backends(raw: str) -> tuple[str, ...]:
    names = tuple(raw.replace(",", " ").split())
    for name in names:
        if name not in BACKENDS:
            raise ValueError(f"names backend {name!r}: the backends are {' and '.join(BACKENDS)}")
    if not names:
        raise ValueError("names no backend")
    if len(set(names)) != len(names):
        raise ValueError("names a backend twice")
    return names


def _target_checks(backends: tuple[str, ...]) -> list:
    checks = [reject_control_chars]
    if "scst" in backends:
        from alua.targets.scst.backend import check_name

        checks.append(check_name)
    if "lio" in backends:
        from alua.targets.lio.names import check_name as check_lio_name

        checks.append(check_lio_name)
    return checks


def _addresses(raw: str, backends: tuple[str, ...], port: str) -> tuple[str, ...]:
    from alua.targets.lio.names import check_portal
    from alua.targets.scst.layer_params import check_address

    addresses = tuple(raw.split(","))
    for address in addresses:
        reject_control_chars(address)
        if "scst" in backends:
            _check_named(check_address, address, "address")
        if "lio" in backends:
            _check_named(check_portal, f"[{address}]:{port}" if ":" in address else f"{address}:{port}", "portal")
    return addresses


def _check_named(check, item: str, what: str) -> None:
    """check_item, unless the check's reason already names the item ("has address ...")."""
    try:
        check(item)
    except ValueError as e:
        if str(e).startswith("has "):
            raise
        raise ValueError(f"has {what} {item!r} that {e}") from None


def _check_port(port: str) -> None:
    from alua.targets.lio.names import check_portal

    check_portal(f"192.0.2.1:{port}")  # LIO's rule for the port of a portal


def _lun(entry: str, backends: tuple[str, ...]) -> Lun:
    """NAME=LV[:SERIAL]."""
    from alua.tools.lvm import check_lv_name

    name, sep, rest = entry.partition("=")
    lv, _, serial = rest.partition(":")
    if not sep or not lv:
        raise ValueError(f"has {entry!r}: expected NAME=LV or NAME=LV:SERIAL (e.g. vg1=lun1:509f7d73)")
    for check in _target_checks(backends)[1:]:
        check_item(check, name, "LUN name")
    if "lio" in backends:
        check_item(check_id_part, name, "LUN name")
    check_item(check_lv_name, lv, "LV name")
    if "lio" in backends:
        from alua.targets.lio.names import check_serial

        if not serial:
            raise ValueError(f"has {entry!r} without a unit serial (NAME=LV:SERIAL), which LIO needs")
        check_item(check_serial, serial, "serial")
    if serial:
        check_item(check_plain, serial, "serial")
    return Lun(name, lv, serial)


def _luns(raw: str, backends: tuple[str, ...]) -> tuple[Lun, ...]:
    luns = tuple(_lun(entry, backends) for entry in raw.split())
    if not luns:
        raise ValueError("names no LUN")
    for what in ("name", "lv", "serial"):
        values = [getattr(lun, what) for lun in luns if getattr(lun, what)]
        for value in values:
            if values.count(value) > 1:
                word = {"name": "LUN name", "lv": "LV", "serial": "serial (multipath tells LUNs apart by it)"}[what]
                raise ValueError(f"gives two LUNs the same {word} {value!r}")
    return luns


def _fence(raw: str) -> Fence:
    """AGENT NAME=VALUE ..."""
    agent, *words = raw.split()
    check_item(lambda a: check_characters(a, charset("_.-/"), "contains {bad!r}"), agent, "fence agent")
    pairs = []
    for word in words:
        name, sep, value = word.partition("=")
        if not sep:
            raise ValueError(f"has {word!r}: expected AGENT NAME=VALUE ...")
        check_item(lambda n: check_characters(n, _FENCE_PARAM_CHARS, "contains {bad!r}"), name, "parameter name")
        if value:
            check_item(check_plain, value, "value", f" for {name}")
        pairs.append((name, value))
    return Fence(agent, tuple(pairs))


# What each value is. The keys are the long options without "--" and the config file's keys.
KEYS = {
    "backend": "the target backend(s): scst, lio or scst,lio (default scst)",
    "node1": "the first node's name (as Pacemaker knows it)",
    "node2": "the second node's name",
    "iqn1": "the first node's iSCSI target name",
    "iqn2": "the second node's iSCSI target name",
    "portals1": "the first node's portal addresses, comma-separated (IPv4 or IPv6, no port)",
    "portals2": "the second node's portal addresses",
    "port": "LIO's iSCSI port (default 3260)",
    "vg": "the shared volume group (also the SCST device group and in the resource ids)",
    "drbd": "the DRBD resource under the volume group (default: the VG's name)",
    "lun": "a LUN: NAME=LV or NAME=LV:SERIAL (LIO needs the unit serial); repeat for more",
    "fence1": "the first node's fence device: 'AGENT NAME=VALUE ...' (optional)",
    "fence2": "the second node's fence device (optional)",
}
REQUIRED = ("node1", "node2", "iqn1", "iqn2", "portals1", "portals2", "vg", "lun")


def build(values: dict[str, str], where: dict[str, str]) -> Stack:
    """The Stack from raw values (key -> text); ``where[key]`` names the key's source in reasons.
    Raises UsageError for the first bad or missing value."""

    def get(key: str, check=None, default: str | None = None):
        raw = values.get(key)
        if raw is None:
            if default is None and key in REQUIRED:
                raise UsageError(where[key], None, f"is missing ({KEYS[key]})")
            raw = default
        if raw is None:
            return None
        try:
            if raw != raw.strip() or not raw:
                raise ValueError("is empty" if not raw.strip() else "has leading or trailing white space")
            return check(raw) if check else raw
        except ValueError as e:
            raise UsageError(where[key], raw, str(e)) from None

    from alua.tools.drbd import check_resource_name
    from alua.tools.lvm import check_vg_name

    def checked(*checks):
        def run(raw: str) -> str:
            for check in checks:
                check(raw)
            return raw
        return run

    backends = get("backend", _backends, "scst")
    node1 = get("node1", checked(check_node_name))
    node2 = get("node2", checked(check_node_name))
    if node2 == node1:
        raise UsageError(where["node2"], node2, f"is also {where['node1']}: the two nodes need two names")
    iqn1 = get("iqn1", checked(*_target_checks(backends)))
    iqn2 = get("iqn2", checked(*_target_checks(backends)))
    if iqn2 == iqn1:
        raise UsageError(where["iqn2"], iqn2, f"is also {where['iqn1']}: each node needs its own target")
    port = get("port", checked(_check_port) if "lio" in backends else None, DEFAULT_PORT)
    addresses1 = get("portals1", lambda raw: _addresses(raw, backends, port))
    addresses2 = get("portals2", lambda raw: _addresses(raw, backends, port))
    vg = get("vg", checked(check_vg_name, check_id_part))
    drbd = get("drbd", checked(check_resource_name), vg)
    luns = get("lun", lambda raw: _luns(raw, backends))
    fences = tuple((node, get(key, _fence)) for node, key in ((node1, "fence1"), (node2, "fence2")) if key in values)
    stack = Stack(backends=backends, node1=node1, node2=node2, iqn1=iqn1, iqn2=iqn2, addresses1=addresses1,
                  addresses2=addresses2, port=port, vg=vg, drbd=drbd, luns=luns, fences=fences)
    agent_checks(stack, where)
    return stack


# Which values make each parameter of the ALUA agents, to name them when the agent refuses it.
AGENT_PARAMS = {
    "targets": ("iqn1", "iqn2"),
    "portals": ("portals1", "portals2"),
    "devices": ("lun",),
    "device_groups": ("vg", "lun"),
    "drbd_resources": ("drbd",),
}


def agent_params(stack: Stack, backend: str) -> dict[str, str]:
    """The parameters of ocf:alua:BACKEND in the stack, as crm and pcs write them."""
    out = {
        "targets": f"{stack.node1}={stack.iqn1} {stack.node2}={stack.iqn2}",
        "drbd_resources": stack.drbd,
    }
    names = [lun.name for lun in stack.luns]
    if backend == "scst":
        out["device_groups"] = stack.vg if names == [stack.vg] else f"{stack.vg}={','.join(names)}"
        out["devices"] = " ".join(f"{lun.name}={lun.path(stack.vg)}" for lun in stack.luns)
        out["portals"] = f"{stack.node1}={','.join(stack.addresses1)} {stack.node2}={','.join(stack.addresses2)}"
    else:
        out["devices"] = " ".join(f"*/p_lu_{lun.name}={lun.serial}" for lun in stack.luns)
        out["portals"] = f"{stack.node1}={','.join(stack.portals(1))} {stack.node2}={','.join(stack.portals(2))}"
    return out


def agent_checks(stack: Stack, where: dict[str, str]) -> None:
    """Each ALUA agent's parameters parsed by the agent's own declaration (ScstParams, LioParams)
    and, for SCST, its target layer's cross-checks."""
    from alua.ocf.errors import ConfigError

    for backend in stack.backends:
        if backend == "scst":
            from alua.agents.scst import ScstParams as declared
        else:
            from alua.agents.lio import LioParams as declared
        raw = agent_params(stack, backend)
        try:
            parsed = {name: getattr(declared, name).convert(value) for name, value in raw.items()}
            if backend == "scst":
                from alua.targets.scst.layer_params import check_layer_params

                check_layer_params(parsed["device_groups"], parsed["devices"], (), parsed["portals"])
        except ConfigError as e:
            options = "/".join(where[key] for key in AGENT_PARAMS[e.param])
            raise UsageError(options, None,
                             f"ocf:alua:{backend} refuses its parameter {e.param}: {e.problem}") from None
