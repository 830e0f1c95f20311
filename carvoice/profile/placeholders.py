"""`{name}` in replies, serial lines and signal values, filled from slots, settings and vehicle state.

"Opening the {window} window."        a slot value as spoken: rear_left -> "rear left"
"The battery is at {battery:.1f} volts."   a number with a format
TempSetpoint_Cmd = "{setpoint + 1}"   a little arithmetic on a number
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from carvoice.errors import TextError, UnknownValue

PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)(?:\s*([+-])\s*(\d+(?:\.\d+)?))?(?::([^{}]*))?\}")
_ANY_BRACES = re.compile(r"\{[^{}]*\}")

Lookup = Callable[[str], Any]
# Widths and precisions above this are a typo or an attack on memory, never a reply.
_MAX_FORMAT_NUMBER = 32


class PlaceholderError(TextError):
    """Text whose braces are not placeholders this module can fill; `column` points at the fault."""


def names_in(text: str) -> list[str]:
    return [match.group(1) for match in PLACEHOLDER.finditer(text)]


def check(text: str) -> None:
    """Raises PlaceholderError unless every {...} is a placeholder whose format can show any number.

    A format is checked when the profile loads because a state value may be a whole
    number one moment and a fraction the next: `{speed:d}` would fail only in the car.
    """
    for match in _ANY_BRACES.finditer(text):
        placeholder = PLACEHOLDER.fullmatch(match.group(0))
        if placeholder is None:
            raise PlaceholderError(
                f"{match.group(0)} is not a placeholder like {{name}}, {{name:.1f}} or {{name + 1}}", match.start()
            )
        spec = placeholder.group(4)
        if spec and not _usable_format(spec):
            raise PlaceholderError(
                f"{match.group(0)}: {spec!r} is not a number format such as .0f or .1f", match.start() + 1
            )


def _usable_format(spec: str) -> bool:
    if any(int(number) > _MAX_FORMAT_NUMBER for number in re.findall(r"\d+", spec)):
        return False
    try:
        format(7, spec), format(-2.5, spec)
    except (ValueError, TypeError):
        return False
    return True


def display(value: Any, spec: str = "") -> str:
    """How a value reads aloud: rear_left -> "rear left", 22.0 -> "22"."""
    if spec and isinstance(value, int | float):
        return format(value, spec)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).replace("_", " ")


def _value(match: re.Match[str], lookup: Lookup) -> Any:
    name, sign, amount, _ = match.groups()
    value = lookup(name)
    if value is None:
        raise UnknownValue(name)
    if sign:
        if not isinstance(value, int | float):
            raise UnknownValue(f"{name} (a number was needed, not {value!r})")
        value = value + float(amount) if sign == "+" else value - float(amount)
    return value


def is_computed(spec: Any, slots: Any) -> bool:
    """True for a value worked out from the car or with arithmetic, rather than said or written."""
    if not isinstance(spec, str) or (match := PLACEHOLDER.fullmatch(spec)) is None:
        return False
    return match.group(1) not in slots or match.group(2) is not None


def fill(text: str, lookup: Lookup) -> str:
    """Every placeholder replaced by its value as spoken; raises UnknownValue."""
    return PLACEHOLDER.sub(lambda m: display(_value(m, lookup), m.group(4) or ""), text)


def value_of(spec: Any, lookup: Lookup) -> Any:
    """A signal value: a whole-string placeholder gives the value itself (a number stays a number)."""
    if isinstance(spec, str) and (match := PLACEHOLDER.fullmatch(spec)):
        return _value(match, lookup)
    return spec
