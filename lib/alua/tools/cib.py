"""Pacemaker's CIB as alua's commands read it: node states, the DC, the DRBD clone, and the
constraint LINBIT's crm-fence-peer.sh places.  Parsers only: no commands run here."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

FENCED, ALIVE, LOST, UNKNOWN = "fenced", "alive", "lost", "unknown"


def classify(node_state: ET.Element | None) -> str:
    """One CIB node_state -> fenced / alive (a member with its controller online) / lost / unknown.

    "fenced" is what crm-fence-peer.sh itself takes for fenced: after a fencing, Pacemaker
    records the node as not in the membership, controller offline, expected down."""
    if node_state is None:
        return UNKNOWN
    in_ccm, crmd, expected = (node_state.get(k, "") for k in ("in_ccm", "crmd", "expected"))
    if in_ccm == "false" and crmd == "offline" and expected == "down":
        return FENCED
    if in_ccm == "true" and crmd == "online":
        return ALIVE
    return LOST


class CibView:
    """One CIB (``cibadmin --query``, whole or one scope), read-only; every answer is empty or
    UNKNOWN when the text was not a CIB."""

    def __init__(self, root: ET.Element | None) -> None:
        self.root = root

    @classmethod
    def parse(cls, text: str | None) -> CibView:
        try:
            return cls(ET.fromstring(text)) if text else cls(None)
        except ET.ParseError:
            return cls(None)

    def _iter(self, tag: str):
        return self.root.iter(tag) if self.root is not None else iter(())

    def node_state(self, uname: str) -> ET.Element | None:
        return next((ns for ns in self._iter("node_state") if ns.get("uname") == uname), None)

    def state_of(self, uname: str) -> str:
        return classify(self.node_state(uname))

    def members(self) -> list[str]:
        """Cluster node names (ping nodes and remote nodes left out)."""
        return [n.get("uname", "") for n in self._iter("node")
                if n.get("type", "member") == "member" and n.get("uname")]

    def node_id(self, uname: str) -> str:
        for tag in ("node", "node_state"):
            for n in self._iter(tag):
                if n.get("uname") == uname and n.get("id"):
                    return n.get("id", "")
        return ""

    @property
    def dc_uuid(self) -> str:
        return self.root.get("dc-uuid", "") if self.root is not None else ""

    def dc_is(self, uname: str) -> bool:
        """Whether the CIB still names `uname` as the DC (true until a new DC has taken over)."""
        return bool(self.dc_uuid) and self.dc_uuid == self.node_id(uname)

    def promotable_of(self, drbd_resource: str) -> str:
        """The id of the clone whose primitive runs DRBD resource `drbd_resource` (what
        crm-fence-peer.sh looks up as master_id), '' unless exactly one."""
        found = []
        for clone in [*self._iter("clone"), *self._iter("master")]:
            if any(nv.get("name") == "drbd_resource" and nv.get("value") == drbd_resource
                   for nv in clone.iter("nvpair")):
                found.append(clone.get("id", ""))
        return found[0] if len(found) == 1 else ""

    def primitive_params(self, primitive: str) -> dict[str, str] | None:
        """A primitive's instance attributes (its parameters), None when the CIB has no such primitive."""
        for rsc in self._iter("primitive"):
            if rsc.get("id") == primitive:
                return {nv.get("name", ""): nv.get("value", "")
                        for attrs in rsc.iterfind("instance_attributes") for nv in attrs.iter("nvpair")}
        return None

    def cluster_property(self, name: str, default: str) -> str:
        """A cluster option (crm_config), as the CIB holds it, or the default."""
        for props in self._iter("cluster_property_set"):
            for nv in props.iter("nvpair"):
                if nv.get("name") == name and nv.get("value"):
                    return nv.get("value", default)
        return default


def promoted_nodes(locate_text: str) -> set[str]:
    """``crm_resource --resource CLONE --locate`` -> the nodes where it is promoted."""
    out = set()
    for line in locate_text.splitlines():
        m = re.match(r"resource \S+ is running on: (\S+) (Promoted|Master)\b", line.strip())
        if m:
            out.add(m.group(1))
    return out


FENCE_ID_PREFIX = "drbd-fence-by-handler"


def fencing_constraint_id(resource: str, master_id: str) -> str:
    return f"{FENCE_ID_PREFIX}-{resource}-{master_id}"


def fencing_constraint(resource: str, master_id: str, me: str) -> str:
    """Exactly the constraint crm-fence-peer.sh places (so crm-unfence-peer.sh removes it): the
    DRBD clone may be promoted on no node but this one until the peer has resynced."""
    prefix = f"{FENCE_ID_PREFIX}-{resource}"
    return (f'<rsc_location rsc="{master_id}" id="{prefix}-{master_id}">'
            f'<rule role="Master" score="-INFINITY" id="{prefix}-rule-{master_id}">'
            f'<expression attribute="#uname" operation="ne" value="{me}" id="{prefix}-expr-{master_id}"/>'
            f'</rule></rsc_location>')
