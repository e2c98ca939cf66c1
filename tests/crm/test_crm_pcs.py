"""crm/stack.pcs builds the same CIB with the real pcs as crm/stack*.crm with crmsh.

pcs runs for real on a CIB file (``pcs -f``, no daemon), checking the
agents' parameters against their installed meta-data as crmsh does; with
ALUA=lio the script makes the target layer (per-node rules, portals="") with
cibadmin on the same file, since pcs 0.11 cannot write either. The two
CIBs are compared after normalizing what legitimately differs between the
tools: generated ids, the order of attributes and operations, comments, and
defaults one tool writes out and the other leaves implicit.
"""

# ruff: noqa: F811 - pytest fixtures imported from crmlab are test arguments
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from crmlab import (  # noqa: F401 - fixtures
    CRM_DIR,
    STACKS,
    canonical,
    configuration,
    copy_cib,
    crm_load_ok,
    crm_verify,
    diff,
    lab_base,
    lab_dir,
    loaded,
    normalize,
)
from lxml import etree

SCRIPT = CRM_DIR / "stack.pcs"
# What stack.pcs makes with cibadmin, because pcs 0.11 cannot (rule-based instance attributes,
# an empty value, an alert filter): the LIO target layer, and the alert for both.
CIBADMIN_MADE = {"scst": {"alua_fenced"}, "lio": {"cl_target", "alua_fenced"}}
PRESENT_STACKS = [s for s in STACKS if (CRM_DIR / f"{s}.crm").exists()]
needs_pcs = pytest.mark.skipif(shutil.which("pcs") is None, reason="pcs is not installed (apt-get install pcs)")


def clean_env() -> dict[str, str]:
    """The environment without the script's name variables."""
    names = ("NODE1", "NODE2", "TARGET1", "TARGET2", "VG", "DRBD", "ALUA", "LIO_DEVICES", "LV", "SERIAL")
    names += ("PORTALS1", "PORTALS2")
    return {k: v for k, v in os.environ.items() if k not in names}


def run_script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(SCRIPT), *args],
        env={**clean_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def pcs_cibs(lab_base: Path, lab_dir: Path) -> dict[str, tuple[Path, subprocess.CompletedProcess[str]]]:
    """crm/stack.pcs run by the real pcs on a copy of the lab CIB, once per ALUA agent
    (in parallel: pcs takes about half a second per command)."""
    procs = {}
    for stack_name in PRESENT_STACKS:
        cib = copy_cib(lab_base, lab_dir / f"{stack_name}-pcs.xml")
        env = {**clean_env(), "ALUA": STACKS[stack_name][-1]}
        procs[stack_name] = (
            cib,
            subprocess.Popen(
                ["sh", str(SCRIPT), str(cib)], env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            ),
        )
    out = {}
    for stack_name, (cib, proc) in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        out[stack_name] = (cib, subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    return out


@needs_pcs
@pytest.mark.slow
@pytest.mark.parametrize("stack_name", PRESENT_STACKS)
def test_pcs_builds_the_same_cib(stack_name: str, loaded, pcs_cibs) -> None:
    crm_cib = loaded.cib(stack_name)
    pcs_cib, proc = pcs_cibs[stack_name]
    alua = STACKS[stack_name][-1]
    assert proc.returncode == 0, f"sh crm/stack.pcs (ALUA={alua}):\n{proc.stdout}{proc.stderr}"
    a, b = canonical(crm_cib), canonical(pcs_cib)
    assert a == b, diff(a, b, (f"crm/{stack_name}.crm (crmsh)", f"ALUA={alua} crm/stack.pcs (pcs)"))
    verify = crm_verify(pcs_cib)
    assert verify.returncode == 0, verify.stderr


def test_print_mode_lists_the_commands() -> None:
    for alua in ("scst", "lio"):
        proc = run_script("--print", env={"ALUA": alua})
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        assert lines and all(line.startswith(("pcs ", "cibadmin ")) for line in lines)
        assert all(shlex.split(line) for line in lines), "each line one command, quoted for a shell"
        assert any(f"ocf:alua:{alua} " in line for line in lines)
        cibadmin = [line for line in lines if line.startswith("cibadmin ")]
        assert len(cibadmin) == len(CIBADMIN_MADE[alua])
        assert all(line.startswith(("cibadmin --create --scope resources --xml-text ",
                                    "cibadmin --modify --allow-create --scope alerts --xml-text "))
                   for line in cibadmin)
        assert sum(line.startswith("pcs constraint ") for line in lines) == {"scst": 6, "lio": 8}[alua]
    assert run_script("--print", env={"ALUA": "iet"}).returncode == 2
    assert run_script("--bogus").returncode == 2
    assert run_script("--print", env={"ALUA": "lio", "TARGET1": "iqn.x:a'b"}).returncode == 2
    assert run_script("--print", env={"ALUA": "lio", "LV": "/dev/a&b"}).returncode == 2


@needs_pcs
def test_printed_cibadmin_command_makes_the_target_layer(loaded, lab_base: Path, lab_dir: Path) -> None:
    """The cibadmin command --print shows (to run on a live cluster) makes lio.crm's cl_target."""
    (line,) = [line for line in run_script("--print", env={"ALUA": "lio"}).stdout.splitlines() if "--scope resources" in line]
    cib = copy_cib(lab_base, lab_dir / "printed-cibadmin.xml")
    subprocess.run(shlex.split(line), env={**os.environ, "CIB_file": str(cib)}, check=True, capture_output=True)
    by_crm = configuration(loaded.cib("lio")).find("resources/clone[@id='cl_target']")
    by_cibadmin = configuration(cib).find("resources/clone[@id='cl_target']")
    a, b = (etree.tostring(normalize(e), pretty_print=True, encoding="unicode") for e in (by_crm, by_cibadmin))
    assert a == b, diff(a, b, ("crm/lio.crm (crmsh)", "ALUA=lio crm/stack.pcs --print (cibadmin)"))


def test_names_come_from_the_variables() -> None:
    """The site names appear only in the defaults, so NODE1=... and friends rename everything."""
    text = SCRIPT.read_text()
    for line in text.splitlines():
        if re.match(r"^\w+=\$\{\w+:-", line) or line.lstrip().startswith("#"):
            continue
        for name in ("hpms0", "vg1", "iqn.", "509f7d73", "192.168.", "lun1"):
            assert name not in line, f"crm/stack.pcs: {name!r} outside the defaults: {line!r}"
    names = {
        "NODE1": "san1",
        "NODE2": "san2",
        "VG": "data",
        "TARGET1": "iqn.2024-01.com.example:san1.data",
        "TARGET2": "iqn.2024-01.com.example:san2.data",
    }
    renamed = run_script("--print", env=names).stdout
    assert "hpms0" not in renamed and "vg1" not in renamed and "2016-02" not in renamed
    assert "'targets=san1=iqn.2024-01.com.example:san1.data san2=iqn.2024-01.com.example:san2.data'" in renamed
    assert " devices=data=/dev/data/lun1 " in renamed, "SCST's device is named after the VG, on the LV"
    lio = {**names, "ALUA": "lio", "PORTALS1": "10.0.1.1:3260,10.0.2.1:3260", "PORTALS2": "10.0.1.2:3260"}
    renamed = run_script("--print", env={**lio, "LV": "/dev/data/lun7", "SERIAL": "0123abcd"}).stdout
    for old in ("hpms0", "vg1", "2016-02", "192.168.", "509f7d73", "lun1"):
        assert old not in renamed, old
    assert "'portals=san1=10.0.1.1:3260,10.0.2.1:3260 san2=10.0.1.2:3260'" in renamed
    assert "'devices=*/p_lu_data=0123abcd' " in renamed
    for node, iqn in (("san1", names["TARGET1"]), ("san2", names["TARGET2"])):
        assert f'attribute="#uname" operation="eq" value="{node}"/></rule><nvpair' in renamed
        assert f'name="iqn" value="{iqn}"' in renamed and f'name="target_iqn" value="{iqn}"' in renamed
    assert 'name="path" value="/dev/data/lun7"' in renamed and 'name="scsi_sn" value="0123abcd"' in renamed


@pytest.mark.parametrize("alua", ["scst", "lio"])
def test_push_mode_edits_a_copy_and_pushes_the_difference(alua: str, tmp_path: Path) -> None:
    """Without arguments the script works on a copy of the live CIB and pushes only its changes
    (stand-ins for pcs and cibadmin record the calls: there is no live cluster here); with lio,
    cibadmin edits the same copy (CIB_file), between the pcs commands, never the live CIB."""
    log = tmp_path / "calls"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake_pcs = bindir / "pcs"
    fake_pcs.write_text(
        '#!/bin/sh\necho "$*" >> "$PCS_LOG"\nif [ "$1 $2" = "cluster cib" ]; then echo "<cib/>" > "$3"; fi\n'
    )
    fake_cibadmin = bindir / "cibadmin"
    fake_cibadmin.write_text(
        '#!/bin/sh\n[ -n "${CIB_file:-}" ] || { echo live CIB >&2; exit 1; }\n'
        'echo "-f $CIB_file cibadmin $*" >> "$PCS_LOG"\n'
    )
    for fake in (fake_pcs, fake_cibadmin):
        fake.chmod(0o755)
    env = {"PATH": f"{bindir}:{os.environ['PATH']}", "PCS_LOG": str(log), "ALUA": alua}
    proc = run_script(env=env)
    assert proc.returncode == 0, proc.stderr
    calls = log.read_text().splitlines()
    first, *edits, last = calls
    orig = first.split()[2]
    assert first == f"cluster cib {orig}"
    work = edits[0].split()[1]
    assert work != orig and all(c.startswith(f"-f {work} ") for c in edits)
    printed = run_script("--print", env={"ALUA": alua}).stdout.splitlines()
    assert len(edits) == len(printed)
    assert [c.split()[2] == "cibadmin" for c in edits] == [line.startswith("cibadmin ") for line in printed]
    assert last == f"cluster cib-push {work} diff-against={orig}"
    assert not Path(orig).exists() and not Path(work).exists()


@needs_pcs
def test_pcs_preference_matches_crmsh(loaded, lab_dir: Path) -> None:
    """The node preference stack.pcs documents is the one stack.crm documents."""
    crm_line = next(
        line.lstrip("# ").strip()
        for line in (CRM_DIR / "stack.crm").read_text().splitlines()
        if line.lstrip("# ").startswith("location ")
    )
    text = SCRIPT.read_text()
    start = text.index("#   pcs constraint location")
    pcs_cmd = " ".join(line.lstrip("# ").rstrip("\\").strip() for line in text[start:].splitlines()[:2])
    by_crm = copy_cib(loaded.cib("stack"), lab_dir / "pref-crm.xml")
    by_pcs = copy_cib(loaded.cib("stack"), lab_dir / "pref-pcs.xml")
    crm_load_ok(by_crm, crm_line + "\n")
    argv = shlex.split(pcs_cmd)
    assert argv[0] == "pcs"
    subprocess.run(["pcs", "-f", str(by_pcs), *argv[1:]], check=True, capture_output=True)
    a, b = canonical(by_crm), canonical(by_pcs)
    assert a == b, diff(a, b, ("stack.crm's preference (crmsh)", "stack.pcs's preference (pcs)"))
