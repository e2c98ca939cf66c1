"""Filling the texts of the generated files: ``@name@`` fields, lists of names, plurals."""

from __future__ import annotations

import re

FIELD = re.compile(r"@([a-z][a-z0-9_]*)@")


def fill(text: str, values: dict[str, str]) -> str:
    """``text`` with each ``@name@`` replaced by ``values[name]``; a field without a value is a
    bug of the templates (KeyError), never silently left in a file."""
    return FIELD.sub(lambda m: values[m.group(1)], text)


def names_of(names: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def plural(count: int, word: str) -> str:
    return word if count == 1 else word + "s"


# The operations of the two promotable clones: action timeouts, then each role's monitor
# (interval, timeout): DRBD's and the ALUA agents'.
PROMOTABLE_OPS = {
    "drbd": ((240, 100, 90, 90, 90), ((29, 20), (31, 20))),
    "alua": ((60, 30, 30, 30, 30), ((10, 20), (11, 20))),
}


def promotable_ops(kind: str) -> list[str]:
    """"start timeout=240s interval=0s", ..., "monitor interval=31s timeout=20s role=Unpromoted"."""
    timeouts, monitors = PROMOTABLE_OPS[kind]
    actions = ("start", "stop", "promote", "demote", "notify")
    lines = [f"{action} timeout={t}s interval=0s" for action, t in zip(actions, timeouts)]
    for role, (interval, timeout) in zip(("Promoted", "Unpromoted"), monitors):
        lines.append(f"monitor interval={interval}s timeout={timeout}s role={role}")
    return lines


def crm_ops(kind: str) -> str:
    """crmsh's op lines of a primitive (the last without a continuation)."""
    return " \\\n".join(f"    op {line}" for line in promotable_ops(kind)) + "\n"


def pcs_ops(kind: str, indent: str) -> str:
    """pcs resource create's op arguments, one a line, then --no-default-ops."""
    lines = promotable_ops(kind)
    lines[0] = "op " + lines[0]
    return "".join(f"{indent}{line} \\\n" for line in [*lines, "--no-default-ops"])
