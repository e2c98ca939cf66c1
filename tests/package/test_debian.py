"""The Debian package: built from debian/ by tools/build-deb, lintian-clean, and installed,
upgraded, removed and purged with the host's dpkg without leaving anything behind.

The install steps run in a private mount namespace whose /usr, /var and /etc are
overlays of the host's (writes go to a tmpfs that vanishes with the namespace): dpkg,
py3compile, man-db and the agents are the host's, but the host's own files are never
changed. So the test neither destroys an alua already installed on the host (the
``installed_agents`` fixture's `make install` copy, an admin's package) nor trips over
it, nor disturbs another session that runs the installed agents meanwhile; inside the
namespace such a copy is first removed, and what the package touched is compared
before and after.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ROOT, agent_names, ocf_environment, run_agent

BUILD_TOOLS = ("dpkg-buildpackage", "dh", "dh_python3", "lintian", "unshare", "nsenter")
needs_build_tools = pytest.mark.skipif(
    any(shutil.which(t) is None for t in BUILD_TOOLS), reason="Debian build tools missing: run tools/setup"
)
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="dpkg -i needs root")

AGENT_DIR = "/usr/lib/ocf/resource.d/alua"
LIB_DIR = "/usr/lib/ocf/lib/alua"
# Everything the package (or a `make install` copy) puts on a machine.
TOUCHED = (AGENT_DIR, LIB_DIR, "/usr/share/alua", "/usr/share/doc/alua", "/usr/share/python3/runtime.d/alua.rtupdate",
           "/usr/sbin/alua-fence-peer", "/usr/share/man/man8/alua-fence-peer.8.gz", "/usr/sbin/alua-alert",
           "/usr/share/man/man8/alua-alert.8.gz",
           "/usr/sbin/alua-config", "/usr/share/man/man8/alua-config.8.gz",
           "/usr/sbin/alua-status", "/usr/share/man/man8/alua-status.8.gz")
MAN_GLOB = "/usr/share/man/man7/ocf_alua*"
# Listed whole before and after, so a stray file near the package shows up (the overlays'
# upper layers show any other file the namespace wrote in /usr or /etc).
WATCHED = ("/usr/lib/ocf", "/usr/share/man/man7", "/usr/share/man/man8", "/usr/share/python3/runtime.d")
OVERLAID = ("usr", "var", "etc")
# Informational and pedantic tags that remain, and why (the test fails on E: and W: only):
#   package-contains-documentation-outside-usr-share-doc: crm/README and initiator/README.md sit
#     beside the snippets and the kit they explain (/usr/share/alua, as `make install` puts them).
#   repeated-path-segment: /usr/lib/ocf/lib/ is OCF's own layout (resource-agents has
#     /usr/lib/ocf/lib/heartbeat); lib/alua/alua/ and alua/ocf/ are the library's directory and
#     its package names, the path the agents' LIBDIR has always had.
KNOWN_INFO_TAGS = {"package-contains-documentation-outside-usr-share-doc", "repeated-path-segment"}


def library_version() -> str:
    text = (ROOT / "lib" / "alua" / "__init__.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    assert match, "lib/alua/__init__.py has no __version__ line"
    return match.group(1)


def test_changelog_version_is_the_library_version() -> None:
    """debian/changelog names the version the agents report (their meta-data's version)."""
    first = (ROOT / "debian" / "changelog").read_text().splitlines()[0]
    match = re.match(r"^alua \(([^)]+)\) ", first)
    assert match, f"debian/changelog starts with {first!r}"
    upstream = match.group(1).split(":", 1)[-1].rsplit("-", 1)[0]  # no epoch, no Debian revision (if any)
    assert upstream == library_version(), "bump debian/changelog with lib/alua/__init__.py's __version__"


# -- the build --------------------------------------------------------------------------------------

def build(outdir: Path, *extra: str) -> Path:
    proc = subprocess.run([str(ROOT / "tools" / "build-deb"), *extra, str(outdir)], capture_output=True,
                          text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    deb = Path(proc.stdout.strip().splitlines()[-1])
    assert deb.is_file() and deb.parent == outdir, proc.stdout
    return deb


@pytest.fixture(scope="session")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    before = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--ignored"],
                            capture_output=True, text=True, check=False).stdout
    path = build(tmp_path_factory.mktemp("deb"))
    after = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--ignored"],
                           capture_output=True, text=True, check=False).stdout
    assert after == before, "tools/build-deb wrote into the source tree"
    return path


@pytest.fixture(scope="session")
def newer_deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("deb-newer"), "--version", f"{library_version()}+upgrade1")


@pytest.fixture(scope="session")
def unpacked(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("unpacked")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root


def field(deb: Path, name: str) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True, check=True).stdout.strip()


def relations(deb: Path, name: str) -> set[str]:
    """A relation field as its alternatives, without versions: {'python3', 'crmsh | pcs', ...}."""
    return {re.sub(r"\s*\([^)]*\)", "", item).strip() for item in field(deb, name).split(",") if item.strip()}


@pytest.mark.slow
@needs_build_tools
def test_lintian_reports_no_error_and_no_warning(deb: Path) -> None:
    proc = subprocess.run(["lintian", "--pedantic", "-I",
                           str(deb)], capture_output=True, text=True, check=False, timeout=300)
    tags = [line for line in proc.stdout.splitlines() if re.match(r"^[EWIPX]: ", line)]
    bad = [t for t in tags if t.startswith(("E:", "W:"))]
    assert not bad, "\n".join(tags)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    unexplained = {t.split()[2] for t in tags if t.startswith(("I:", "P:"))} - KNOWN_INFO_TAGS
    assert not unexplained, f"new informational tags, explain them in KNOWN_INFO_TAGS: {unexplained}"


@pytest.mark.slow
@needs_build_tools
def test_control_fields(deb: Path) -> None:
    assert field(deb, "Package") == "alua"
    assert field(deb, "Architecture") == "all"
    assert field(deb, "Version") == library_version()
    assert {"python3", "python3-lxml"} <= relations(deb, "Depends")
    assert {"pacemaker", "crmsh | pcs", "drbd-utils", "lvm2-lockd", "dlm-controld"} <= relations(deb, "Recommends")
    assert "targetcli-fb" in relations(deb, "Suggests")


@pytest.mark.slow
@needs_build_tools
def test_contents(deb: Path, unpacked: Path) -> None:
    agents = unpacked / AGENT_DIR.lstrip("/")
    assert sorted(p.name for p in agents.iterdir()) == agent_names()
    for agent in agent_names():
        path = agents / agent
        assert path.stat().st_mode & 0o777 == 0o755, agent
        text = path.read_text()
        assert text.startswith("#!/usr/bin/python3 -IS\n"), f"{agent}: shebang rewritten"
        assert f"LIBDIR = '{LIB_DIR}'" in text, agent
    # The library as lib/alua/ holds it, whatever its layout, and no compiled files.
    lib = unpacked / LIB_DIR.lstrip("/") / "alua"
    source = ROOT / "lib" / "alua"
    assert sorted(str(p.relative_to(lib)) for p in lib.rglob("*.py")) == \
        sorted(str(p.relative_to(source)) for p in source.rglob("*.py"))
    assert not [p for p in unpacked.rglob("*") if p.name == "__pycache__" or p.suffix in (".pyc", ".pyo")]
    man7 = unpacked / "usr/share/man/man7"
    assert sorted(p.name for p in man7.iterdir()) == sorted(f"{p.name}.gz" for p in (ROOT / "man").glob("*.7"))
    # the admin commands (sbin/: DRBD's fence-peer handler) with their section-8 pages
    sbin = unpacked / "usr/sbin"
    assert sorted(p.name for p in sbin.iterdir()) == sorted(p.name for p in (ROOT / "sbin").iterdir())
    for cmd in sbin.iterdir():
        assert cmd.stat().st_mode & 0o777 == 0o755 and f"LIBDIR = '{LIB_DIR}'" in cmd.read_text(), cmd
        assert (unpacked / f"usr/share/man/man8/{cmd.name}.8.gz").is_file(), cmd
    for kit in ("crm", "initiator"):
        shipped = sorted(str(p.relative_to(unpacked / "usr/share/alua" / kit))
                         for p in (unpacked / "usr/share/alua" / kit).rglob("*") if p.is_file())
        assert shipped == sorted(str(p.relative_to(ROOT / kit)) for p in (ROOT / kit).rglob("*") if p.is_file())
    assert (unpacked / "usr/share/alua/initiator/alua-initiator-setup").stat().st_mode & 0o111
    assert (unpacked / "usr/share/doc/alua/copyright").is_file()
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    assert all(line.split()[1] == "root/root" for line in listing.splitlines()), "files owned by root"


# -- install, upgrade, remove, purge -----------------------------------------------------------------

class Overlaid:
    """A private mount namespace with the host's /usr, /var and /etc overlaid on a tmpfs."""

    def __init__(self, scratch: Path) -> None:
        self.holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sleep", "infinity"])
        ours = os.readlink("/proc/self/ns/mnt")
        deadline = time.monotonic() + 10
        while os.readlink(f"/proc/{self.holder.pid}/ns/mnt") == ours:
            assert time.monotonic() < deadline, "unshare did not enter a new mount namespace"
            time.sleep(0.01)
        self.scratch = scratch
        script = [f"mount -t tmpfs -o mode=0700 alua-package-test {scratch}"]
        for top in OVERLAID:
            up, work = scratch / f"{top}.upper", scratch / f"{top}.work"
            script.append(f"mkdir {up} {work} && mount -t overlay overlay "
                          f"-o lowerdir=/{top},upperdir={up},workdir={work} /{top}")
        self.sh(" && ".join(script))

    def run(self, argv: list[str], *, env: dict[str, str] | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        env = env or {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8",
                      "DEBIAN_FRONTEND": "noninteractive"}
        proc = subprocess.run(["nsenter", "-t", str(self.holder.pid), "-m", "--", *argv], env=env,
                              capture_output=True, text=True, check=False, timeout=300)
        if check:
            assert proc.returncode == 0, f"{argv}: rc={proc.returncode}\n{proc.stdout}{proc.stderr}"
        return proc

    def sh(self, script: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(["sh", "-ec", script], check=check)

    def close(self) -> None:
        self.holder.kill()
        self.holder.wait()

    def status(self) -> str:
        """dpkg's view: 'install ok installed 0.1.0', or '' once dpkg has forgotten the package."""
        proc = self.run(["dpkg-query", "-W", "-f", "${Status} ${Version}", "alua"], check=False)
        return proc.stdout.strip() if proc.returncode == 0 and "not-installed" not in proc.stdout else ""

    def snapshot(self) -> str:
        """Every path under the watched directories, the package's paths, and the files and
        whiteouts in the overlays' upper layers of /usr and /etc (what this namespace changed)."""
        watched = " ".join(WATCHED)
        touched = " ".join(TOUCHED)
        uppers = " ".join(str(self.scratch / f"{top}.upper") for top in ("usr", "etc"))
        return self.sh(f"find {watched} | sort; for p in {touched} {MAN_GLOB}; do [ ! -e $p ] || echo PRESENT: $p; "
                       f"done; find {uppers} ! -type d | sort").stdout


@pytest.fixture(scope="module")
def overlaid(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Overlaid]:
    ns = Overlaid(tmp_path_factory.mktemp("overlay"))
    try:
        # What was installed on the host is removed here, in the overlay only.
        if ns.status():
            print(f"the host has the alua package ({ns.status()}); purged inside the namespace only")
            ns.run(["dpkg", "-P", "alua"])
        present = ns.sh(f"for p in {' '.join(TOUCHED)} {MAN_GLOB}; do [ ! -e $p ] || echo $p; done").stdout.split()
        if present:
            print(f"the host has an unpackaged copy ({' '.join(present)}); removed inside the namespace only")
            ns.sh(f"rm -rf {' '.join(present)}")
        yield ns
    finally:
        ns.close()


def installed_metadata(ns: Overlaid, agent: str, *, as_nobody: bool = False) -> str:
    prefix = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] if as_nobody else []
    proc = ns.run([*prefix, f"{AGENT_DIR}/{agent}", "meta-data"], env=ocf_environment(agent), check=False)
    assert proc.returncode == 0, f"installed {agent} meta-data: rc={proc.returncode}\n{proc.stderr}"
    return proc.stdout


def compiled(ns: Overlaid) -> list[str]:
    return ns.sh(f"find {LIB_DIR} -name '*.pyc'").stdout.split()


@pytest.mark.slow
@needs_build_tools
@needs_root
def test_install_upgrade_remove_purge_leave_nothing_behind(overlaid: Overlaid, deb: Path, newer_deb: Path) -> None:
    ns = overlaid
    before = ns.snapshot()
    assert "PRESENT: " not in before, before

    ns.run(["dpkg", "-i", str(deb)])
    assert ns.status() == f"install ok installed {library_version()}"
    for agent in agent_names():
        source = run_agent(agent, "meta-data")
        assert source.rc == 0, str(source)
        assert installed_metadata(ns, agent) == source.stdout, f"installed {agent} gives other meta-data"
    # ocf-tester runs meta-data as nobody; the postinst's py3compile made the .pyc files.
    assert installed_metadata(ns, "scst", as_nobody=True) == run_agent("scst", "meta-data").stdout
    assert compiled(ns), "postinst did not compile the library"
    assert ns.run(["man", "-w", "ocf_alua_scst"]).stdout.strip() == "/usr/share/man/man7/ocf_alua_scst.7.gz"
    page = ns.run(["env", "MAN_DISABLE_SECCOMP=1", "MANWIDTH=80", "PATH=/usr/bin:/bin", "LC_ALL=C.UTF-8",
                   "man", "-P", "cat", "ocf_alua_scst"]).stdout
    assert "ocf:alua:scst" in page

    ns.run(["dpkg", "-i", str(newer_deb)])  # an upgrade
    assert ns.status() == f"install ok installed {library_version()}+upgrade1"
    assert installed_metadata(ns, "scst") == run_agent("scst", "meta-data").stdout
    assert compiled(ns), "postinst did not compile the library after the upgrade"
    ns.run(["dpkg", "-i", str(newer_deb)])  # the same version over itself
    assert ns.status() == f"install ok installed {library_version()}+upgrade1"

    ns.run(["dpkg", "-r", "alua"])
    after_remove = ns.snapshot()
    assert "PRESENT: " not in after_remove, after_remove
    ns.run(["dpkg", "-P", "alua"])
    assert ns.status() == ""
    after = ns.snapshot()
    assert after == before, "left behind:\n" + "\n".join(
        sorted(set(after.splitlines()) ^ set(before.splitlines())))
