#!/usr/bin/python3
"""Command channel of one lab instance over the hostfs share.

The host drops <id>.req (JSON: argv or sh, timeout, env) into
/lab/nodes/<node>/cmd/; this agent claims it (rename to .run), runs it with
the timeout (killing its process group when it expires) and writes
<id>.res (JSON: rc, stdout, stderr, t0, t1) atomically.  Commands run in
threads, so a long one (fio) does not block the others.  At start it writes
ready.json (boot id, time) and runs autostart.sh if the host left one.
"""

import json
import os
import signal
import subprocess
import threading
import time

with open("/proc/cmdline") as f:
    NODE = [w.split("=", 1)[1] for w in f.read().split() if w.startswith("lab.node=")][0]
DIR = f"/lab/nodes/{NODE}"
CMD = f"{DIR}/cmd"


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


def run(ident):
    run_path = f"{CMD}/{ident}.run"
    try:
        with open(run_path) as f:
            req = json.load(f)
    except (OSError, ValueError) as e:
        write_json(f"{CMD}/{ident}.res", {"rc": -2, "stdout": "", "stderr": f"bad request: {e}", "t0": 0, "t1": 0})
        return
    argv = req["argv"] if "argv" in req else ["/bin/sh", "-c", req["sh"]]
    env = dict(os.environ, PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL="C.UTF-8")
    env.update(req.get("env", {}))
    t0 = time.time()
    try:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=env, start_new_session=True, cwd="/")
    except OSError as e:
        write_json(f"{CMD}/{ident}.res", {"rc": 127, "stdout": "", "stderr": str(e), "t0": t0, "t1": time.time()})
        return
    try:
        out, err = p.communicate(timeout=req.get("timeout", 60))
        rc = p.returncode
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        rc = -1
        err += b"\nlab-agent: timed out\n"
    write_json(f"{CMD}/{ident}.res", {"rc": rc, "stdout": out.decode(errors="replace"),
                                       "stderr": err.decode(errors="replace"), "t0": t0, "t1": time.time()})
    try:
        os.unlink(run_path)
    except OSError:
        pass


def main():
    os.makedirs(CMD, exist_ok=True)
    with open("/proc/sys/kernel/random/boot_id") as f:
        boot_id = f.read().strip()
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    write_json(f"{DIR}/ready.json", {"boot_id": boot_id, "time": time.time(), "uptime": uptime})
    if os.path.exists(f"{DIR}/autostart.sh"):
        with open(f"{DIR}/autostart.log", "ab") as log:
            subprocess.Popen(["/bin/sh", f"{DIR}/autostart.sh"], stdout=log, stderr=log, start_new_session=True)
    while True:
        try:
            names = os.listdir(CMD)
        except OSError:
            names = []
        for name in names:
            if name.endswith(".req"):
                ident = name[:-4]
                try:
                    os.rename(f"{CMD}/{name}", f"{CMD}/{ident}.run")
                except OSError:
                    continue
                threading.Thread(target=run, args=(ident,), daemon=True).start()
        time.sleep(0.1)


main()
