"""The dispatcher: every outcome mapped to an exit code and one reason line, in one place."""

from __future__ import annotations

import sys
import time

import pytest

from alua.ocf import params
from alua.ocf.declaration import Action, Agent
from alua.ocf.dispatch import main
from alua.ocf.errors import OcfError
from alua.ocf.exitstatus import ExitStatus


class P(params.Params):
    size = params.integer("s", "s.", default=1, minimum=1)
    name = params.string("n", "n.", required=True)


def make_agent(handler) -> Agent:
    return Agent(name="toy", version="1", shortdesc="t", longdesc="t.", params=P,
                 actions=[Action(a, handler, timeout=5) for a in ("start", "stop", "monitor", "demote")]
                 + [Action("validate-all", None, timeout=5), Action("meta-data", None, timeout=5)])


def run(handler, action: str, **env: str) -> int:
    environ = {"OCF_EXIT_REASON_PREFIX": "ocf-exit-reason:", "HA_LOGFACILITY": "none", **env}
    return main(make_agent(handler), ["toy", action], environ)


def ok(ctx) -> ExitStatus:
    return ExitStatus.OK


def test_unexpected_exception_is_1_with_reason_and_no_traceback(capsys) -> None:
    def boom(ctx):
        raise KeyError("device")

    assert run(boom, "start", OCF_RESKEY_name="x") == 1
    err = capsys.readouterr().err
    assert "ocf-exit-reason:internal error: KeyError: 'device'" in err
    assert "Traceback" not in err


def test_typed_error_keeps_its_status(capsys) -> None:
    def refuse(ctx):
        raise OcfError("no such target", ExitStatus.NOT_INSTALLED)

    assert run(refuse, "start", OCF_RESKEY_name="x") == 5
    assert capsys.readouterr().err.strip().endswith("ocf-exit-reason:no such target")


def test_bad_parameter_on_start_is_6_but_not_on_stop_or_probe(capsys) -> None:
    assert run(ok, "start", OCF_RESKEY_name="x", OCF_RESKEY_size="0") == 6
    assert "parameter 'size': '0' is below the minimum 1" in capsys.readouterr().err
    assert run(ok, "stop", OCF_RESKEY_size="0") == 0
    assert run(ok, "monitor", OCF_RESKEY_size="zero") == 0


def test_configuration_error_raised_by_stop_or_probe_never_fails_them() -> None:
    def config_error(ctx):
        raise OcfError("cannot tell what to stop", ExitStatus.NOT_CONFIGURED)

    assert run(config_error, "stop") == 0
    assert run(config_error, "monitor", OCF_RESKEY_CRM_meta_interval="0") == 7
    assert run(config_error, "monitor", OCF_RESKEY_name="x", OCF_RESKEY_CRM_meta_interval="10000") == 6


def test_a_hanging_action_ends_within_its_timeout(capsys) -> None:
    def hang(ctx):
        time.sleep(30)
        return ExitStatus.OK

    started = time.monotonic()
    assert run(hang, "start", OCF_RESKEY_name="x", OCF_RESKEY_CRM_meta_timeout="2000") == 1
    assert time.monotonic() - started < 2.0
    assert "start timed out" in capsys.readouterr().err


def test_validate_all_without_handler_validates_parameters() -> None:
    assert run(ok, "validate-all", OCF_RESKEY_name="x") == 0
    assert run(ok, "validate-all") == 6


@pytest.mark.parametrize(("argv", "code"), [(["toy"], 2), (["toy", "a", "b"], 2), (["toy", "promote"], 3),
                                            (["toy", "usage"], 0), (["toy", "help"], 0)])
def test_argv(argv: list[str], code: int) -> None:
    assert main(make_agent(ok), argv, {}) == code


def test_meta_data_without_lxml_is_5_with_reason(capsys, monkeypatch) -> None:
    import site

    monkeypatch.setitem(sys.modules, "lxml", None)  # import lxml now raises ImportError
    monkeypatch.setitem(sys.modules, "lxml.etree", None)
    monkeypatch.setattr(site, "main", lambda: None)
    assert run(ok, "meta-data") == 5
    out = capsys.readouterr()
    assert out.out == ""
    assert "ocf-exit-reason:cannot build meta-data: lxml is not installed (python3-lxml)" in out.err
    assert "Traceback" not in out.err


def test_meta_data_with_lxml_is_a_document(capsys) -> None:
    assert run(ok, "meta-data") == 0
    assert capsys.readouterr().out.startswith('<?xml version="1.0"?>')
