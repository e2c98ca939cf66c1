#!/usr/bin/python3
"""Time commands by spawning them, interleaved, and report wall time and peak memory.

Reads a JSON spec on stdin: {"runs": N, "warmup": W, "commands": {LABEL:
{"argv": [...], "env": {...}}}} and prints {"samples": {LABEL: [[seconds,
exit_code], ...]}, "peak_kib": {LABEL: KiB}}.  Peak memory comes from one
extra run under GNU time: a child spawned from this Python process would
inherit its parent's high-water mark.  It is spawned inside the namespace under test (nsenter),
so the baseline and the agent start the same way.  Interleaving the commands
keeps a busy machine from favouring one of them.
"""

from __future__ import annotations

import json
import os
import sys
import time


_QUIET = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0), (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)]


def spawn(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    started = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=_QUIET)
    _, status = os.waitpid(pid, 0)
    return time.perf_counter() - started, os.waitstatus_to_exitcode(status)


def peak_kib(argv: list[str], env: dict[str, str]) -> int:
    read, write = os.pipe()
    actions = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0), (os.POSIX_SPAWN_DUP2, write, 2)]
    pid = os.posix_spawn("/usr/bin/time", ["/usr/bin/time", "-f", "%M", *argv], env, file_actions=actions)
    os.close(write)
    with os.fdopen(read) as f:
        output = f.read()
    os.waitpid(pid, 0)
    return int(output.strip().splitlines()[-1])


def main() -> None:
    spec = json.load(sys.stdin)
    commands = spec["commands"]
    samples: dict[str, list[tuple[float, int]]] = {label: [] for label in commands}
    for i in range(spec.get("warmup", 3) + spec["runs"]):
        for label, command in commands.items():
            result = spawn(command["argv"], command.get("env", {}))
            if i >= spec.get("warmup", 3):
                samples[label].append(result)
    peaks = {label: peak_kib(c["argv"], c.get("env", {})) for label, c in commands.items()}
    json.dump({"samples": samples, "peak_kib": peaks}, sys.stdout)


if __name__ == "__main__":
    main()
