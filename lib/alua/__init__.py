"""alua: Pacemaker OCF resource agents for highly available iSCSI ALUA storage.

The package has no side effects at import: agents import only what the
action they run needs (``monitor`` never imports lxml).
"""

__version__ = "0.1.0"
