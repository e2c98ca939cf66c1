"""Meta-data XML, built with lxml from the agent's one declaration.

Only the ``meta-data`` action imports this module (and lxml with it).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from alua.ocf.declaration import Agent

DOCTYPE = '<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">'
OCF_VERSION = "1.1"


def _etree() -> Any:
    """lxml, also when the agent runs under ``python3 -S`` (no site-packages on sys.path)."""
    try:
        from lxml import etree
    except ImportError:
        import site

        site.main()
        from lxml import etree
    return etree


def _text(etree: Any, parent: Any, tag: str, text: str, **attrib: str) -> Any:
    element = etree.SubElement(parent, tag, attrib)
    element.text = text
    return element


def build_metadata(agent: Agent) -> bytes:
    """The agent's meta-data document (valid for ra-api-1.dtd and metadata.rng)."""
    etree = _etree()
    root = etree.Element("resource-agent", name=agent.name, version=agent.version)
    _text(etree, root, "version", OCF_VERSION)
    _text(etree, root, "longdesc", agent.longdesc, lang="en")
    _text(etree, root, "shortdesc", agent.shortdesc, lang="en")
    parameters = etree.SubElement(root, "parameters")
    for param in agent.params.declared():
        element = etree.SubElement(
            parameters,
            "parameter",
            name=param.name,
            unique="1" if param.unique else "0",
            required="1" if param.required else "0",
        )
        _text(etree, element, "longdesc", param.longdesc, lang="en")
        _text(etree, element, "shortdesc", param.shortdesc, lang="en")
        content = etree.SubElement(element, "content", type=param.content)
        if param.default_text is not None:
            content.set("default", param.default_text)
    actions = etree.SubElement(root, "actions")
    for action in agent.advertised_actions():
        attrib = {"name": action.name, "timeout": f"{action.timeout}s"}
        if action.interval is not None:
            attrib["interval"] = f"{action.interval}s"
        if action.depth is not None:
            attrib["depth"] = str(action.depth)
        if action.role is not None:
            attrib["role"] = action.role
        etree.SubElement(actions, "action", attrib)
    # No encoding in the declaration: crmsh parses meta-data as a str, and lxml refuses such a str.
    xml: bytes = b'<?xml version="1.0"?>\n' + etree.tostring(root, encoding="UTF-8", doctype=DOCTYPE, pretty_print=True)
    return xml
