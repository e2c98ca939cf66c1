"""Declarative agent parameters: one declaration gives meta-data and typed config.

An agent declares a subclass of :class:`Params` whose class attributes are
:class:`Param` descriptors.  The same declaration produces the meta-data
``<parameter>`` elements and parses ``OCF_RESKEY_<name>`` into typed values,
with defaults applied here in code rather than only advertised.

Runs on every ``monitor``: it imports neither ``typing`` nor ``dataclasses``
(each costs more start-up time than the whole monitor may spend).
"""

from __future__ import annotations

from alua.ocf.environment import OCF_TRUE
from alua.ocf.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any, Generic, TypeVar

    from typing_extensions import Self

    T = TypeVar("T")

    class _Generic(Generic[T]):
        pass

else:
    T = None

    class _Generic:
        def __class_getitem__(cls, item):
            return cls


# Characters that must never reach sysfs or a command line inside a value.
_CONTROL = frozenset(chr(c) for c in range(32)) | {"\x7f"}


def reject_control_chars(value: str) -> None:
    """Refuse newlines and other control characters (they would split a mgmt command)."""
    for char in value:
        if char in _CONTROL:
            raise ValueError(f"contains a control character ({char!r})")


def check_item(check: Callable[[str], None], item: str, what: str, where: str = "") -> None:
    """Run ``check`` on one item of a list value, so that the reason names the item:
    "has node name 'a b' that contains ..."."""
    try:
        check(item)
    except ValueError as e:
        raise ValueError(f"has {what} {item!r}{where} that {e}") from None


def parse_pairs(
    raw: str,
    key: str,
    value: str,
    check_key: Callable[[str], None],
    check_value: Callable[[str], None],
    *,
    key_name: str | None = None,
) -> tuple[tuple[str, str], ...]:
    """``"K1=V1 K2=V2"`` in order, each key once, for a structured parameter.

    ``key`` names a key in reasons ("node"), ``value`` a value ("TARGET"), ``key_name`` a key
    that fails its check ("node name"; default: ``key``).
    """
    pairs: list[tuple[str, str]] = []
    form = f"{key.upper()}={value}"
    for entry in raw.split():
        k, sep, v = entry.partition("=")
        if not sep:
            raise ValueError(f"has {entry!r}: expected {form}")
        check_item(check_key, k, key_name or key)
        check_item(check_value, v, value, f" for {key} {k}")
        if any(k == seen for seen, _ in pairs):
            raise ValueError(f"names {key} {k} twice")
        pairs.append((k, v))
    if not pairs:
        raise ValueError(f"lists no {form} entry")
    return tuple(pairs)


class Param(_Generic[T]):
    """One agent parameter; reading it on a :class:`Params` instance gives its typed value."""

    __slots__ = (
        "name",
        "content",
        "shortdesc",
        "longdesc",
        "default",
        "default_text",
        "required",
        "unique",
        "allow_empty",
        "parse",
    )

    def __init__(
        self, content: str, shortdesc: str, longdesc: str, parse: Callable[[str], T], default: T, *,
        default_text: str | None = None, required: bool = False, unique: bool = False, allow_empty: bool = False,
    ) -> None:
        self.name = ""
        self.content, self.shortdesc, self.longdesc = content, shortdesc, longdesc
        self.parse, self.default = parse, default
        self.default_text, self.required, self.unique, self.allow_empty = default_text, required, unique, allow_empty

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Params | None, owner: type | None = None) -> T:
        if obj is None:
            return self  # type: ignore[return-value]
        return obj._values[self.name]  # type: ignore[no-any-return]

    def convert(self, raw: str) -> T:
        """Turn the raw environment value into the typed value or raise ConfigError."""
        if raw == "" and not self.allow_empty:
            raise ConfigError(self.name, "is empty")
        if raw != raw.strip():
            raise ConfigError(self.name, f"{raw!r} has leading or trailing whitespace")
        try:
            reject_control_chars(raw)
            return self.parse(raw)
        except ValueError as e:
            raise ConfigError(self.name, f"{_shown(raw)} {e}") from e


def _shown(raw: str) -> str:
    """The value as the exit reason shows it: quoted, escaped, not too long."""
    text = repr(raw)
    return text if len(text) <= 80 else text[:77] + "...'"


def _parse_int(minimum: int | None, maximum: int | None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw, 10)
        except ValueError:
            raise ValueError("is not an integer") from None
        if minimum is not None and value < minimum:
            raise ValueError(f"is below the minimum {minimum}")
        if maximum is not None and value > maximum:
            raise ValueError(f"is above the maximum {maximum}")
        return value

    return parse


_FALSE = frozenset({"0", "false", "no", "off", "n"})


def parse_boolean(raw: str) -> bool:
    """OCF booleans as Pacemaker and crmsh write them."""
    low = raw.lower()
    if low in OCF_TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError("is not a boolean (use true or false)")


def string(
    shortdesc: str,
    longdesc: str,
    *,
    default: str = "",
    required: bool = False,
    unique: bool = False,
    allow_empty: bool = False,
    check: Callable[[str], None] | None = None,
) -> Param[str]:
    """A string parameter; ``check`` raises ValueError("says what is wrong")."""

    def parse(raw: str) -> str:
        if check is not None:
            check(raw)
        return raw

    return Param(
        "string", shortdesc, longdesc, parse, default,
        default_text=default if default else None, required=required, unique=unique, allow_empty=allow_empty,
    )


def integer(
    shortdesc: str,
    longdesc: str,
    *,
    default: int,
    minimum: int | None = None,
    maximum: int | None = None,
    required: bool = False,
    unique: bool = False,
) -> Param[int]:
    """An integer parameter with optional bounds (stated in the long description)."""
    bounds = []
    if minimum is not None:
        bounds.append(f"at least {minimum}")
    if maximum is not None:
        bounds.append(f"at most {maximum}")
    if bounds:
        longdesc = f"{longdesc} Must be {' and '.join(bounds)}."
    return Param(
        "integer", shortdesc, longdesc, _parse_int(minimum, maximum), default,
        default_text=str(default), required=required, unique=unique,
    )


def boolean(shortdesc: str, longdesc: str, *, default: bool) -> Param[bool]:
    """A boolean parameter (true/false, yes/no, 1/0)."""
    return Param("boolean", shortdesc, longdesc, parse_boolean, default, default_text="true" if default else "false")


def choice(shortdesc: str, longdesc: str, *, choices: Iterable[str], default: str) -> Param[str]:
    """A string parameter limited to a few values (listed in the long description)."""
    allowed = tuple(choices)

    def parse(raw: str) -> str:
        if raw not in allowed:
            raise ValueError(f"is not one of: {', '.join(allowed)}")
        return raw

    return Param("string", shortdesc, f"{longdesc} One of: {', '.join(allowed)}.", parse, default, default_text=default)


def structured(
    shortdesc: str,
    longdesc: str,
    *,
    parse: Callable[[str], T],
    default: T,
    default_text: str | None = None,
    required: bool = False,
    unique: bool = False,
) -> Param[T]:
    """A string parameter parsed into a richer value (a list, a map)."""
    return Param(
        "string", shortdesc, longdesc, parse, default, default_text=default_text, required=required, unique=unique
    )


class Params:
    """Base class of an agent's parameter declaration and its parsed configuration."""

    _params: tuple[Param[Any], ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared: list[Param[Any]] = []
        names: set[str] = set()
        for klass in cls.__mro__:  # the agent's own parameters first, shared ones after
            for value in vars(klass).values():
                # A subclass may redeclare a shared parameter (its backend's meaning): the first one wins.
                if isinstance(value, Param) and value.name not in names:
                    declared.append(value)
                    names.add(value.name)
        cls._params = tuple(declared)

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = dict(values)

    @classmethod
    def declared(cls) -> tuple[Param[Any], ...]:
        """The parameters in declaration order (meta-data lists them in this order)."""
        return cls._params

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, strict: bool) -> tuple[Self, list[ConfigError]]:
        """Parse OCF_RESKEY_* into a config.

        strict: raise the first error (start, promote, validate-all); otherwise
        invalid values fall back to their defaults and the errors are returned
        for logging (stop, demote, probes must not fail on configuration).
        """
        values: dict[str, Any] = {}
        errors: list[ConfigError] = []
        for param in cls._params:
            raw = env.get("OCF_RESKEY_" + param.name)
            if raw is None:
                if param.required:
                    errors.append(ConfigError(param.name, "is required but not set"))
                values[param.name] = param.default
                continue
            try:
                values[param.name] = param.convert(raw)
            except ConfigError as e:
                errors.append(e)
                values[param.name] = param.default
        if strict and errors:
            raise errors[0]
        return cls(values), errors

    def replace(self, **changes: Any) -> Self:
        """A copy with some values changed (tests, derived configs)."""
        values = dict(self._values)
        values.update(changes)
        return type(self)(values)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"{type(self).__name__}({inner})"
