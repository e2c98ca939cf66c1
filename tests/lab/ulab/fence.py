"""The lab's power switch, host side: answers guest/fence_lab through the share.

A storage node's fencer writes ``share/fence/<id>.req`` ({"action", "node",
"by"}); this service (a thread of the lab driver) powers the node off the
way the node-failure stage does (SIGKILL of the instance's process group),
records the fencing, and writes ``<id>.res`` atomically.  It never powers a
node on: the lab boots nodes.  Every request is answered, also wrong ones.
"""

from __future__ import annotations

import json
import os
import threading
import time

from . import topology as T
from .lab import log

POLL = 0.02  # the fencing is on the survivor's I/O freeze path


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
        self.join(timeout=5)

    def run(self) -> None:
        while not self.done.is_set():
            for name in sorted(os.listdir(self.dir)):
                if name.endswith(".req"):
                    self.serve(os.path.join(self.dir, name))
            self.done.wait(POLL)

    def serve(self, path: str) -> None:
        try:
            with open(path) as f:
                req = json.load(f)
            answer = self.answer(req)
        except (OSError, ValueError, KeyError) as e:
            req, answer = {"id": os.path.basename(path)[:-4]}, {"ok": False, "error": f"bad request: {e}"}
        res = os.path.join(self.dir, f"{req['id']}.res")
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
