"""alua-config: the stack's cluster configuration (crm/'s files) from the admin's own names.

The names come from options and/or an INI file (--config FILE, section [stack], the long
options' names as keys; an option overrides the file). Every value is checked with the
rules of the agent that gets it (alua.commands.stackconf.names); the first bad or missing
one ends the command with exit 2 and one line naming it, before anything is written.
Output: the whole stack for crmsh (stack.crm, or stack-lio.crm with --backend lio) or, with
--format pcs, stack.pcs, on standard output; --output-dir DIR writes every file of
/usr/share/alua/crm (the layer files, the stack of each backend, stack.pcs, fence.crm with
fence devices) instead, each file swapped in whole.
"""

from __future__ import annotations

import argparse
import os
import sys

from alua.commands.stackconf.names import KEYS, UsageError, build

PROG = "alua-config"
SECTION = "stack"
EXAMPLE = """\
example (SCST):
  alua-config --node1 san1 --node2 san2 \\
      --iqn1 iqn.2024-01.com.example:san1.data --iqn2 iqn.2024-01.com.example:san2.data \\
      --portals1 10.0.1.1,10.0.2.1 --portals2 10.0.1.2,10.0.2.2 \\
      --vg data --lun data=lun1 > stack.crm
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Write the alua stack's cluster configuration with your names (see alua-config(8)).",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", metavar="FILE", help="an INI file with a [stack] section of the keys below")
    for key, what in KEYS.items():
        if key == "lun":
            p.add_argument("--lun", action="append", metavar="NAME=LV[:SERIAL]", help=what)
        else:
            p.add_argument(f"--{key}", metavar=key.upper().rstrip("12") if key != "backend" else "NAME", help=what)
    p.add_argument("--format", choices=("crm", "pcs"), default="crm", help="standard output's form (default crm)")
    p.add_argument("--output-dir", metavar="DIR", help="write every file of the crm/ directory into DIR instead")
    p.add_argument(
        "--load-dir", metavar="DIR",
        help="the directory the files' 'Load:' lines name (default: DIR of --output-dir, or none)",
    )
    return p


def read_config(path: str) -> tuple[dict[str, str], dict[str, str]]:
    """The [stack] section's values and, for each, how a reason names it ("FILE: key")."""
    import configparser

    config = configparser.ConfigParser(interpolation=None, strict=True)
    try:
        with open(path, encoding="utf-8") as f:
            config.read_file(f)
    except OSError as e:
        raise UsageError(f"--config {path!r}", None, e.strerror or str(e)) from None
    except (configparser.Error, UnicodeDecodeError) as e:
        raise UsageError(f"--config {path!r}", None, " ".join(str(e).split())) from None
    others = [s for s in config.sections() if s != SECTION]
    if others or not config.has_section(SECTION):
        raise UsageError(f"--config {path!r}", None, f"must have one section [{SECTION}] (has {config.sections()})")
    values, where = {}, {}
    for key, value in config.items(SECTION):
        if key not in KEYS:
            raise UsageError(f"{path}: {key}", None, f"is not a key of alua-config (keys: {', '.join(KEYS)})")
        values[key] = " ".join(value.split()) if key == "lun" else value
        where[key] = f"{path}: {key}"
    return values, where


def gather(args: argparse.Namespace) -> tuple[dict[str, str], dict[str, str]]:
    values, where = read_config(args.config) if args.config else ({}, {})
    for key in KEYS:
        given = getattr(args, key)
        if given is not None:
            values[key] = " ".join(given) if key == "lun" else given
            where[key] = f"--{key}"
        where.setdefault(key, f"--{key}")
    return values, where


def render(args: argparse.Namespace) -> dict[str, str]:
    """File name -> text of everything to write (one entry, "-", for standard output)."""
    from alua.commands.stackconf import crm, pcs

    stack = build(*gather(args))
    if args.output_dir is None:
        load_dir = args.load_dir or ""
        if args.format == "pcs":
            return {"-": pcs.render(stack)}
        return {"-": crm.layer_files(stack, _slash(load_dir))[crm.stack_file(stack.backends[0])]}
    load_dir = args.load_dir or os.path.abspath(args.output_dir)
    files = crm.layer_files(stack, _slash(load_dir))
    files["stack.pcs"] = pcs.render(stack)
    return files


def _slash(directory: str) -> str:
    return directory.rstrip("/") + "/" if directory else ""


def write(directory: str, files: dict[str, str]) -> None:
    """Each file written beside its place and renamed over it, so none is ever half-written; a
    script (#!) executable."""
    os.makedirs(directory, exist_ok=True)
    temporary = []
    try:
        for name, text in files.items():
            path = os.path.join(directory, f".{name}.tmp")
            temporary.append((path, os.path.join(directory, name)))
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            os.chmod(path, 0o755 if text.startswith("#!") else 0o644)  # stack.pcs runs as its #! says
        for path, final in temporary:
            os.replace(path, final)
    finally:
        for path, _ in temporary:
            if os.path.exists(path):
                os.unlink(path)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        files = render(args)
    except UsageError as e:
        sys.stderr.write(f"{PROG}: {e}\n")
        return 2
    try:
        if args.output_dir is None:
            sys.stdout.write(files["-"])
            sys.stdout.flush()
        else:
            write(args.output_dir, files)
    except OSError as e:
        sys.stderr.write(f"{PROG}: cannot write {e.filename or args.output_dir}: {e.strerror}\n")
        return 1
    return 0
