"""The lab's stages: the seed article's set-up and TESTING section, on real kernels.

Each stage records (name, status, seconds, details) in Results; a stage runs
only if the ones it needs passed, and a stage that did not run is reported as
such, never as passed.
"""

from __future__ import annotations

import json
import os
import re
import time
import traceback

from . import topology as T
from .lab import TOP, Lab, log
from .uml import Instance
from support.observe import active_roles, failure_lines

HERE = os.path.dirname(os.path.abspath(__file__))
LAB_DIR = os.path.dirname(HERE)
CRM_DIR = os.path.join(TOP, "crm")
KIT_DIR = os.path.join(TOP, "initiator")


class StageFailed(RuntimeError):
    pass


class GiveUp(StageFailed):
    """Raised inside a wait_for condition: stop waiting, the condition can no longer become true."""


def wait_for(what: str, fn, timeout: float, interval: float = 1.0):
    """Call fn until it returns a truthy value; bounded by timeout."""
    deadline = time.monotonic() + timeout
    last_err = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except GiveUp:
            raise
        except Exception as e:  # noqa: BLE001 - keep polling, report the last error
            last_err = e
        time.sleep(interval)
    why = f" (last error: {last_err})" if last_err else ""
    raise StageFailed(f"timed out after {timeout:.0f} s waiting for {what}{why}")


class Results:
    def __init__(self, path: str) -> None:
        self.path = path
        self.stages: list[dict] = []
        self.facts: dict[str, object] = {}
        self.events: list[tuple[float, str]] = []  # (epoch, label) for the timeline

    def event(self, label: str, t: float | None = None) -> None:
        self.events.append((t if t is not None else time.time(), label))
        log(f"event: {label}")

    def add(self, name: str, status: str, seconds: float, details: str = "") -> None:
        self.stages.append({"stage": name, "status": status, "seconds": round(seconds, 1), "details": details})
        self.save()

    def passed(self, name: str) -> bool:
        return any(s["stage"] == name and s["status"] == "passed" for s in self.stages)

    def save(self) -> None:
        with open(self.path, "w") as f:
            json.dump({"stages": self.stages, "facts": self.facts, "events": self.events}, f, indent=2)


class Scenario:
    def __init__(self, lab: Lab, results: Results, variant: T.Variant) -> None:
        self.lab = lab
        self.r = results
        self.v = variant
        self.nodes: dict[str, Instance] = {}
        self.r.facts["variant"] = variant.name

    # -- helpers --------------------------------------------------------------

    def n(self, name: str) -> Instance:
        return self.lab.instances[name]

    def stage(self, name: str, fn, needs: tuple[str, ...] = ()) -> bool:
        missing = [s for s in needs if not self.r.passed(s)]
        if missing:
            self.r.add(name, "not run", 0, f"needs {', '.join(missing)}")
            log(f"stage {name}: NOT RUN (needs {', '.join(missing)})")
            return False
        log(f"stage {name}: start")
        t = time.monotonic()
        try:
            details = fn() or ""
        except Exception as e:  # noqa: BLE001 - a failed stage is reported, later stages are skipped
            dt = time.monotonic() - t
            tb = traceback.format_exc()
            with open(os.path.join(self.lab.logdir, f"stage-{name}.error.txt"), "w") as f:
                f.write(tb)
            self.r.add(name, "failed", dt, f"{type(e).__name__}: {e}"[:2000])
            log(f"stage {name}: FAILED after {dt:.1f} s: {e}")
            return False
        dt = time.monotonic() - t
        self.r.add(name, "passed", dt, details)
        log(f"stage {name}: passed in {dt:.1f} s {details}")
        return True

    # -- stage: boot ----------------------------------------------------------

    def boot(self) -> str:
        for b in T.BRIDGES:
            self.lab.net.bridge(b)
        for node in T.STORAGE:
            self.lab.add(node, mem_mb=T.STORAGE_MEM_MB, nics=T.nics(node), disks={"drbd": T.DRBD_DISK_MB},
                         overlay=T.overlay(node, self.v.clone), modules=self.v.modules)
        self.lab.add(T.INITIATOR, mem_mb=T.INITIATOR_MEM_MB, nics=T.nics(T.INITIATOR), overlay=self.initiator_overlay(),
                     modules=T.INITIATOR_MODULES)
        times = self.lab.boot([*T.STORAGE, T.INITIATOR], timeout=240)
        for name in times:
            self.n(name).sh("/lib/systemd/systemd-networkd-wait-online --timeout=60", timeout=70)
        # every network works: the initiator reaches both nodes on both path networks
        ini = self.n(T.INITIATOR)
        for node in T.STORAGE:
            ini.sh(f"ping -c1 -W5 {T.NET_A[node]} && ping -c1 -W5 {T.NET_B[node]}", timeout=20)
        self.n("hpms01").sh(f"ping -c1 -W5 {T.RING['hpms02']} && ping -c1 -W5 {T.REPL['hpms02']}", timeout=20)
        self.r.facts["boot_seconds"] = {k: round(v, 1) for k, v in times.items()}
        installed = ""
        if os.path.isdir(os.path.join(self.lab.share, "deb")):  # every node runs the package, or the stage fails
            for node in [*T.STORAGE, T.INITIATOR]:
                res = self.n(node).run(["dpkg-query", "-W", "-f=${Status} ${Version}", "alua"], timeout=60, check=False)
                if not res["stdout"].startswith("install ok installed"):
                    log_path = os.path.join(self.lab.share, "nodes", node, "dpkg.log")
                    tail = open(log_path, errors="replace").read()[-1500:] if os.path.exists(log_path) else ""
                    raise StageFailed(f"{node}: the alua package is not installed ({res['stdout']!r}):\n{tail}")
                installed = res["stdout"].rsplit(" ", 1)[-1]
            installed = f"; package alua {installed} installed on every node"
        self.r.facts["installs"] = self.lab.installs
        return "ready after " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()) + installed

    def initiator_overlay(self) -> dict[str, str]:
        files = T.overlay(T.INITIATOR)
        conf = read(os.path.join(KIT_DIR, "multipath.conf"))  # the kit, unchanged unless told
        files["/etc/multipath.conf"] = with_fail_tmo(conf, "fast_io_fail_tmo      ", fail_tmo())
        return files

    # -- stage: DRBD, created once by hand as an admin does ---------------------

    def drbd_init(self) -> str:
        res = T.DRBD_RES
        for node in T.STORAGE:
            self.n(node).sh(f"drbdadm create-md --force {res} && drbdadm up {res}", timeout=60)
        s1 = self.n("hpms01")
        wait_for("DRBD connected", lambda: "cs:Connected" in s1.sh("cat /proc/drbd"), 60)
        # fresh, zeroed disks on both sides: skip the initial sync
        s1.sh(f"drbdadm new-current-uuid --clear-bitmap {res}", timeout=30)
        wait_for("DRBD UpToDate on both", lambda: "ds:UpToDate/UpToDate" in s1.sh("cat /proc/drbd"), 60)
        out = s1.sh("cat /proc/drbd")
        for node in T.STORAGE:
            self.n(node).sh(f"drbdadm down {res}", timeout=60)
        return out.strip().splitlines()[-2].strip() if out.strip() else ""


# -- cluster configuration text ---------------------------------------------------


def fail_tmo() -> int | None:
    """ALUA_LAB_FAIL_TMO=N: the initiator's fast_io_fail_tmo and replacement_timeout in seconds
    instead of the kit's 2 (the trade-off crm/README states); unset, the kit's own files."""
    value = os.environ.get("ALUA_LAB_FAIL_TMO", "")
    if not value:
        return None
    if not value.isdigit() or not 1 <= int(value) <= 60:
        raise ValueError(f"ALUA_LAB_FAIL_TMO={value!r}: expected whole seconds from 1 to 60")
    return int(value)


def with_fail_tmo(text: str, key: str, seconds: int | None) -> str:
    """`text` with every `key`<number> line's number set to `seconds` (None: unchanged)."""
    if seconds is None:
        return text
    out, n = re.subn(rf"^(\s*{re.escape(key)})\d+\s*$", rf"\g<1>{seconds}", text, flags=re.M)
    if not n:
        raise ValueError(f"no {key.strip()!r} line to set")
    return out


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


def crm_layers(variant: T.Variant) -> tuple[str, str, list[str]]:
    """(base, stack, sources): the CIB text loaded before and after the VG exists.

    base  = the lab's properties + crm/drbd.crm + crm/lock.crm
    stack = the variant's crm file as shipped (crm/stack-lio.crm or crm/stack.crm): all layers
            (reloading the first two changes nothing) and the target layer: for LIO
            iSCSITarget/iSCSILogicalUnit without portals and ocf:alua:lio, which opens the portals
            once the LUN is in its group; for SCST ocf:alua:scst, which creates the vdisk, the
            target and its LUN, places them in their ALUA groups and only then enables the target.
    The lab's names (nodes, IQNs, addresses, VG, LV, serial) are the snippets' own."""
    base = [read(os.path.join(LAB_DIR, "crm", "lab.crm"))]
    sources = ["tests/lab/crm/lab.crm"]
    for name in ("drbd.crm", "lock.crm"):
        base.append(read(os.path.join(CRM_DIR, name)))
        sources.append(f"crm/{name}")
    stack_file = os.path.join(CRM_DIR, variant.stack_crm)
    if not os.path.exists(stack_file):
        raise StageFailed(f"crm/{variant.stack_crm} is missing")
    stack = read(stack_file)
    sources.append(f"crm/{variant.stack_crm}")
    return "\n".join(base), stack, sources


def at_once(fn, nodes) -> dict:
    """fn(node) for every node at the same time (each instance has its own UML CPU): {node: result}."""
    from concurrent.futures import ThreadPoolExecutor

    nodes = list(nodes)
    with ThreadPoolExecutor(max_workers=len(nodes) or 1) as pool:
        return dict(zip(nodes, pool.map(fn, nodes)))


def base_cib(crm_file: str, cib: str) -> None:
    """The base CIB, built with the host's own crmsh on a CIB file (no daemon, as tests/crm do):
    under a second, where the same load inside a UML node took 60-80 s.  The host has no
    stonith:fence_lab (a lab agent, installed in the guests only), so crmsh is told to commit
    anyway (-F), and any error of its but that one fails the stage.  The stack stage then loads
    the whole stack file (these layers again) inside a node, unforced, into the live cluster,
    where crmsh checks every parameter against the agents the package installed."""
    import subprocess

    env = {**os.environ, "CIB_file": cib}
    with open(cib, "w") as f:
        subprocess.run(["cibadmin", "--empty"], stdout=f, check=True, timeout=60)
    load = subprocess.run(["crm", "-F", "configure", "load", "update", crm_file], env=env, capture_output=True,
                          text=True, timeout=120)
    errors = [line for line in re.sub(r"\x1b\[[0-9;]*m", "", load.stderr).splitlines()
              if line.startswith("ERROR") and "stonith:fence_lab" not in line]
    if load.returncode != 0 or errors:
        raise StageFailed(f"crm configure load update {crm_file} (host, CIB file): exit {load.returncode}: "
                          f"{errors or load.stderr[-500:]}")
    verify = subprocess.run(["crm_verify", "-x", cib], env=env, capture_output=True, text=True, timeout=60)
    if verify.returncode != 0:
        raise StageFailed(f"crm_verify -x {cib}: exit {verify.returncode}: {verify.stderr[-500:]}")


class ClusterMixin:
    def mon(self: Scenario, node: str = "") -> str:
        for name in ([node] if node else [n for n in T.STORAGE if self.n(n).running()]):
            res = self.n(name).run("crm_mon -1 --output-as=xml", timeout=30, check=False)
            if res["rc"] == 0 and "<pacemaker-result" in res["stdout"]:
                return res["stdout"]
        raise StageFailed("crm_mon answered on no node")

    def roles(self: Scenario, node: str = "") -> dict[str, dict[str, str]]:
        return active_roles(self.mon(node))

    def wait_roles(self: Scenario, what: str, want: dict[str, dict[str, str]], timeout: float,
                   node: str = "") -> dict:
        def check():
            xml = self.mon(node)
            state = active_roles(xml)
            self._last_state = (state, failure_lines(xml))
            return state if all(state.get(r, {}) == nodes for r, nodes in want.items()) else None

        try:
            return wait_for(what, check, timeout, interval=3)
        except StageFailed as e:
            state, failures = getattr(self, "_last_state", ({}, []))
            raise StageFailed(f"{e}; state {state}; failures {failures}") from None


class StackMixin:
    def start_sampler(self: Scenario, node: str) -> None:
        """Both nodes' ALUA group states every 0.25 s, from now to the end (guest/alua-sampler.py)."""
        self.n(node).sh("rm -f /run/lab-alua-sampler.stop; systemd-run --unit=lab-alua-sampler --collect "
                        f"/usr/bin/python3 /lab/guest/alua-sampler.py {node}", timeout=30)

    def last_alua_sample(self: Scenario, node: str) -> dict[str, str]:
        """The groups of node's newest ALUA sample (guest/alua-sampler.py, read on the host)."""
        path = os.path.join(self.lab.share, "nodes", node, "alua.jsonl")
        with open(path, "rb") as f:
            f.seek(max(os.path.getsize(path) - 4096, 0))
            lines = f.read().decode("utf-8", "replace").splitlines()
        for line in reversed(lines):
            try:
                return dict(json.loads(line)["groups"])
            except (ValueError, KeyError):
                continue
        return {}

    def wait_own_group_active(self: Scenario, node: str, timeout: float) -> None:
        """Until node's own ALUA group is active in its own sysfs (its promotion, as an initiator
        sees it), read from the sampler's file on the host: no command runs on the node, whose
        writes may be frozen while it takes over and where each crm_mon costs 1-2 s of its one CPU
        (lab Finding 27)."""
        from .alua_samples import own_active

        wait_for(f"{node}'s own ALUA group active in its sysfs",
                 lambda: own_active(node, self.last_alua_sample(node)) or None, timeout, interval=0.2)

    def alua_samples(self: Scenario) -> str:
        """No two active/optimized groups at any sampled moment, through every fault."""
        from . import alua_samples

        for node in T.STORAGE:
            if self.n(node).running():
                self.n(node).run("touch /run/lab-alua-sampler.stop", timeout=20, check=False)
        time.sleep(0.5)
        path = {node: os.path.join(self.lab.share, "nodes", node, "alua.jsonl") for node in T.STORAGE}
        samples = {node: alua_samples.load(path[node], node) for node in T.STORAGE}
        problems = alua_samples.two_active(samples)
        # the same rule on the states alone, whether an initiator could reach the group or not
        raw = alua_samples.two_active({node: alua_samples.load(path[node], node, raw=True) for node in T.STORAGE})
        self.r.facts["two_active_raw"] = raw[:50]
        summary = alua_samples.summary(samples)
        self.r.facts["alua_samples"] = summary
        self.r.facts["two_active"] = problems[:50]
        if any(v["samples"] < 20 for v in summary.values()):
            raise StageFailed(f"too few ALUA samples to judge: {summary}")
        if problems:
            raise StageFailed(f"{len(problems)} sampled moment(s) with two active/optimized groups, first: "
                              f"{problems[:3]}")
        counts = ", ".join(f"{n} {v['samples']} (longest gap {v['longest_gap']} s)" for n, v in summary.items())
        hidden = f"; {len(raw)} moment(s) with a second group active while its target was disabled" if raw else ""
        return f"never two active groups an initiator could reach; samples: {counts}{hidden}"

    def cluster(self: Scenario) -> str:
        """corosync + Pacemaker with a CIB seeded from crm/drbd.crm + crm/lock.crm (the host's crmsh)."""
        base, stack, sources = crm_layers(self.v)
        cdir = os.path.join(self.lab.share, "cluster")
        os.makedirs(cdir, exist_ok=True)
        with open(os.path.join(cdir, "base.crm"), "w") as f:
            f.write(base)
        with open(os.path.join(cdir, "stack.crm"), "w") as f:
            f.write(stack)
        self.r.facts["crm_sources"] = sources
        base_cib(os.path.join(cdir, "base.crm"), os.path.join(cdir, "cib.xml"))
        def on_both(cmd: str) -> None:
            at_once(lambda node: self.n(node).sh(cmd, timeout=60), T.STORAGE)

        # enabled (a returning node starts its cluster stack at boot) with the links `systemctl
        # enable` makes for WantedBy=multi-user.target, without the five daemon reloads its
        # update-rc.d run for the init scripts costs: 5 s each in UML, 50 s for the two nodes
        wants = "/etc/systemd/system/multi-user.target.wants"
        on_both("set -e; install -o hacluster -g haclient -m 0600 /lab/cluster/cib.xml "
                "/var/lib/pacemaker/cib/cib.xml; rm -f /var/lib/pacemaker/cib/cib.xml.sig; "
                f"mkdir -p {wants}; for unit in corosync pacemaker; do "
                f"ln -sf /lib/systemd/system/$unit.service {wants}/$unit.service; done; systemctl start corosync")
        t = time.time()
        on_both("systemctl start pacemaker")
        want = {"p_drbd_vg1": {"hpms01": "Promoted", "hpms02": "Promoted"},
                "p_dlm": {"hpms01": "Started", "hpms02": "Started"},
                "p_lvmlockd": {"hpms01": "Started", "hpms02": "Started"}}
        self.wait_roles("DRBD promoted on both and the lock group started", want, 300)
        dt = time.time() - t
        self.r.facts["cluster_base_up_seconds"] = round(dt, 1)
        return f"DRBD dual-primary + lock group up {dt:.0f} s after pacemaker start ({', '.join(sources[:2])})"

    def vg(self: Scenario) -> str:
        s1, s2 = self.n("hpms01"), self.n("hpms02")
        t = time.time()
        s1.sh(f"vgcreate --shared {T.VG} /dev/drbd0", timeout=120)
        s2.sh(f"vgchange --lock-start {T.VG}", timeout=120)
        s1.sh(f"lvcreate -an -n {T.LV} -L {T.LV_SIZE_MB}M {T.VG}", timeout=120)
        out = s2.sh(f"vgs -o vg_name,vg_lock_type,lv_count --noheadings {T.VG}", timeout=60)
        return f"{out.strip()} ({time.time() - t:.0f} s)"

    def stack(self: Scenario) -> str:
        """The variant's whole-stack crm file loaded into the live cluster (one crmsh call)."""
        t = time.time()
        self.n("hpms01").sh("crm configure load update /lab/cluster/stack.crm", timeout=180)
        both = {"hpms01": "Started", "hpms02": "Started"}
        want = {"p_lvm_vg1": both, **{rsc: both for rsc in self.v.target_rscs}}
        alua = self.v.alua

        def promoted():
            st = self.wait_roles("shared VG (and the target layer) on both nodes", want, 30)
            roles = st.get(alua, {})
            return st if sorted(roles.values()) == ["Promoted", "Unpromoted"] else None

        st = wait_for(f"{alua} promoted on one node, unpromoted on the other", promoted, 400, interval=3)
        dt = time.time() - t
        prom = [n for n, r in st[alua].items() if r == "Promoted"][0]
        self.r.facts["promoted_at_start"] = prom
        self.r.facts["stack_up_seconds"] = round(dt, 1)
        for node in T.STORAGE:
            self.start_sampler(node)
        return f"stack up {dt:.0f} s after load; ALUA promoted on {prom}"


# -- initiator side ------------------------------------------------------------------

MP_GROUP = re.compile(r"policy='[^']*' prio=(-?\d+) status=(\w+)")
MP_PATH = re.compile(r"(\d+:\d+:\d+:\d+)\s+(sd[a-z]+)\s+\d+:\d+\s+(\w+)\s+(\w+)\s+(\w+)")


def parse_multipath(text: str) -> list[dict]:
    """multipath -ll -> [{'prio': 50, 'status': 'active', 'paths': [{'dev','dm','chk','online'}]}]."""
    groups: list[dict] = []
    for line in text.splitlines():
        m = MP_GROUP.search(line)
        if m:
            groups.append({"prio": int(m.group(1)), "status": m.group(2), "paths": []})
            continue
        m = MP_PATH.search(line)
        if m and groups:
            groups[-1]["paths"].append({"hctl": m.group(1), "dev": m.group(2), "dm": m.group(3),
                                        "chk": m.group(4), "online": m.group(5)})
    return groups


def parse_sessions(text: str) -> dict[str, tuple[str, str]]:
    """iscsiadm -m session -P3 -> {sdX: (target iqn, portal address)}."""
    out: dict[str, tuple[str, str]] = {}
    target = portal = ""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("Target:"):
            target = line.split()[1]
        elif line.startswith("Current Portal:"):
            portal = line.split()[2].rsplit(":", 1)[0]
        else:
            m = re.search(r"Attached scsi disk (sd[a-z]+)", line)
            if m:
                out[m.group(1)] = (target, portal)
    return out


def unexpected_fencing(fencing: list[dict], faults: list[dict]) -> list[dict]:
    """Fencings no fault explains: a fault that must fence (report.expects_fencing) explains
    fencing its victim (for a replication cut: either node) between its start and full redundancy."""
    from .report import expects_fencing

    def explained(f: dict) -> bool:
        for row in faults:
            end = row.get("t_redundant") or float("inf")
            if expects_fencing(row["fault"]) and row["t0"] <= f["t"] <= end and (
                    f["node"] == row["victim"] or row["fault"] == "replication-cut"):
                return True
        return False

    return [f for f in fencing if not explained(f)]


def node_of_iqn(iqn: str) -> str:
    return {v: k for k, v in T.IQN.items()}.get(iqn, "?")


def parse_inquiry(text: str) -> tuple[str, str]:
    """sg_inq -> (vendor identification, product identification)."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep and key in ("Vendor identification", "Product identification"):
            fields[key] = value.strip()
    return fields.get("Vendor identification", ""), fields.get("Product identification", "")


def parse_rtpg(text: str) -> list[dict]:
    """sg_rtpg -d -> [{'id': 1, 'state': 'active/optimized', 'ports': 1}]."""
    groups = []
    for m in re.finditer(r"target port group id\s*:\s*0x([0-9a-f]+).*?"
                         r"asymmetric access state\s*:\s*0x[0-9a-f]+ \(([^)]*)\)"
                         r".*?target port count\s*:\s*([0-9a-f]+)", text, re.S | re.I):
        groups.append({"id": int(m.group(1), 16), "state": m.group(2), "ports": int(m.group(3), 16)})
    return groups


class InitiatorMixin:
    def paths(self: Scenario) -> dict:
        """The initiator's view: multipath groups with each path's storage node and network."""
        ini = self.n(T.INITIATOR)
        mp = ini.sh("multipath -ll", timeout=30)
        sess = self.sessions
        node_of = {iqn: n for n, iqn in T.IQN.items()}
        net_of = {**{a: "a" for a in T.NET_A.values()}, **{b: "b" for b in T.NET_B.values()}}
        groups = parse_multipath(mp)
        for g in groups:
            for p in g["paths"]:
                iqn, portal = sess.get(p["dev"], ("", ""))
                p["node"] = node_of.get(iqn, "?")
                p["net"] = net_of.get(portal, "?")
        return {"text": mp, "groups": groups}

    def active_group_nodes(self: Scenario) -> tuple[set[str], dict]:
        v = self.paths()
        act = [g for g in v["groups"] if g["status"] == "active"]
        nodes = {p["node"] for g in act for p in g["paths"] if p["chk"] == "ready"}
        return nodes, v

    def initiator(self: Scenario) -> str:
        ini = self.n(T.INITIATOR)
        import shutil as _sh

        _sh.copytree(KIT_DIR, os.path.join(self.lab.share, "kit"), dirs_exist_ok=True)
        tmo = fail_tmo()
        if tmo is not None:
            iscsid = os.path.join(self.lab.share, "kit", "iscsid-alua.conf")
            text = with_fail_tmo(read(iscsid), "node.session.timeo.replacement_timeout = ", tmo)
            with open(iscsid, "w") as f:
                f.write(text)
            self.r.facts["initiator_fail_tmo"] = tmo
        ini.sh("cat /lab/kit/iscsid-alua.conf >> /etc/iscsi/iscsid.conf && systemctl start iscsid", timeout=60)
        portals = " ".join(T.NET_A[n] for n in T.STORAGE)
        out = ini.sh(f"sh /lab/kit/alua-initiator-setup {portals}", timeout=180)
        self.r.facts["sessions"] = out.strip()
        ini.sh("systemctl start multipathd", timeout=60)
        self.sessions = parse_sessions(ini.sh("iscsiadm -m session -P3", timeout=30))
        if len(self.sessions) != 4:
            raise StageFailed(f"expected 4 SCSI disks (2 nodes x 2 networks), got {self.sessions}")

        def four_paths():
            v = self.paths()
            return v if sum(len(g["paths"]) for g in v["groups"]) == 4 and len(v["groups"]) == 2 else None

        v = wait_for("a multipath map with 4 paths in 2 groups", four_paths, 60, interval=2)
        dev = sorted(self.sessions)[0]
        inq = ini.sh(f"sg_inq /dev/{dev}", timeout=30)
        if "TPGS=1" not in inq:
            raise StageFailed(f"sg_inq /dev/{dev} does not show TPGS=1 (implicit ALUA):\n{inq}")
        vendor, product = parse_inquiry(inq)
        if vendor != self.v.vendor or (self.v.product and product != self.v.product):
            raise StageFailed(f"sg_inq /dev/{dev}: vendor {vendor!r}, product {product!r}; expected "
                              f"{self.v.vendor!r}, {self.v.product or 'any'!r}:\n{inq}")
        checks = [f"sg_inq: vendor {vendor}, product {product}, TPGS=1 (implicit ALUA)"]
        prom = self.r.facts["promoted_at_start"]
        rtpg_all = {}
        for d in sorted(self.sessions):
            rtpg_all[d] = parse_rtpg(ini.sh(f"sg_rtpg -d /dev/{d}", timeout=30))
        rtpg_text = ini.sh(f"sg_rtpg -vvd /dev/{dev}", timeout=30)
        self.r.facts["sg_inq"] = inq
        self.r.facts["sg_rtpg"] = rtpg_text
        self.r.facts["rtpg_by_path"] = rtpg_all
        # Through each path, RTPG reports the groups of the node it reaches.  SCST (as in the seed)
        # lists both nodes' groups through every path; LIO (Linux 6.1) leaves empty groups out, so
        # a path shows only its own node's group.  Either way the union over all paths must show
        # two groups, one active/optimized (the promoted node's) and one active/non-optimized.
        union: dict[int, set[str]] = {}
        for d, groups in rtpg_all.items():
            if len(groups) != self.v.rtpg_groups_per_path:
                raise StageFailed(f"sg_rtpg /dev/{d} reports {len(groups)} target port group(s), expected "
                                  f"{self.v.rtpg_groups_per_path} on {self.v.name}: {groups}")
            for g in groups:
                union.setdefault(g["id"], set()).add(g["state"])
        states = sorted(s for v in union.values() for s in v)
        if len(union) != 2 or any(len(v) != 1 for v in union.values()) or \
                states != ["active/non optimized", "active/optimized"]:
            raise StageFailed(f"expected two groups, one active/optimized, one active/non-optimized: {rtpg_all}")
        for d, groups in rtpg_all.items():
            node = node_of_iqn(self.sessions[d][0])
            want = "active/optimized" if node == prom else "active/non optimized"
            if want not in {g["state"] for g in groups}:
                raise StageFailed(f"/dev/{d} reaches {node}, whose group should be {want}: {groups}")
        ports_seen = max(len(g) for g in rtpg_all.values())
        self.r.facts["rtpg_groups_per_path"] = ports_seen
        shown = ", ".join(f"id {i} {'/'.join(sorted(v))}" for i, v in sorted(union.items()))
        checks.append(f"sg_rtpg: 2 groups ({shown}; {ports_seen} group(s) reported per path), implicit ALUA")
        prios = sorted((g["prio"] for g in v["groups"]), reverse=True)
        nodes, v = self.active_group_nodes()
        act = [g for g in v["groups"] if g["status"] == "active"][0]
        if nodes != {prom} or act["prio"] != 50:
            raise StageFailed(f"active path group should be prio 50 with {prom}'s paths:\n{v['text']}")
        if prios != [50, 10]:
            raise StageFailed(f"multipath path group priorities {prios}, expected [50, 10]:\n{v['text']}")
        if "hwhandler='1 alua'" not in v["text"]:
            raise StageFailed(f"multipath map without hwhandler='1 alua' (scsi_dh_alua):\n{v['text']}")
        checks.append(f"multipath: prio {prios}, hwhandler='1 alua', active group (prio 50) = {prom}'s paths")
        self.r.facts["multipath_start"] = v["text"]
        ini.sh("mkfs.xfs -f -q /dev/mapper/mpatha && mkdir -p /share && "
               "mount -o noatime /dev/mapper/mpatha /share", timeout=180)
        return "; ".join(checks)


# -- I/O and faults ---------------------------------------------------------------------


class FaultsMixin:
    def new_fault(self: Scenario, name: str, victim: str, what: str, t0: float | None = None) -> dict:
        """One row of the fault table (report.fault_table adds the I/O figures of its window)."""
        row = {"fault": name, "victim": victim, "what": what, "t0": t0 or time.time(), "t_promoted": None,
               "t_redundant": None, "fenced": [], "notes": []}
        self.r.facts.setdefault("faults", []).append(row)
        return row

    def dm_ios(self: Scenario) -> int:
        """Completed reads+writes of the multipath device (from /sys/block/dm-N/stat)."""
        out = self.n(T.INITIATOR).sh("cat /sys/block/$(basename $(readlink -f /dev/mapper/mpatha))/stat", timeout=20)
        f = out.split()
        return int(f[0]) + int(f[4])

    def io_continues(self: Scenario, window: float = 4.0) -> int:
        a = self.dm_ios()
        time.sleep(window)
        return self.dm_ios() - a

    def io_start(self: Scenario) -> str:
        ini = self.n(T.INITIATOR)
        ini.sh("dd if=/dev/urandom of=/share/before.bin bs=1M count=16 status=none && sync && "
               "sha256sum /share/before.bin > /root/before.sha256", timeout=120)
        ini.sh("rm -f /run/lab-fio.stop; rm -rf /root/fio; "
               "systemd-run --unit=lab-fio --collect /bin/sh /lab/guest/fio-loop.sh", timeout=30)
        self.r.event("fio started")
        wait_for("fio doing I/O", lambda: self.io_continues(2) > 20, 60, interval=1)
        return "fio running (16 MB rounds, 4 KiB random writes at 100 IOPS, crc32c verification)"

    def link_failure(self: Scenario) -> str:
        """Seed TESTING 1: one link of the initiator goes down, then comes back."""
        tap = T.path_tap(T.INITIATOR, "b")
        t0 = time.time()
        row = self.new_fault("link-failure", "path B", "the initiator's link B down, then up", t0)
        self.lab.net.link(tap, up=False)
        self.r.event("link B down")

        def b_faulty():
            v = self.paths()
            bad = [p for g in v["groups"] for p in g["paths"] if p["net"] == "b" and
                   (p["dm"] == "failed" or p["chk"] in ("faulty", "shaky"))]
            return v if len(bad) == 2 else None

        v = wait_for("both path-B paths failed in multipath", b_faulty, 90, interval=1)
        t_detect = time.time() - t0
        self.r.event("paths on B failed")
        self.r.facts["multipath_link_down"] = v["text"]
        moved = self.io_continues(5)
        if moved <= 0:
            raise StageFailed("no I/O completed on the multipath device with link B down")
        time.sleep(5)
        t1 = time.time()
        self.lab.net.link(tap, up=True)
        self.r.event("link B up")

        def all_ready():
            v = self.paths()
            ready = [p for g in v["groups"] for p in g["paths"] if p["dm"] == "active" and p["chk"] == "ready"]
            return v if len(ready) == 4 else None

        v = wait_for("all 4 paths active again", all_ready, 120, interval=1)
        t_back = time.time() - t1
        row["t_redundant"] = time.time()
        self.r.event("paths on B active")
        self.r.facts["multipath_link_up"] = v["text"]
        self.r.facts["link_down_detect_seconds"] = round(t_detect, 1)
        self.r.facts["link_up_recover_seconds"] = round(t_back, 1)
        return (f"path B faulty {t_detect:.1f} s after the link went down, {moved} I/Os completed "
                f"meanwhile; active again {t_back:.1f} s after it came back")

    def node_failure(self: Scenario) -> str:
        """Seed TESTING 2: the promoted storage node goes down hard and comes back."""
        alua = self.v.alua
        prom = self.roles()[alua]
        victim = [n for n, r in prom.items() if r == "Promoted"][0]
        survivor = [n for n in T.STORAGE if n != victim][0]
        self.r.facts["node_failure_victim"] = victim
        self.r.facts["survivor"] = survivor
        # The seed's tests are separate events: let I/O run steadily (100 IOPS) for 5 s after the
        # link test before the power cut, so the stall measured is the node failure's alone.
        wait_for("steady I/O before the kill", lambda: self.io_continues(5) >= 400, 90, interval=0)
        t0 = time.time()
        row = self.new_fault("promoted-kill", victim, f"promoted {victim} killed (power cut)", t0)
        self.lab.instances[victim].kill()
        self.r.facts["t_kill"] = t0
        self.r.event(f"{victim} killed")

        self.wait_own_group_active(survivor, 180)
        t_prom = time.time() - t0
        row["t_promoted"] = time.time()
        self.r.event(f"{survivor} promoted (its group active in sysfs)")

        def switched():
            nodes, v = self.active_group_nodes()
            act = [g for g in v["groups"] if g["status"] == "active"]
            return v if nodes == {survivor} and act and act[0]["prio"] == 50 else None

        v = wait_for("multipath active group = survivor's paths at prio 50", switched, 120, interval=1)
        t_mp = time.time() - t0
        self.r.event("multipath on survivor group")
        self.r.facts["multipath_node_down"] = v["text"]
        ini = self.n(T.INITIATOR)
        ini.sh("findmnt /share && touch /share/still-mounted", timeout=60)
        moved = wait_for("I/O completing again after the failover", lambda: self.io_continues(3), 90, interval=0)
        self.r.event("I/O seen completing")
        self.r.facts["crm_mon_node_down"] = self.n(survivor).sh("crm_mon -1r", timeout=30)
        # the node returns (a reboot after the crash: same disks), and must rejoin unpromoted
        t1 = time.time()
        self.lab.instances[victim].start()
        self.lab.instances[victim].wait_ready(240)
        self.r.event(f"{victim} booted")
        self.start_sampler(victim)

        def rejoined():
            xml = self.mon(survivor)
            st = active_roles(xml)
            roles = st.get(alua, {})
            if roles.get(survivor) == "Promoted" and roles.get(victim) == "Unpromoted":
                return st
            # a failed start on the returning node is not retried (start-failure-is-fatal): stop here
            fatal = [f for f in failure_lines(xml) if f" on {victim}:" in f and "_start_" in f]
            if fatal:
                self.r.facts["crm_mon_node_back"] = self.n(survivor).sh("crm_mon -1rf", timeout=30)
                raise GiveUp(f"{victim} returned but a start failed there: {'; '.join(fatal)}")
            return None

        workaround = ""
        try:
            wait_for(f"{victim} rejoined with {alua} unpromoted", rejoined, 420, interval=3)
        except GiveUp as e:
            # Known: the returning node's DRBD is promoted while it resyncs (Inconsistent) and
            # drbd-lvm's start refuses, which Pacemaker never retries.  Record it, then do what an
            # admin would (clean up once DRBD is UpToDate) so the rest of the test still runs;
            # the stage is reported as failed either way.
            workaround = str(e)
            self.r.event(f"{victim}: start failed, cleanup")
            wait_for(f"DRBD UpToDate on {victim}", lambda: "ds:UpToDate/UpToDate" in
                     self.n(victim).sh("cat /proc/drbd", timeout=20), 300, interval=2)
            self.n(survivor).sh("crm_resource --cleanup", timeout=60)
            wait_for(f"{victim} rejoined with {alua} unpromoted (after cleanup)", rejoined, 300, interval=3)
        t_rejoin = time.time() - t1
        self.r.event(f"{victim} rejoined unpromoted")
        fenced = [f for f in self.r.facts.get("fencing", []) if f["node"] == victim and f["t"] >= t0]
        if not fenced:
            raise StageFailed(f"{victim} was killed but nobody fenced it (stonith-enabled=true, stonith:fence_lab)")
        t_fenced = fenced[0]["t"] - t0

        def four_paths():
            nodes, v = self.active_group_nodes()
            ready = [p for g in v["groups"] for p in g["paths"] if p["chk"] == "ready"]
            return v if len(ready) == 4 and nodes == {survivor} else None

        v = wait_for("4 paths, survivor's group still active", four_paths, 180, interval=2)
        row["t_redundant"] = time.time()
        row["fenced"] = sorted({f["node"] for f in self.r.facts.get("fencing", []) if f["t"] >= t0})
        self.r.event("4 paths again")
        self.r.facts["multipath_node_back"] = v["text"]
        # no ping-pong: the promotion stays on the survivor for a while
        for _ in range(6):
            st = self.roles(survivor)
            if st.get(alua, {}).get(survivor) != "Promoted":
                raise StageFailed(f"promotion moved back (ping-pong): {st.get(alua)}")
            time.sleep(5)
        self.r.facts["crm_mon_node_back"] = self.n(survivor).sh("crm_mon -1r", timeout=30)
        self.r.facts["failover_seen_seconds"] = round(t_prom, 1)
        self.r.facts["multipath_switch_seconds"] = round(t_mp, 1)
        self.r.facts["rejoin_seconds"] = round(t_rejoin, 1)
        self.r.facts["fenced_seconds"] = round(t_fenced, 1)
        self.r.facts["survivor"] = survivor
        if workaround:
            raise StageFailed(
                f"{workaround} -- after a manual crm_resource --cleanup (once DRBD was UpToDate): failover "
                f"seen after {t_prom:.1f} s, multipath switched after {t_mp:.1f} s, {victim} rejoined unpromoted "
                f"{t_rejoin:.0f} s after its restart, 4 paths, no ping-pong for 30 s")
        return (f"{victim} killed: fenced by {fenced[0]['by']} after {t_fenced:.1f} s, "
                f"{survivor} promoted (seen) after {t_prom:.1f} s, multipath switched after "
                f"{t_mp:.1f} s, XFS mounted, {moved} I/Os in 5 s; {victim} back and unpromoted after "
                f"{t_rejoin:.0f} s, no ping-pong for 30 s")

    def io_stop(self: Scenario) -> str:
        ini = self.n(T.INITIATOR)
        ini.sh("touch /run/lab-fio.stop", timeout=20)
        wait_for("the last fio round to finish", lambda: ini.run("test -e /root/fio/done", check=False,
                                                                  timeout=20)["rc"] == 0, 400, interval=3)
        self.r.event("fio stopped")
        ini.sh("echo 3 > /proc/sys/vm/drop_caches; sha256sum -c /root/before.sha256", timeout=120)
        dest = os.path.join(self.lab.reportdir, "fio")
        os.makedirs(dest, exist_ok=True)
        ini.sh(f"cp /root/fio/* /lab/nodes/{T.INITIATOR}/fio-out/ 2>/dev/null || "
               f"(mkdir -p /lab/nodes/{T.INITIATOR}/fio-out && cp /root/fio/* /lab/nodes/{T.INITIATOR}/fio-out/)",
               timeout=120)
        rounds = ini.sh("cat /root/fio/rounds", timeout=20).split("\n")
        bad = [r.split()[0] for r in rounds if len(r.split()) >= 2 and r.split()[1] != "0"]
        errors = ini.run("dmesg | grep -E 'critical target error|Sense Key|ASC=' | head -40", timeout=20,
                         check=False)["stdout"]
        self.r.facts["initiator_scsi_errors"] = errors
        n = len([r for r in rounds if r.strip()])
        unexpected = unexpected_fencing(self.r.facts.get("fencing", []), self.r.facts.get("faults", []))
        if unexpected:
            raise StageFailed(f"unexpected fencing: {unexpected}")
        if bad:
            raise StageFailed(f"fio reported errors in rounds {', '.join(bad)} of {n} (see the report's fio section "
                              f"and initiator_scsi_errors); the file written before the faults is intact")
        return (f"{n} fio rounds, no I/O or verification error; the 16 MB file written before the faults "
                "reads back with the same sha256")
