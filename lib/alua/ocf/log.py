"""Logging the way ocf_log does it: syslog, HA_LOGFILE/HA_DEBUGLOG, and stderr.

Syslog is opened lazily, so an action that logs nothing (a healthy monitor)
pays nothing for it.
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from alua.ocf.environment import OcfEnvironment

_LEVELS = {"debug": 7, "info": 6, "warning": 4, "error": 3, "crit": 2}


class Logger:
    """Writes each message to every sink Pacemaker's environment asks for."""

    def __init__(self, env: OcfEnvironment, *, stderr: bool = True) -> None:
        self._tag = env.instance
        self._agent = env.agent_name
        self._debug = env.debug
        self._logfile = env.logfile
        self._debuglog = env.debuglog
        self._facility = env.logfacility
        self._stderr = stderr
        self._syslog_open = False

    def debug(self, msg: str) -> None:
        if self._debug:
            self._emit("debug", msg)

    def info(self, msg: str) -> None:
        self._emit("info", msg)

    def warning(self, msg: str) -> None:
        self._emit("warning", msg)

    def error(self, msg: str) -> None:
        self._emit("error", msg)

    def _emit(self, level: str, msg: str) -> None:
        line = f"{level.upper()}: {msg}"
        self._to_syslog(level, line)
        stamp = time.strftime("%b %d %H:%M:%S")
        record = f"{stamp} {self._agent}({self._tag})[{os.getpid()}]: {line}\n"
        if level != "debug" and self._logfile:
            _append(self._logfile, record)
        if self._debuglog and (level == "debug" or self._debuglog != self._logfile):
            _append(self._debuglog, record)
        if self._stderr:
            try:
                sys.stderr.write(f"{line}\n")
                sys.stderr.flush()
            except OSError:
                pass

    def _to_syslog(self, level: str, line: str) -> None:
        if self._facility == "none":
            return
        import syslog

        if not self._syslog_open:
            facility = getattr(syslog, "LOG_" + self._facility.upper(), syslog.LOG_DAEMON)
            syslog.openlog(self._tag, syslog.LOG_PID, facility)
            self._syslog_open = True
        syslog.syslog(_LEVELS[level], line)


def _append(path: str, record: str) -> None:
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(record)
    except OSError:
        pass  # a log file we cannot write must never fail the action
