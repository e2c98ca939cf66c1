"""Real SCST in one UML instance: the differential probe and the speed figures.

``tools/lab scst-probe`` boots one instance of the lab kernel with scst,
scst_vdisk and iscsi-scst loaded and iscsi-scstd running, then runs

- tests/emulators/scst_probe.py (the script of sysfs operations the
  differential test also runs against the emulator) -> scst-real.json;
- tests/bench/scst_real.py (ocf:alua:scst monitor and promote with 1, 16
  and 256 device groups on the real sysfs) -> scst-bench.json;

and writes both, with the kernel's and SCST's versions and the probe's own
checksum, into WORKDIR/scst-probe/ (tests/lab/test_scst_real.py runs this and
compares with the emulator; tools/bench prints the figures beside the
emulator's).  Every suite run measures afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time

from . import image, kernel, scst_hazard
from .lab import TOP, Lab, log

NODE = scst_hazard.TARGET_NODE
MODULES = ["scst", "scst_vdisk", "iscsi-scst"]
PROBE = os.path.join(TOP, "tests", "emulators", "scst_probe.py")
BENCH = os.path.join(TOP, "tests", "bench", "scst_real.py")
FAKE_CRM_ATTRIBUTE = os.path.join(TOP, "tests", "backends", "bin", "crm_attribute")


def result_dir(workdir: str) -> str:
    return os.path.join(workdir, "scst-probe")


def probe_sha256() -> str:
    with open(PROBE, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def probe_in(inst, share: str, *, bench: bool = True) -> dict:  # noqa: ANN001 - uml.Instance
    """Run the probe (and the benchmark) in a booted instance with SCST loaded; return the results."""
    pdir = os.path.join(share, "probe")
    os.makedirs(pdir, exist_ok=True)
    shutil.copy2(PROBE, os.path.join(pdir, "scst_probe.py"))
    inst.sh("systemctl is-active iscsi-scstd || (systemctl start iscsi-scstd && sleep 1)", timeout=30)
    version = inst.sh("cat /sys/kernel/scst_tgt/version", timeout=20)
    out = inst.sh("python3 /lab/probe/scst_probe.py --root /sys/kernel/scst_tgt --device /dev/ubdb",
                  timeout=300)
    steps = json.loads(out)["steps"]
    dmesg = inst.run("dmesg | grep -iE 'scst|iscsi' | tail -80", timeout=20, check=False)["stdout"]
    result = {"version": version, "kernel": inst.sh("uname -r", timeout=20).strip(), "steps": steps,
              "probe_sha256": probe_sha256(),
              "dmesg": dmesg, "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    if bench and os.path.exists(BENCH):
        shutil.copy2(BENCH, os.path.join(pdir, "scst_real.py"))
        os.makedirs(os.path.join(pdir, "bin"), exist_ok=True)
        shutil.copy2(FAKE_CRM_ATTRIBUTE, os.path.join(pdir, "bin", "crm_attribute"))
        out = inst.sh("python3 /lab/probe/scst_real.py --fakes /lab/probe/bin", timeout=900)
        result["bench"] = json.loads(out)
    return result


def run(workdir: str, *, bench: bool = True, hazard: bool = True) -> int:
    k = kernel.build(workdir)
    img = image.build(workdir)
    lab = Lab(workdir, img, k, "scst-probe")
    hazard_steps: list[dict] = []
    dmesg = ""
    try:
        lab.prepare()
        scst_hazard.add_instances(lab, MODULES)
        names = [NODE, scst_hazard.INITIATOR] if hazard else [NODE]
        times = lab.boot(names, timeout=240)
        log("ready after " + ", ".join(f"{n} {t:.0f} s" for n, t in times.items()))
        result = probe_in(lab.instances[NODE], lab.share, bench=bench)
        if hazard:
            h = scst_hazard.Hazard(lab)
            try:
                hazard_steps = h.run()
            except Exception as e:  # noqa: BLE001 - keep what was measured; the probe's results still count
                log(f"hazard measurement stopped: {e}")
                hazard_steps = [*h.steps, {"step": "stopped", "error": str(e)[:500]}]
            dmesg = h.dmesg
    finally:
        lab.collect_logs()
        lab.cleanup()
    result["kernel_key"] = kernel.cache_key()
    dest = result_dir(workdir)
    os.makedirs(dest, exist_ok=True)
    bench_result = result.pop("bench", None)
    with open(os.path.join(dest, "scst-real.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    if hazard_steps:
        scst_hazard.save(os.path.join(dest, "scst-hazard.json"), hazard_steps, dmesg)
        log("hazard:\n" + scst_hazard.summarize(hazard_steps))
    if bench_result is not None:
        with open(os.path.join(dest, "scst-bench.json"), "w", encoding="utf-8") as f:
            json.dump(bench_result, f, indent=1)
    log(f"SCST probe: {len(result['steps'])} steps on {result['version'].splitlines()[0]} -> {dest}")
    return 0
