"""The lab's power switch, host side: answers guest/fence_lab through the share.

A storage node's fencer writes ``share/fence/<id>.req`` ({"action", "node",
"by"}); this service (a thread of the lab driver) powers the node off the
way the node-failure stage does (SIGKILL of the instance's process group),
records the fencing, and writes ``<id>.res`` atomically.  It never powers a
node on: the lab boots nodes.  Every request is answered, also wrong ones.
The agent (a shell script: no rename, no rm on the survivor's frozen path)
writes the request in place, so one that does not parse yet is looked at
again until it is PARTIAL_GRACE seconds old; answers are collected once the
agent has had ANSWER_KEPT seconds to read them, and when the service stops.
"""

from __future__ import annotations

import json
import os
import threading
import time

from . import topology as T
from .lab import log

POLL = 0.02  # the fencing is on the survivor's I/O freeze path
PARTIAL_GRACE = 5.0  # a request still being written, at most
ANSWER_KEPT = 120.0  # the agent waits 60 s at most


class FenceService(threading.Thread):
    def __init__(self, lab, results) -> None:  # noqa: ANN001
        super().__init__(name="lab-fence", daemon=True)
        self.lab = lab
        self.r = results
        self.dir = lab.check(os.path.join(lab.share, "fence"))
        os.makedirs(self.dir, exist_ok=True)
        self.done = threading.Event()
        self.records: list[dict] = []

    def stop(self) -> None:
        self.done.set()
        if self.is_alive():
            self.join(timeout=5)
        self.collect(0.0)

    def run(self) -> None:
        while not self.done.is_set():
            for name in sorted(os.listdir(self.dir)):
                if name.endswith(".req"):
                    self.serve(os.path.join(self.dir, name))
            self.collect(ANSWER_KEPT)
            self.done.wait(POLL)

    def collect(self, age: float) -> None:
        """Remove the answers older than age seconds."""
        now = time.time()
        for name in os.listdir(self.dir):
            path = os.path.join(self.dir, name)
            try:
                if name.endswith(".res") and now - os.stat(path).st_mtime >= age:
                    os.unlink(path)
            except FileNotFoundError:
                pass

    def serve(self, path: str) -> None:
        rid = os.path.basename(path)[:-4]
        try:
            with open(path) as f:
                req = json.load(f)
            answer = self.answer(req)
        except ValueError as e:
            try:
                if time.time() - os.stat(path).st_mtime < PARTIAL_GRACE:
                    return  # being written: looked at again on the next round
            except FileNotFoundError:
                return
            answer = {"ok": False, "error": f"bad request: {e}"}
        except (OSError, KeyError, TypeError) as e:
            answer = {"ok": False, "error": f"bad request: {e}"}
        res = os.path.join(self.dir, f"{rid}.res")
        tmp = res + ".tmp"
        with open(tmp, "w") as f:
            json.dump(answer, f)
        os.rename(tmp, res)
        os.unlink(path)

    def answer(self, req: dict) -> dict:
        action, node, by = req["action"], req["node"], req.get("by", "?")
        inst = self.lab.instances.get(node)
        if node not in T.STORAGE or inst is None:
            return {"ok": False, "error": f"{node} is not a storage node of this lab"}
        if action == "status":
            return {"ok": True, "on": inst.running()}
        if action == "on":
            if inst.running():
                return {"ok": True, "on": True, "result": "already on"}
            return {"ok": False, "error": "the lab's switch cannot power a node on (the lab boots nodes)"}
        if action not in ("off", "reboot"):
            return {"ok": False, "error": f"unknown action {action!r}"}
        t = time.time()
        was_on = inst.running()
        if was_on:
            inst.kill()
        result = "powered off" if was_on else "already off"
        record = {"t": t, "node": node, "action": action, "by": by, "result": result}
        self.records.append(record)
        self.r.facts.setdefault("fencing", []).append(record)
        self.r.event(f"{node} fenced by {by} ({result})", t)
        log(f"fence: {action} {node} asked by {by}: {result}")
        return {"ok": True, "result": result}
