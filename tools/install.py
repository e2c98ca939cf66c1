#!/usr/bin/python3
"""Install (or uninstall) the agents, library, man pages, crm snippets and initiator kit.

Agents land in $OCF_ROOT/resource.d/alua/ and find the library in
$OCF_ROOT/lib/alua/, so they run with Debian's /usr/bin/python3 and
python3-lxml from a clean environment (Pacemaker passes no PYTHONPATH).
DESTDIR stages everything for packagers; the paths written into the agents
are the final ones, without DESTDIR.

    tools/install.py [--destdir D] [--ocf-root /usr/lib/ocf] [--mandir /usr/share/man]
                     [--datadir /usr/share] [--sbindir /usr/sbin] [--no-compile] [--uninstall]

Admin commands from sbin/ (alua-fence-peer, DRBD's fence-peer handler; alua-alert, a Pacemaker
alert agent; alua-config, the crm/ files with the admin's names; alua-status, the stack at a
glance) go to --sbindir.
--no-compile leaves out the .pyc files, for packages that compile at install
time instead (the Debian package: py3compile in its postinst, debian/rules).
"""

from __future__ import annotations

import argparse
import compileall
import os
import re
import shutil
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBDIR_LINE = re.compile(r"^LIBDIR = .*$", re.MULTILINE)


def agents() -> list[str]:
    directory = os.path.join(TOP, "agents")
    return sorted(n for n in os.listdir(directory) if not n.startswith(".") and "." not in n)


def commands() -> list[str]:
    directory = os.path.join(TOP, "sbin")
    if not os.path.isdir(directory):
        return []
    return sorted(n for n in os.listdir(directory) if not n.startswith(".") and "." not in n)


def staged(destdir: str, path: str) -> str:
    return os.path.join(destdir, path.lstrip("/")) if destdir else path


def install_executable(source: str, directory: str, libdir: str) -> None:
    """An agent or command with its LIBDIR line pointing at the installed library, swapped in whole."""
    with open(os.path.join(TOP, source), encoding="utf-8") as f:
        text = f.read()
    text, n = LIBDIR_LINE.subn(f"LIBDIR = {libdir!r}", text, count=1)
    if n != 1:
        sys.exit(f"{source}: no LIBDIR line to rewrite")
    dest = os.path.join(directory, os.path.basename(source))
    with open(dest + ".tmp", "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(dest + ".tmp", 0o755)
    os.replace(dest + ".tmp", dest)


def install(args: argparse.Namespace) -> None:
    libdir = os.path.join(args.ocf_root, "lib", "alua")
    agentdir = staged(args.destdir, os.path.join(args.ocf_root, "resource.d", "alua"))
    os.makedirs(agentdir, mode=0o755, exist_ok=True)
    # The library: a fresh copy, compiled for the final path, readable by nobody
    # (ocf-tester), swapped in with two renames so that agents running on a live
    # cluster never see a half-copied library.
    target = staged(args.destdir, libdir)
    os.makedirs(target, mode=0o755, exist_ok=True)
    fresh, old = os.path.join(target, ".alua.new"), os.path.join(target, ".alua.old")
    for leftover in (fresh, old):
        shutil.rmtree(leftover, ignore_errors=True)
    shutil.copytree(
        os.path.join(TOP, "lib", "alua"), fresh, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    if args.compile:
        compileall.compile_dir(fresh, quiet=1, ddir=os.path.join(libdir, "alua"))
    for root, _dirs, files in os.walk(fresh):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
    current = os.path.join(target, "alua")
    if os.path.exists(current):
        os.rename(current, old)
    os.rename(fresh, current)
    shutil.rmtree(old, ignore_errors=True)
    for name in agents():
        install_executable(os.path.join("agents", name), agentdir, libdir)
    # Admin commands (sbin/): the same LIBDIR rewrite as the agents
    sbindir = staged(args.destdir, args.sbindir)
    os.makedirs(sbindir, mode=0o755, exist_ok=True)
    for name in commands():
        install_executable(os.path.join("sbin", name), sbindir, libdir)
    mansrc = os.path.join(TOP, "man")
    if os.path.isdir(mansrc):
        for page in sorted(os.listdir(mansrc)):
            section = page.rsplit(".", 1)[-1]
            if section in ("7", "8"):
                mandir = staged(args.destdir, os.path.join(args.mandir, f"man{section}"))
                os.makedirs(mandir, exist_ok=True)
                shutil.copyfile(os.path.join(mansrc, page), os.path.join(mandir, page))
                os.chmod(os.path.join(mandir, page), 0o644)
    # The crm/ snippets and the initiators' kit, as they are in the tree (modes kept:
    # initiator/alua-initiator-setup is a script).
    for kit in ("crm", "initiator"):
        src = os.path.join(TOP, kit)
        if os.path.isdir(src):
            dest = staged(args.destdir, os.path.join(args.datadir, "alua", kit))
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    print(f"installed {', '.join(agents())} into {agentdir}, library into {target}")


def uninstall(args: argparse.Namespace) -> None:
    for path in (
        os.path.join(args.ocf_root, "resource.d", "alua"),
        os.path.join(args.ocf_root, "lib", "alua"),
        os.path.join(args.datadir, "alua"),
    ):
        shutil.rmtree(staged(args.destdir, path), ignore_errors=True)
    for name in commands():
        path = staged(args.destdir, os.path.join(args.sbindir, name))
        if os.path.exists(path):
            os.unlink(path)
    mandir = staged(args.destdir, os.path.join(args.mandir, "man7"))
    if os.path.isdir(mandir):
        for page in os.listdir(mandir):
            if (page == "ocf_alua.7" or page.startswith("ocf_alua_")) and page.endswith(".7"):
                os.unlink(os.path.join(mandir, page))
    for name in commands():
        page = staged(args.destdir, os.path.join(args.mandir, "man8", f"{name}.8"))
        if os.path.exists(page):
            os.unlink(page)
    print("uninstalled alua")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--destdir", default=os.environ.get("DESTDIR", ""))
    parser.add_argument("--ocf-root", default=os.environ.get("OCF_ROOT", "/usr/lib/ocf"))
    parser.add_argument("--mandir", default="/usr/share/man")
    parser.add_argument("--datadir", default="/usr/share")
    parser.add_argument("--sbindir", default="/usr/sbin")
    parser.add_argument("--no-compile", dest="compile", action="store_false")
    parser.add_argument("--uninstall", action="store_true")
    args = parser.parse_args()
    (uninstall if args.uninstall else install)(args)


if __name__ == "__main__":
    main()
