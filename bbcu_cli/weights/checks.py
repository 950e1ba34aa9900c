"""Field checkers for the table-driven manifest validation (:mod:`.manifest`).

A checker takes a JSON value and returns the converted value or raises :class:`FieldError`;
:func:`nested` builds a dataclass from an object with a table of checkers.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from typing import Any

_NAME_RX = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
_SHA_RX = re.compile(r"^[0-9a-f]{64}$")
_DRIVE_ID_RX = re.compile(r"^[A-Za-z0-9_-]{10,128}$")


class FieldError(Exception):
    """Raised by checkers; ``field`` is filled in by the caller."""

    def __init__(self, message: str, field_name: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field_name


Checker = Callable[[Any], Any]


def rule(ok: Callable[[Any], bool], message: str, convert: Callable[[Any], Any] = lambda v: v) -> Checker:
    """Checker that accepts ``value`` when ``ok(value)``; ``message`` may use ``{value!r}``."""

    def check(value: Any) -> Any:
        if not ok(value):
            raise FieldError(message.format(value=value))
        return convert(value)

    return check


def optional(check: Checker) -> Checker:
    return lambda value: None if value is None else check(value)


def one_of(choices: tuple[str, ...]) -> Checker:
    return rule(lambda v: v in choices, f"must be one of {', '.join(choices)} (got {{value!r}})")


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


bool_ = rule(lambda v: isinstance(v, bool), "must be true or false")
str_ = rule(lambda v: isinstance(v, str), "must be a string")
dict_ = rule(lambda v: isinstance(v, dict), "must be an object")
positive_int = rule(
    lambda v: isinstance(v, int) and is_number(v) and v > 0, "must be a positive integer (got {value!r})"
)
positive_number = rule(lambda v: is_number(v) and v > 0, "must be a positive number (got {value!r})", float)
name = rule(
    lambda v: isinstance(v, str) and bool(_NAME_RX.match(v)),
    "must be lower-case letters, digits, '.', '_' or '-' (at most 80)",
)
sha256 = rule(lambda v: isinstance(v, str) and bool(_SHA_RX.match(v)), "must be 64 hex characters")
drive_id = rule(
    lambda v: isinstance(v, str) and bool(_DRIVE_ID_RX.match(v)),
    "must be a Google Drive id (letters, digits, '-', '_'; got {value!r})",
)
file_name = rule(
    lambda v: isinstance(v, str) and bool(v) and not re.search(r"[/\\]|^\.", v),
    "must be a plain file name (no folders, not hidden)",
)
urls = rule(
    lambda v: isinstance(v, list)
    and all(isinstance(u, str) and u.startswith(("https://", "http://", "file://")) for u in v),
    "must be a list of http(s):// or file:// URLs (got {value!r})",
    tuple,
)


def nested(cls: type, checks: Mapping[str, Checker], defaults: Mapping[str, Any]) -> Checker:
    def check(value: Any) -> Any:
        if not isinstance(value, dict):
            raise FieldError("must be an object")
        return cls(**check_fields(value, checks, defaults))

    return check


def check_fields(data: Mapping[str, Any], checks: Mapping[str, Checker], defaults: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(data) - set(checks))
    if unknown:
        raise FieldError("is not a known field", unknown[0])
    out: dict[str, Any] = {}
    for key, check in checks.items():
        if key not in data and key not in defaults:
            raise FieldError("is missing", key)
        try:
            out[key] = check(data[key]) if key in data else copy.copy(defaults[key])
        except FieldError as exc:
            raise FieldError(exc.message, f"{key}.{exc.field}" if exc.field else key) from None
    return out
