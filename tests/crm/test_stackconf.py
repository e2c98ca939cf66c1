"""alua-config: crm/ is its output for the seed's names; other names load, verify and place.

For three sets of other names (SCST with two LUNs and fence devices, LIO with two LUNs,
both backends on IPv6 portals) the whole stack alua-config writes is loaded with the real
crmsh into an offline CIB of those nodes, verified with crm_verify, and scheduled with
crm_simulate: DRBD Promoted on both nodes, the ALUA clone Promoted on one and Unpromoted on
the other. Bad names exit 2 with one line naming the option, and write nothing.
"""

# ruff: noqa: F811 - pytest fixtures are test arguments
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from crmlab import CRM_DIR, ROOT, canonical, configuration, copy_cib, crm_load_ok, crm_verify, diff
from crmlab import new_lab_cib, set_promotion_score, simulate

COMMAND = ROOT / "sbin" / "alua-config"
GEN_CRM = ROOT / "tools" / "gen-crm"
SCORE = 100
needs_pcs = pytest.mark.skipif(shutil.which("pcs") is None, reason="pcs is not installed (apt-get install pcs)")
# The variables a stack.pcs reads its names from (none may come from the test's environment).
SCRIPT_VARS = ("NODE1", "NODE2", "TARGET1", "TARGET2", "VG", "DRBD", "ALUA", "LIO_DEVICES", "PORTALS1", "PORTALS2",
               "ADDRS1", "ADDRS2", "LV", "LV2", "SERIAL", "SERIAL2")

SAN = [
    "--node1", "san1", "--node2", "san2",
    "--iqn1", "iqn.2024-01.com.example:san1.data", "--iqn2", "iqn.2024-01.com.example:san2.data",
    "--portals1", "10.0.1.1,10.0.2.1", "--portals2", "10.0.1.2,10.0.2.2",
    "--vg", "data",
]
# name -> (arguments, the ALUA agents the stack files are written for)
NAME_SETS = {
    "scst-2luns-fenced": (
        [*SAN, "--backend", "scst", "--lun", "lun1=lun1", "--lun", "lun2=lun2",
         "--fence1", "null hostlist=san1", "--fence2", "null hostlist=san2"],
        ("scst",),
    ),
    "lio-2luns": (
        [*SAN, "--backend", "lio", "--drbd", "r0", "--lun", "lun1=lun1:6c1d02ab", "--lun", "lun2=lun2:6c1d02ac"],
        ("lio",),
    ),
    "ipv6-both": (
        ["--node1", "a.example", "--node2", "b.example", "--iqn1", "iqn.2024-02.example:a", "--iqn2",
         "iqn.2024-02.example:b", "--portals1", "fd00::1,fd01::1", "--portals2", "fd00::2,fd01::2",
         "--vg", "vgsan", "--lun", "vgsan=lun0:0badcafe", "--backend", "scst,lio", "--port", "3261"],
        ("scst", "lio"),
    ),
}


def alua_config(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/usr/bin/python3", str(COMMAND), *args], capture_output=True, text=True, timeout=60, check=False, cwd=cwd
    )


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_crm_is_alua_config_for_the_seed_names(tmp_path: Path) -> None:
    """tools/gen-crm (alua-config with the seed's names) writes crm/ byte for byte: the files
    admins read are the command's output, so renaming with the command changes nothing else."""
    proc = subprocess.run([str(GEN_CRM), str(tmp_path)], capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    written = sorted(p.name for p in tmp_path.iterdir())
    in_crm = sorted(p.name for p in CRM_DIR.iterdir() if p.name != "README")
    assert written == in_crm
    for name in written:
        fresh, kept = (tmp_path / name).read_text(), (CRM_DIR / name).read_text()
        assert fresh == kept, f"crm/{name} is not what tools/gen-crm writes: run it\n" + diff(
            kept, fresh, (f"crm/{name}", "tools/gen-crm")
        )


def test_stdout_is_the_stack_file(tmp_path: Path) -> None:
    args, _ = NAME_SETS["lio-2luns"]
    assert alua_config(*args, "--output-dir", str(tmp_path)).returncode == 0
    crm = alua_config(*args)
    assert crm.returncode == 0 and crm.stderr == ""
    # the Load lines name the file alone on standard output, the directory with --output-dir
    assert crm.stdout == (tmp_path / "stack-lio.crm").read_text().replace(f"{tmp_path}/", "")
    pcs = alua_config(*args, "--format", "pcs")
    assert pcs.stdout == (tmp_path / "stack.pcs").read_text()


def test_config_file_gives_the_same(tmp_path: Path) -> None:
    args, _ = NAME_SETS["scst-2luns-fenced"]
    pairs = list(zip(args[::2], args[1::2]))
    lines = ["[stack]"]
    luns = [v for k, v in pairs if k == "--lun"]
    lines += [f"{k[2:]} = {v}" for k, v in pairs if k != "--lun"]
    lines += ["lun = " + luns[0], *(f"    {lun}" for lun in luns[1:])]  # a value over lines
    conf = tmp_path / "stack.conf"
    conf.write_text("\n".join(lines) + "\n")
    by_file = alua_config("--config", str(conf))
    assert by_file.returncode == 0, by_file.stderr
    assert by_file.stdout == alua_config(*args).stdout
    # an option overrides the file
    renamed = alua_config("--config", str(conf), "--node2", "san9").stdout
    assert "san9=iqn.2024-01.com.example:san2.data" in renamed and "san2=" not in renamed
    conf.write_text("\n".join([*lines, "nodes = x"]) + "\n")
    bad = alua_config("--config", str(conf))
    assert bad.returncode == 2 and bad.stderr.startswith(f"alua-config: {conf}: nodes: is not a key"), bad.stderr


@pytest.fixture(scope="module", params=sorted(NAME_SETS))
def generated(request, tmp_path_factory: pytest.TempPathFactory, installed_agents: Path) -> tuple[str, Path]:
    name = request.param
    out = tmp_path_factory.mktemp(f"stackconf-{name}")
    proc = alua_config(*NAME_SETS[name][0], "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    return name, out


def test_output_loads_verifies_and_places(generated: tuple[str, Path], tmp_path: Path) -> None:
    name, out = generated
    args, backends = NAME_SETS[name]
    nodes = (option(args, "--node1"), option(args, "--node2"))
    vg = option(args, "--vg")
    expected = {"drbd.crm", "lock.crm", "lvm.crm", "stack.pcs", *(f"{b}.crm" for b in backends)}
    expected |= {"stack.crm" if b == "scst" else f"stack-{b}.crm" for b in backends}
    if "--fence1" in args:
        expected.add("fence.crm")
    assert {p.name for p in out.iterdir()} == expected
    base = new_lab_cib(tmp_path / "base.xml", nodes)
    for backend in backends:
        stack_file = out / ("stack.crm" if backend == "scst" else f"stack-{backend}.crm")
        text = stack_file.read_text()
        for seed_name in ("hpms0", "vg1", "2016-02", "192.168.", "509f7d73"):
            assert seed_name not in text, f"{stack_file.name}: the seed's {seed_name!r} is left"
        assert f"Load:  crm configure load update {out}/{stack_file.name}" in text
        cib = copy_cib(base, tmp_path / f"{backend}.xml")
        crm_load_ok(cib, stack_file)
        verify = crm_verify(cib)
        assert verify.returncode == 0, verify.stderr
        conf = configuration(cib)
        alua = f"p_{backend}"
        params = {nv.get("name"): nv.get("value") for nv in conf.find(f".//primitive[@id='{alua}']").iter("nvpair")}
        assert params["targets"] == f"{nodes[0]}={option(args, '--iqn1')} {nodes[1]}={option(args, '--iqn2')}"
        drbd = option(args, "--drbd") if "--drbd" in args else vg
        assert params["drbd_resources"] == drbd
        if backend == "lio":
            port = option(args, "--port") if "--port" in args else "3260"
            first = option(args, "--portals1").split(",")[0]
            assert (f"[{first}]:{port}" if ":" in first else f"{first}:{port}") in params["portals"]
            lus = conf.findall(f".//group[@id='g_target_{vg}']/primitive")
            assert len(lus) == 1 + args.count("--lun")
        if "--fence1" in args:
            for node in nodes:
                (location,) = conf.findall(f".//rsc_location[@rsc='st_{node}']")
                assert location.get("node") == node and location.get("score") == "-INFINITY"
        for node in nodes:
            set_promotion_score(cib, f"p_drbd_{vg}", node, SCORE)
            set_promotion_score(cib, alua, node, SCORE)
        sim = simulate(cib, tmp_path / f"{backend}-out.xml")
        assert sim.nodes_in_role(f"p_drbd_{vg}", "Promoted") == set(nodes), sim.after
        (promoted,) = sim.nodes_in_role(alua, "Promoted")
        assert sim.after[alua] == {promoted: "Promoted", next(n for n in nodes if n != promoted): "Unpromoted"}
        assert sim.nodes_in_role(f"p_lvm_{vg}", "Started") == set(nodes), sim.after


def test_layer_files_load_alone(generated: tuple[str, Path], tmp_path: Path) -> None:
    name, out = generated
    nodes = (option(NAME_SETS[name][0], "--node1"), option(NAME_SETS[name][0], "--node2"))
    base = new_lab_cib(tmp_path / "base.xml", nodes)
    for layer in sorted(p for p in out.glob("*.crm") if not p.name.startswith("stack")):
        crm_load_ok(copy_cib(base, tmp_path / f"{layer.stem}.xml"), layer)


@needs_pcs
@pytest.mark.slow
@pytest.mark.parametrize("name", ["lio-2luns", "scst-2luns-fenced"])
def test_pcs_script_builds_the_same_cib(name: str, tmp_path: Path, installed_agents: Path) -> None:
    args, (backend,) = NAME_SETS[name]
    out = tmp_path / "out"
    assert alua_config(*args, "--output-dir", str(out)).returncode == 0
    base = new_lab_cib(tmp_path / "base.xml", (option(args, "--node1"), option(args, "--node2")))
    by_crm = copy_cib(base, tmp_path / "crm.xml")
    crm_load_ok(by_crm, out / ("stack.crm" if backend == "scst" else f"stack-{backend}.crm"))
    by_pcs = copy_cib(base, tmp_path / "pcs.xml")
    env = {k: v for k, v in os.environ.items() if k not in SCRIPT_VARS}
    proc = subprocess.run(["sh", str(out / "stack.pcs"), str(by_pcs)], env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    a, b = canonical(by_crm), canonical(by_pcs)
    assert a == b, diff(a, b, ("crmsh", "pcs"))


# (option to change, its bad value, what the reason says)
BAD = [
    ("--iqn1", "iqn.2024-01.com.example:san1\n.data", "contains a control character"),
    ("--node2", "san 2", "contains characters a node name cannot have: ' '"),
    ("--iqn2", "iqn.2024-01.com.example:san1.data", "is also --iqn1"),
    ("--portals2", "10.0.1.2,10.0.300.2", "not a valid IPv4 address"),
    ("--portals1", "10.0.1.1,10.0.1.1", "twice"),
    ("--backend", "iet", "names backend 'iet'"),
    ("--vg", "da+ta", "goes into resource ids"),
    ("--drbd", "all", "is not a usable DRBD resource name"),
    ("--lun", "lun1=snapshot1", "which LVM reserves"),
    ("--port", "65536", "not a number from 1 to 65535"),
    ("--fence1", "null host list", "expected AGENT NAME=VALUE"),
]


@pytest.mark.parametrize(("opt", "value", "reason"), BAD, ids=[b[0] + "-" + b[2][:20] for b in BAD])
def test_bad_names_write_nothing(opt: str, value: str, reason: str, tmp_path: Path) -> None:
    args = [*SAN, "--lun", "lun1=lun1:6c1d02ab", "--backend", "lio" if opt == "--port" else "scst"]
    bad = [*args[: args.index(opt)], *args[args.index(opt) + 2 :]] if opt in args else args
    out = tmp_path / "out"
    out.mkdir()
    proc = alua_config(*bad, opt, value, "--output-dir", str(out))
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"alua-config: {opt}") and reason in line, line
    assert list(out.iterdir()) == []
    good = alua_config(*args, "--output-dir", str(out))  # the same without the bad value writes
    assert good.returncode == 0 and (out / "stack.pcs").exists(), good.stderr


def test_missing_and_lio_needs_serials(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    without_iqn2 = [*SAN[:6], *SAN[8:], "--lun", "lun1=lun1"]
    proc = alua_config(*without_iqn2, "--output-dir", str(out))
    assert proc.returncode == 2 and proc.stderr == "alua-config: --iqn2: is missing (the second node's iSCSI target name)\n"
    proc = alua_config(*SAN, "--output-dir", str(out))
    assert proc.returncode == 2 and proc.stderr.startswith("alua-config: --lun: is missing")
    proc = alua_config(*SAN, "--lun", "lun1=lun1", "--backend", "lio", "--output-dir", str(out))
    assert proc.returncode == 2 and "without a unit serial" in proc.stderr
    assert list(out.iterdir()) == []
