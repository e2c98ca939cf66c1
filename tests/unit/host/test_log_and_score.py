"""ocf_log-style logging, and the promotion score that changes only on change."""

from __future__ import annotations

import syslog

import pytest

from alua.host.cluster import PromotionScore
from alua.host.context import Context
from alua.ocf.environment import OcfEnvironment
from alua.ocf.log import Logger
from alua.ocf.params import Params
from alua.host.state import StateFile


def env_with(**values: str) -> OcfEnvironment:
    return OcfEnvironment({"OCF_RESOURCE_INSTANCE": "p_scst:1", **values}, "monitor", "scst")


def test_log_goes_to_syslog_daemon_with_the_instance_as_tag(monkeypatch, capsys) -> None:
    calls = []
    monkeypatch.setattr(syslog, "openlog", lambda *a: calls.append(("open", *a)))
    monkeypatch.setattr(syslog, "syslog", lambda *a: calls.append(("log", *a)))
    Logger(env_with()).warning("peer drifted")
    assert calls[0] == ("open", "p_scst:1", syslog.LOG_PID, syslog.LOG_DAEMON)
    assert calls[1] == ("log", syslog.LOG_WARNING, "WARNING: peer drifted")
    assert "WARNING: peer drifted" in capsys.readouterr().err


def test_log_files_and_debug_only_when_ha_debug_is_1(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(syslog, "syslog", lambda *a: None)
    logfile, debuglog = tmp_path / "ha.log", tmp_path / "debug.log"
    quiet = Logger(env_with(HA_LOGFILE=str(logfile), HA_DEBUGLOG=str(debuglog), HA_debug="0"), stderr=False)
    quiet.debug("hidden")
    quiet.info("shown")
    assert "hidden" not in logfile.read_text() + debuglog.read_text()
    assert "scst(p_scst:1)" in logfile.read_text() and "INFO: shown" in logfile.read_text()
    loud = Logger(env_with(HA_LOGFILE=str(logfile), HA_DEBUGLOG=str(debuglog), HA_debug="1"), stderr=False)
    loud.debug("details")
    assert "DEBUG: details" in debuglog.read_text() and "details" not in logfile.read_text()


def test_unwritable_log_file_never_fails(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(syslog, "syslog", lambda *a: None)
    Logger(env_with(HA_LOGFILE="/nonexistent/dir/ha.log"), stderr=False).error("still fine")


@pytest.fixture
def ctx(tmp_path):
    env = OcfEnvironment({"OCF_RESOURCE_INSTANCE": "p_scst:0", "HA_RSCTMP": str(tmp_path),
                          "HA_LOGFACILITY": "none", "PATH": "/usr/bin:/bin"}, "monitor", "scst")
    return Context(env, Params({}), Logger(env, stderr=False))


ATTR = ["crm_attribute", "--promotion=p_scst", "--lifetime=reboot"]


def test_score_is_written_only_when_it_changes(fp, ctx) -> None:
    fp.register([*ATTR, "--query", "--quiet"], stdout="100\n")
    PromotionScore(ctx).set(100, verify=True)  # the cluster already has 100: nothing to write
    fp.register([*ATTR, "--update", "50"])
    PromotionScore(ctx).set(50, verify=False)
    for _ in range(3):  # recurring monitors compare with what this agent last set
        PromotionScore(ctx).set(50, verify=False)
    assert fp.call_count([*ATTR, "--update", "50"]) == 1
    assert StateFile(ctx.env.rsctmp, "p_scst:0").get("promotion_score") == "50"
    fp.register([*ATTR, "--delete"])
    PromotionScore(ctx).set(None)
    assert fp.call_count([*ATTR, "--delete"]) == 1


def test_no_cluster_never_fails_the_action(fp, ctx) -> None:
    fp.register([*ATTR, "--query", "--quiet"], returncode=102,
                stderr="crm_attribute: Could not connect to the CIB: No such device or address\n")
    fp.register([*ATTR, "--update", "100"], returncode=102,
                stderr="crm_attribute: Could not connect to the CIB: No such device or address\n")
    PromotionScore(ctx).set(100, verify=True)
    fp.register([*ATTR, "--update", "100"], returncode=102, stderr="Could not connect\n")
    PromotionScore(ctx).set(100)
    assert fp.call_count([*ATTR, "--update", "100"]) == 2, "a failed write is retried next time"


def test_missing_crm_attribute_never_fails_the_action(ctx) -> None:
    ctx.env.raw["PATH"] = "/nonexistent"  # type: ignore[index]
    PromotionScore(ctx).set(100, verify=True)
