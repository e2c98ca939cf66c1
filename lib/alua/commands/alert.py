"""alua-alert: a Pacemaker alert agent that tells the ALUA agents a node was fenced.

The ALUA agents show a stopped or lost peer's target group in the inactive state. They learn it
from clone notifications, but Pacemaker sends none when the node was fenced before its
scheduler ran (dlm_controld's or alua-fence-peer's fencing): the node's resources then simply
vanish (lab Finding 23). Pacemaker runs this agent on every node, as hacluster, for each event
it is configured for (crm/: fencing events only); for a successful fencing it writes the marker
file RECIPIENT/NODE (RECIPIENT: the alert's recipient, a directory the ALUA agents create),
whose change the agents' next monitor applies: the node's group goes to the inactive state. A
node that merely left the membership is not marked: in maintenance mode its resources go on
running.

Every other event is ignored.  Exit 0 when handled or ignored, 1 with a message on standard
error (Pacemaker logs it) when the event or the recipient is unusable.
"""

from __future__ import annotations

import os
import sys

from alua.host.state import FencedPeers
from alua.host.validate import check_node_name

FENCING_ACTIONS = ("off", "reboot")  # not "on": an unfencing


def marks(env: dict[str, str]) -> str:
    """The node an event says was fenced, '' for any other event."""
    kind, node = env.get("CRM_alert_kind", ""), env.get("CRM_alert_node", "")
    if kind != "fencing" or env.get("CRM_alert_rc", "") != "0":
        return ""
    # Pacemaker passes the fencer's operation (st_fence) as the task and the action only in
    # the description: "Operation reboot of NODE by NODE for CLIENT@NODE: OK (ref=...)"
    words = env.get("CRM_alert_desc", "").split()
    action = words[1] if len(words) > 1 and words[0] == "Operation" else env.get("CRM_alert_task", "")
    return node if action in FENCING_ACTIONS else ""


def main(env: dict[str, str] | None = None) -> int:
    env = dict(os.environ) if env is None else env
    node = marks(env)
    if not node:
        return 0
    try:
        check_node_name(node)
    except ValueError as e:
        sys.stderr.write(f"alua-alert: CRM_alert_node {node!r}: {e}\n")
        return 1
    recipient = env.get("CRM_alert_recipient", "")
    if not os.path.isabs(recipient) or not os.path.isdir(recipient):
        sys.stderr.write(f"alua-alert: recipient {recipient!r}: not an existing directory (the ALUA agents "
                         "create it when they start)\n")
        return 1
    try:
        FencedPeers(recipient).mark(node, f"{env.get('CRM_alert_kind')} {env.get('CRM_alert_timestamp_epoch', '')}")
    except OSError as e:
        sys.stderr.write(f"alua-alert: cannot write the marker for {node} in {recipient}: {e.strerror}\n")
        return 1
    return 0
