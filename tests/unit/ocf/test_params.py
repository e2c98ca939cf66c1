"""Parameter declarations: typed values, defaults applied in code, clear errors."""

from __future__ import annotations

import pytest

from alua.ocf import params
from alua.ocf.errors import ConfigError


class Example(params.Params):
    name = params.string("n", "n.", required=True)
    count = params.integer("c", "c.", default=3, minimum=1, maximum=10)
    enabled = params.boolean("e", "e.", default=False)
    mode = params.choice("m", "m.", choices=("shared", "exclusive"), default="shared")
    args = params.string("a", "a.", default="", allow_empty=True)


def parse(env: dict[str, str], strict: bool = True) -> tuple[Example, list[ConfigError]]:
    return Example.from_env({f"OCF_RESKEY_{k}": v for k, v in env.items()}, strict=strict)


def test_defaults_are_applied_in_code() -> None:
    cfg, errors = parse({"name": "x"})
    assert errors == []
    assert (cfg.name, cfg.count, cfg.enabled, cfg.mode, cfg.args) == ("x", 3, False, "shared", "")


def test_values_are_typed() -> None:
    cfg, _ = parse({"name": "x", "count": "7", "enabled": "yes", "mode": "exclusive"})
    assert cfg.count == 7 and cfg.enabled is True and cfg.mode == "exclusive"


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("count", "seven", "is not an integer"),
        ("count", "0", "below the minimum 1"),
        ("count", "11", "above the maximum 10"),
        ("enabled", "maybe", "not a boolean"),
        ("mode", "both", "is not one of: shared, exclusive"),
        ("name", "", "is empty"),
        ("name", "a\nb", "control character"),
        ("name", " a", "whitespace"),
    ],
)
def test_bad_values_name_the_parameter_and_problem(key: str, value: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse({"name": "x", key: value})
    assert info.value.param == key
    assert f"parameter '{key}'" in info.value.reason and problem in info.value.reason


def test_required_parameter_missing() -> None:
    with pytest.raises(ConfigError, match="parameter 'name': is required"):
        parse({})


def test_lenient_parse_falls_back_to_defaults_and_reports() -> None:
    cfg, errors = parse({"count": "many"}, strict=False)
    assert cfg.count == 3 and cfg.name == ""
    assert sorted(e.param for e in errors) == ["count", "name"]


def test_allow_empty() -> None:
    cfg, _ = parse({"name": "x", "args": ""})
    assert cfg.args == ""


def test_declared_order_and_metadata_defaults() -> None:
    names = [p.name for p in Example.declared()]
    assert names == ["name", "count", "enabled", "mode", "args"]
    defaults = {p.name: p.default_text for p in Example.declared()}
    assert defaults == {"name": None, "count": "3", "enabled": "false", "mode": "shared", "args": None}
