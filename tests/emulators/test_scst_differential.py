"""compare() of scst_differential.py on small made-up step lists.

The real run against the emulator is tests/lab/test_scst_real.py (it needs the
lab); these check only that compare() reports what differs and nothing else.
"""
from __future__ import annotations

import copy

from . import scst_differential as differential


def steps() -> list[dict]:
    return [
        {"n": 0, "op": "list", "path": "", "result": ["device_groups", "devices"]},
        {"n": 1, "op": "read", "path": "targets/iscsi/enabled", "result": "0\n\n"},
        {"n": 2, "op": "write", "path": "device_groups/mgmt", "data": "create dg1",
         "result": {"write": "ok", "last_sysfs_mgmt_res": "0\n"}},
        {"n": 3, "op": "read", "path": "devices/vg1/usn", "result": {"error": "ENOENT"}},
    ]


def test_equal_runs_give_no_difference() -> None:
    assert differential.compare(steps(), steps()) == []


def test_a_different_result_is_reported_with_both_values() -> None:
    emulated = steps()
    emulated[1]["result"] = "1\n"
    emulated[2]["result"] = {"write": "EINVAL", "last_sysfs_mgmt_res": "-22\n"}
    diffs = differential.compare(steps(), emulated)
    assert diffs == [
        'step 1: read targets/iscsi/enabled: real "0\\n\\n" emulator "1\\n"',
        "step 2: write device_groups/mgmt 'create dg1': real "
        '{"write": "ok", "last_sysfs_mgmt_res": "0\\n"} emulator {"write": "EINVAL", "last_sysfs_mgmt_res": "-22\\n"}',
    ]


def test_an_error_against_a_text_is_a_difference() -> None:
    emulated = steps()
    emulated[3]["result"] = "509f7d73\n"
    assert [d.split(":")[0] for d in differential.compare(steps(), emulated)] == ["step 3"]


def test_a_changed_script_is_reported_once_and_ends_the_comparison() -> None:
    for change in ({"path": "device_groups/other"}, {"op": "read"}, {"data": "create dg2"}):
        emulated = steps()
        emulated[2].update(change)
        emulated[3]["result"] = "different too, but after the scripts parted"
        diffs = differential.compare(steps(), emulated)
        assert len(diffs) == 1 and diffs[0].startswith("step 2: the scripts differ"), (change, diffs)


def test_runs_of_different_length_are_reported() -> None:
    diffs = differential.compare(steps(), steps()[:3])
    assert diffs == ["the runs have 4 (real) and 3 (emulator) steps"]


def test_machine_dependent_reads_are_compared_by_shape(monkeypatch) -> None:
    monkeypatch.setattr(differential, "MACHINE_DEPENDENT",
                        {"devices/vg1/usn": ("a CRC of the name", r"[0-9a-f]+\n")})
    real, emulated = steps(), steps()
    real[3]["result"], emulated[3]["result"] = "509f7d73\n", "d45f30aa\n"
    assert differential.compare(real, emulated) == []
    emulated[3]["result"] = "not hex\n"
    assert len(differential.compare(real, emulated)) == 1


def test_compare_does_not_change_its_arguments() -> None:
    real, emulated = steps(), steps()
    emulated[1]["result"] = "1\n"
    before = copy.deepcopy((real, emulated))
    differential.compare(real, emulated)
    assert (real, emulated) == before
