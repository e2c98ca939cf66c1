"""``crm_mon --output-as=xml`` parsed: the nodes, the DC and quorum, each clone's instances by agent.

Parsers only: the caller runs crm_mon (one call gives everything alua-status shows of Pacemaker).
Pacemaker before 2.1 names the promotable roles Master/Slave; both spellings come out as
Promoted/Unpromoted.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from alua import Record

PROMOTED, UNPROMOTED, STARTED, STOPPED = "Promoted", "Unpromoted", "Started", "Stopped"
ONLINE, OFFLINE, STANDBY = "online", "offline", "standby"
_ROLES = {"Master": PROMOTED, "Slave": UNPROMOTED}


class ClusterNode(Record):
    """A cluster node as crm_mon shows it: online, offline or standby (online but in standby)."""

    __slots__ = ("name", "state", "unclean")

    def __init__(self, name: str, state: str, unclean: bool = False) -> None:
        self.name, self.state, self.unclean = name, state, unclean


class CloneView(Record):
    """One clone: its id, its primitive, the primitive's agent (ocf:alua:scst) and node -> role."""

    __slots__ = ("id", "primitive", "agent", "roles", "failed")

    def __init__(self, clone_id: str, primitive: str, agent: str) -> None:
        self.id, self.primitive, self.agent = clone_id, primitive, agent
        self.roles: dict[str, str] = {}
        self.failed: list[str] = []

    def role_of(self, node: str) -> str:
        return self.roles.get(node, STOPPED)

    @property
    def promoted(self) -> list[str]:
        return sorted(n for n, role in self.roles.items() if role == PROMOTED)


class CrmMon:
    """What one crm_mon XML document says (``root`` kept for the CIB part, if it carries one)."""

    def __init__(self, root: ET.Element) -> None:
        self.root = root
        dc = root.find("./summary/current_dc")
        self.dc = dc.get("name") if dc is not None and dc.get("present") == "true" else None
        self.quorate = dc is not None and dc.get("with_quorum") == "true"
        self.nodes: dict[str, ClusterNode] = {}
        for node in root.iterfind("./nodes/node"):
            if node.get("type", "member") != "member":
                continue
            online = node.get("online") == "true"
            state = (STANDBY if node.get("standby") == "true" else ONLINE) if online else OFFLINE
            name = node.get("name", "")
            self.nodes[name] = ClusterNode(name, state, node.get("unclean") == "true")
        self.clones: list[CloneView] = []
        for clone in root.iter("clone"):
            for rsc in clone.iter("resource"):
                agent, primitive = rsc.get("resource_agent", ""), rsc.get("id", "").split(":")[0]
                view = next((c for c in self.clones if c.id == clone.get("id") and c.primitive == primitive), None)
                if view is None:
                    view = CloneView(clone.get("id", ""), primitive, agent)
                    self.clones.append(view)
                if rsc.get("active") != "true":
                    continue
                role = rsc.get("role", "")
                for where in rsc.iterfind("node"):
                    view.roles[where.get("name", "")] = _ROLES.get(role, role)
                    if rsc.get("failed") == "true":
                        view.failed.append(where.get("name", ""))
        self.failures = [
            f"{f.get('op_key')} on {f.get('node')}: {f.get('exitreason') or f.get('exitstatus')}"
            for f in root.iter("failure")
        ]

    @classmethod
    def parse(cls, text: str) -> CrmMon:
        """Raise ValueError unless text is crm_mon's XML."""
        try:
            root = ET.fromstring(text)
        except ET.ParseError as e:
            raise ValueError(f"crm_mon printed no XML ({e})") from None
        if root.tag not in ("pacemaker-result", "crm_mon"):
            raise ValueError(f"crm_mon printed <{root.tag}>, not its status")
        return cls(root)

    def clones_of(self, *agents: str) -> list[CloneView]:
        """The clones whose primitive runs one of the agents ("ocf:alua:scst"), in crm_mon's order."""
        return [c for c in self.clones if c.agent in agents]


def error_text(text: str) -> str | None:
    """What a failed crm_mon --output-as=xml says: its last error line, else its status message."""
    try:
        status = ET.fromstring(text).find("./status")
    except ET.ParseError:
        return None
    if status is None:
        return None
    errors = [e.text.strip() for e in status.iter("error") if e.text and e.text.strip()]
    return errors[-1] if errors else status.get("message")
