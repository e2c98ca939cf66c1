"""The lab's own User-Mode Linux kernel, with SCST built against it.

One kernel for both lab variants (LIO and SCST) and the initiator, from
Debian's ``linux-source-6.1`` (version pinned in SOURCE_VERSION) configured
with ``make ARCH=um defconfig`` plus tests/lab/kernel/lab.config (and our
patches in tests/lab/kernel/*.patch), and SCST
from ../shared/vendor (scst, scst_vdisk, iscsi-scst and its daemons).

Cached like the image: WORKDIR/kernels/<key>/ where <key> hashes every
input (source package version, the fragment, the SCST tarball's checksum,
the build recipe BUILD_STEPS).  The build runs below WORKDIR/kernels/build-<key>/ as the
unprivileged user ``nobody``, which owns nothing else on the host: the
compilers and makefiles cannot write outside the lab's work directory even
by mistake (``make modules_install`` and ``depmod`` get explicit
destinations too).  Only the final copy into the cache runs as root.

    kernels/<key>/linux                      the UML kernel binary
    kernels/<key>/modules/lib/modules/<rel>/ stripped modules (in-tree + SCST under extra/), depmod'ed
    kernels/<key>/sbin/iscsi-scstd, iscsi-scst-adm
    kernels/<key>/kernel.json                release, SCST version, build times
    kernels/<key>.ok                         marker: the cache entry is complete
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import time

from . import safety

HERE = os.path.dirname(os.path.abspath(__file__))
LAB = os.path.dirname(HERE)
TOP = os.path.dirname(os.path.dirname(LAB))
FRAGMENT = os.path.join(LAB, "kernel", "lab.config")
# Our fixes to the kernel source, applied in order (each file says why).
PATCHES = (os.path.join(LAB, "kernel", "um-host-xstate-size.patch"),)
SOURCE_PACKAGE = "linux-source-6.1"
SOURCE_VERSION = "6.1.192-3"  # pinned: a different version changes the kernel the lab measures
SOURCE_TARBALL = "/usr/src/linux-source-6.1.tar.xz"
SHARED = os.environ.get("ALUA_SHARED", os.path.join(os.path.dirname(TOP), "shared"))
SCST_TARBALL = "scst-aa5cc2dd70f9.tar.xz"
SCST_SHA256 = "ceee5c2496467eb62e33dc2a72d93870772458a4695d7799aec07eef90e31789"
SCST_DIR = "scst-aa5cc2dd70f9"
# SCST's own modules the lab loads (scst_vdisk: vdisk_blockio/fileio; iscsi-scst: the iSCSI driver)
SCST_MODULES = ("scst", "scst_vdisk", "iscsi-scst")
BUILD_USER = "nobody"
# (step, directory, argv): the recipe, part of the cache key.  After defconfig the fragment is
# appended to .config; after olddefconfig every line of it must have held.  SCST is built in
# release mode, as an admin builds it for production (its default, debug, adds EXTRACHECKS).
BUILD_STEPS = (
    ("unpack linux", "build", ("tar", "-xJf", SOURCE_TARBALL)),
    ("unpack scst", "build", ("tar", "-xJf", "{scst_tarball}")),
    ("patch", "src", ("patch", "-p1", "--forward", "--batch", "-i", "{patch}")),
    ("defconfig", "src", ("make", "ARCH=um", "defconfig")),
    ("olddefconfig", "src", ("make", "ARCH=um", "olddefconfig")),
    ("kernel + modules", "src", ("make", "ARCH=um", "-j{jobs}", "linux", "modules")),
    ("modules_install", "src", ("make", "ARCH=um", "modules_install", "INSTALL_MOD_PATH={build}/mod",
                                "INSTALL_MOD_STRIP=1", "DEPMOD=/bin/true")),
    ("scst 2release", "scst", ("make", "-C", "scst", "2release")),
    ("scst", "scst", ("make", "-C", "scst", "all", "KDIR={src}", "ARCH=um", "-j{jobs}")),
    ("iscsi-scst", "scst", ("make", "-C", "iscsi-scst", "all", "KDIR={src}", "ARCH=um", "-j{jobs}")),
)
BUILD_TIMEOUT = 3600


def log(msg: str) -> None:
    print(f"[kernel {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class KernelBuildError(RuntimeError):
    pass


def scst_tarball() -> str:
    return os.path.join(SHARED, "vendor", SCST_TARBALL)


def source_version() -> str:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", SOURCE_PACKAGE], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else ""


def fragment_options(path: str = FRAGMENT) -> dict[str, str]:
    """CONFIG_X -> value for every assignment in the fragment (comments and blanks skipped)."""
    options: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, sep, value = line.partition("=")
            if not sep or not name.startswith("CONFIG_"):
                raise ValueError(f"{path}:{n}: not a CONFIG_X=value line: {line!r}")
            options[name] = value
    return options


def config_problems(config_text: str, wanted: dict[str, str]) -> list[str]:
    """What of the fragment did not survive olddefconfig (a dependency missing, a typo)."""
    have: dict[str, str] = {}
    for line in config_text.splitlines():
        if line.startswith("CONFIG_"):
            name, _, value = line.partition("=")
            have[name] = value
        elif line.startswith("# CONFIG_") and line.endswith(" is not set"):
            have[line[2:-len(" is not set")]] = "n"
    problems = []
    for name, value in wanted.items():
        got = have.get(name, "absent")
        # =m asked, =y got: a dependency forced it built in; the lab can modprobe either way
        if got != value and not (value == "m" and got == "y"):
            problems.append(f"{name}={value} wanted, the kernel's .config has {got}")
    return problems


def cache_key() -> str:
    h = hashlib.sha256()
    for part in (SOURCE_PACKAGE, SOURCE_VERSION, SCST_SHA256, " ".join(SCST_MODULES), repr(BUILD_STEPS)):
        h.update(part.encode() + b"\0")
    for path in (FRAGMENT, *PATCHES):
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def kernel_dir(workdir: str) -> str:
    return os.path.join(workdir, "kernels", cache_key())


class Kernel:
    """A built, cached kernel: what the lab boots and copies into its guests."""

    def __init__(self, path: str) -> None:
        self.path = path
        with open(os.path.join(path, "kernel.json"), encoding="utf-8") as f:
            self.info = json.load(f)
        self.release: str = self.info["release"]
        self.binary = os.path.join(path, "linux")
        self.modules = os.path.join(path, "modules", "lib", "modules", self.release)
        self.sbin = os.path.join(path, "sbin")


def cached(workdir: str) -> Kernel | None:
    path = kernel_dir(workdir)
    if os.path.exists(path + ".ok") and os.path.exists(os.path.join(path, "kernel.json")):
        return Kernel(path)
    return None


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _Builder:
    def __init__(self, workdir: str, key: str) -> None:
        self.workdir = workdir
        self.build = os.path.join(workdir, "kernels", f"build-{key}")
        self.src = os.path.join(self.build, "linux-source-6.1")
        self.scst = os.path.join(self.build, SCST_DIR)
        self.logpath = os.path.join(workdir, "kernels", f"build-{key}.log")
        self.user = pwd.getpwnam(BUILD_USER)
        self.times: dict[str, float] = {}

    def run(self, step: str, argv: list[str], cwd: str, timeout: float = BUILD_TIMEOUT) -> None:
        """One build step as the unprivileged build user, niced, in its own session."""
        safety.check_inside(self.workdir, cwd)
        env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": self.build, "TMPDIR": self.build,
            "LC_ALL": "C", "KBUILD_BUILD_USER": "lab", "KBUILD_BUILD_HOST": "alua-lab",
        }
        t0 = time.monotonic()
        with open(self.logpath, "a") as logf:
            logf.write(f"\n=== {step}: {' '.join(argv)} (in {cwd})\n")
            logf.flush()
            proc = subprocess.Popen(
                ["setpriv", f"--reuid={self.user.pw_uid}", f"--regid={self.user.pw_gid}", "--clear-groups",
                 "--", "nice", "-n", "10", *argv],
                cwd=cwd, env=env, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            try:
                rc = proc.wait(timeout=timeout)
            finally:
                if proc.poll() is None:
                    log(f"{step} interrupted: ending its process group")
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)
        self.times[step] = round(time.monotonic() - t0, 1)
        if rc != 0:
            raise KernelBuildError(f"kernel build step {step!r} failed (rc={rc}); see {self.logpath}")

    def prepare(self) -> None:
        safety.check_inside(self.workdir, self.build)
        safety.safe_rmtree(self.workdir, self.build)
        os.makedirs(self.build)
        os.chown(self.build, self.user.pw_uid, self.user.pw_gid)
        safety.safe_unlink(self.workdir, self.logpath)

    def compile(self, jobs: int) -> None:
        fill = {"jobs": str(jobs), "src": self.src, "build": self.build, "scst_tarball": scst_tarball()}
        for step, where, argv in BUILD_STEPS:
            cwd = {"build": self.build, "src": self.src, "scst": self.scst}[where]
            for patch in PATCHES if step == "patch" else (None,):
                self.run(step, [a.format(**fill, patch=patch) for a in argv], cwd)
            if step == "defconfig":
                with open(os.path.join(self.src, ".config"), "a", encoding="utf-8") as cfg, \
                        open(FRAGMENT, encoding="utf-8") as frag:
                    cfg.write("\n# tests/lab/kernel/lab.config\n" + frag.read())
            if step == "olddefconfig":
                with open(os.path.join(self.src, ".config"), encoding="utf-8") as f:
                    problems = config_problems(f.read(), fragment_options())
                if problems:
                    raise KernelBuildError("the lab's kernel fragment did not hold:\n  " + "\n  ".join(problems))

    def release(self) -> str:
        with open(os.path.join(self.src, "include", "config", "kernel.release"), encoding="utf-8") as f:
            return f.read().strip()

    def install(self, dest: str, release: str) -> dict:
        """Copy the results into the cache entry (as root, every path checked)."""
        safety.check_inside(self.workdir, dest)
        os.makedirs(os.path.join(dest, "sbin"))
        shutil.copy2(os.path.join(self.src, "linux"), os.path.join(dest, "linux"))
        shutil.copytree(os.path.join(self.build, "mod"), os.path.join(dest, "modules"), symlinks=True)
        moddir = os.path.join(dest, "modules", "lib", "modules", release)
        safety.check_inside(self.workdir, moddir)
        for link in ("build", "source"):  # symlinks into the build tree, which goes away
            if os.path.islink(os.path.join(moddir, link)):
                os.unlink(os.path.join(moddir, link))
        extra = os.path.join(moddir, "extra")
        os.makedirs(extra, exist_ok=True)
        found = {}
        for name in SCST_MODULES:
            hits = [p for p in glob.glob(os.path.join(self.scst, "**", f"{name}.ko"), recursive=True)
                    if "/.tmp" not in p]
            if len(hits) != 1:
                raise KernelBuildError(f"SCST module {name}.ko: expected one build result, found {hits}")
            target = os.path.join(extra, f"{name}.ko")
            shutil.copy2(hits[0], target)
            subprocess.run(["strip", "--strip-debug", target], check=True)
            found[name] = os.path.relpath(hits[0], self.scst)
        for prog in ("iscsi-scstd", "iscsi-scst-adm"):
            src = os.path.join(self.scst, "iscsi-scst", "usr", prog)
            if not os.path.exists(src):
                raise KernelBuildError(f"{prog} was not built ({src} missing)")
            shutil.copy2(src, os.path.join(dest, "sbin", prog))
        subprocess.run(["depmod", "-b", os.path.join(dest, "modules"), release], check=True)
        with open(os.path.join(self.scst, "scst", "include", "scst_const.h"), encoding="utf-8") as f:
            scst_version = next((line.split('"')[1] for line in f if line.startswith("#define SCST_VERSION_NAME")),
                                "unknown")
        return {"release": release, "source": f"{SOURCE_PACKAGE} {SOURCE_VERSION}", "scst": scst_version,
                "scst_tarball": SCST_TARBALL, "scst_build_mode": "RELEASE", "scst_modules": found}


def build(workdir: str, *, force: bool = False, jobs: int | None = None) -> Kernel:
    """Return the cached kernel for the current inputs, building it if needed."""
    workdir = safety.check_workdir(workdir)
    if not force:
        k = cached(workdir)
        if k is not None:
            log(f"cached: {k.path} ({k.release}, SCST {k.info['scst']})")
            return k
    have = source_version()
    if have != SOURCE_VERSION:
        raise KernelBuildError(f"{SOURCE_PACKAGE} {SOURCE_VERSION} is needed (installed: {have or 'none'}); "
                               f"tools/lab installs it")
    tarball = scst_tarball()
    if not os.path.exists(tarball):
        raise KernelBuildError(f"SCST source {tarball} missing (set ALUA_SHARED to the shared/ directory)")
    if _sha256(tarball) != SCST_SHA256:
        raise KernelBuildError(f"{tarball}: sha256 differs from the one in shared/vendor/README.md")
    key = cache_key()
    dest = kernel_dir(workdir)
    os.makedirs(os.path.join(workdir, "kernels"), exist_ok=True)
    for stale in (dest + ".ok", dest):
        safety.check_inside(workdir, stale)
    safety.safe_unlink(workdir, dest + ".ok")
    safety.safe_rmtree(workdir, dest)
    b = _Builder(workdir, key)
    t0 = time.monotonic()
    log(f"building the lab kernel ({SOURCE_PACKAGE} {SOURCE_VERSION} + SCST) in {b.build} as {BUILD_USER}; "
        f"log {b.logpath}")
    b.prepare()
    b.compile(jobs or os.cpu_count() or 2)
    info = b.install(dest, b.release())
    info["build_seconds"] = round(time.monotonic() - t0, 1)
    info["steps"] = b.times
    with open(os.path.join(dest, "kernel.json"), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=1)
    with open(dest + ".ok", "w", encoding="utf-8") as f:
        f.write(f"built {time.ctime()} in {info['build_seconds']} s\n")
    safety.safe_rmtree(workdir, b.build)
    prune(workdir, keep=key)
    log(f"built {info['release']} + SCST {info['scst']} in {info['build_seconds']:.0f} s "
        f"(kernel + modules {b.times.get('kernel + modules', 0):.0f} s, scst {b.times.get('scst', 0):.0f} s, "
        f"iscsi-scst {b.times.get('iscsi-scst', 0):.0f} s)")
    return Kernel(dest)


def prune(workdir: str, keep: str) -> None:
    base = os.path.join(workdir, "kernels")
    for entry in os.listdir(base):
        if keep in entry:
            continue
        path = os.path.join(base, entry)
        log(f"removing the kernel of older inputs {path}")
        if os.path.isdir(path) and not os.path.islink(path):
            safety.safe_rmtree(workdir, path)
        else:
            safety.safe_unlink(workdir, path)
