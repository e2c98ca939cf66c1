#!/usr/bin/python3
"""The real-kernel lab's command line (tools/lab calls this; see README.md beside it).

    lab.py run [--workdir D] [--variant scst|lio|both] [--faults testing|matrix|freeze|kills] [--hold SECONDS]
               [--until STAGE]
                                                           build (cached) + run every stage
    lab.py build [--workdir D] [--force]                   only the kernel (+ SCST) and the base image
    lab.py scst-probe [--workdir D] [--no-bench]           real SCST in one instance: differential probe, bench
    lab.py exec NODE 'shell command' [--workdir D]         run a command in a running instance
    lab.py clean [--workdir D] [--all]                     kill leftovers; --all also removes images
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/: support.observe

DEFAULT_WORKDIR = os.environ.get("ALUA_LAB_DIR", "/var/tmp/alua-lab")


def cmd_exec(args: argparse.Namespace) -> int:
    from ulab.uml import Instance

    class _Lab:  # just enough of Lab for Instance.run
        share = os.path.join(args.workdir, "last", "share")
        rundir = os.path.join(args.workdir, "last", "run")
        logdir = os.path.join(args.workdir, "last", "logs")
        umldir = os.path.join(args.workdir, "last", "uml")
        tag = os.path.basename(os.path.realpath(os.path.join(args.workdir, "last")))
        image = ""

    inst = Instance(_Lab, args.node, mem_mb=0, nics=[])
    pidfile = os.path.join(_Lab.rundir, f"{args.node}.pid")
    with open(pidfile) as f:
        pid = int(f.read())

    class _P:
        def poll(self):
            return None if os.path.exists(f"/proc/{pid}") else 1

    inst.proc = _P()
    res = inst.run(args.command, timeout=args.timeout, check=False)
    sys.stdout.write(res["stdout"])
    sys.stderr.write(res["stderr"])
    return res["rc"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("run", "build", "exec", "clean", "scst-probe"):
        s = sub.add_parser(name)
        s.add_argument("--workdir", default=DEFAULT_WORKDIR)
        if name == "run":
            s.add_argument("--hold", type=int, default=0, help="keep the instances up this many seconds at the end")
            s.add_argument("--until", default="", help="stop after this stage")
            s.add_argument("--variant", choices=("scst", "lio", "both"), default="both",
                           help="target backend of the storage nodes (default: both, one after the other)")
            s.add_argument("--faults", choices=("testing", "matrix", "freeze", "kills"), default="",
                           help="the seed's TESTING section or the fault matrix (default: the matrix on SCST, "
                                "TESTING on LIO); freeze runs the frozen node alone, kills two "
                                "promoted-node kills alone; "
                                "`--variant both --faults matrix` runs it all")
        if name == "build":
            s.add_argument("--force", action="store_true")
        if name == "scst-probe":
            s.add_argument("--no-bench", action="store_true")
        if name == "exec":
            s.add_argument("node")
            s.add_argument("command")
            s.add_argument("--timeout", type=float, default=60)
        if name == "clean":
            s.add_argument("--all", action="store_true")
    args = p.parse_args()
    args.workdir = os.path.abspath(args.workdir)
    if args.cmd == "exec":
        return cmd_exec(args)
    # one lab per work directory at a time (runs share the cached image; a build prunes old ones)
    import fcntl

    from ulab import safety

    os.makedirs(safety.check_workdir(args.workdir), exist_ok=True)
    lock = open(os.path.join(args.workdir, ".lock"), "w")  # noqa: SIM115 - held until exit
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"lab: another lab is running in {args.workdir}", file=sys.stderr)
        return 2
    if args.cmd == "build":
        from ulab import image, kernel

        print(kernel.build(args.workdir, force=args.force).path)
        print(image.build(args.workdir, force=args.force))
        return 0
    if args.cmd == "scst-probe":
        from ulab import scst_probe

        return scst_probe.run(args.workdir, bench=not args.no_bench)
    if args.cmd == "clean":
        from ulab import lab

        return lab.clean(args.workdir, everything=args.all)
    from ulab import driver

    variants = ("scst", "lio") if args.variant == "both" else (args.variant,)
    rcs = []
    for v in variants:
        rcs.append(driver.run(args.workdir, hold=args.hold, until=args.until, variant=v, faults=args.faults))
        if rcs[-1] in (3, 130):  # host guard tripped, or interrupted: stop here
            return rcs[-1]
    return max(rcs)


if __name__ == "__main__":
    sys.exit(main())
