"""The one base of carvoice's own errors, and the one meaning of "a value is not known right now".

`except CarvoiceError` catches every failure carvoice itself reports (a profile that does not
load, an action that failed, a bundle refused, ...), and nothing that is a bug.
"""

from __future__ import annotations


class CarvoiceError(Exception):
    """Something carvoice reports to a person: a bad file, a device that failed, a refused input."""


class TextError(CarvoiceError, ValueError):
    """Text a profile gives (a template, a condition, a reply) that cannot be read; `column` points at the fault."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.column = column


class UnknownValue(CarvoiceError, LookupError):
    """A name a condition, reply or plan needs has no value now (a vehicle value unknown or stale).

    Conditions, placeholders and the planner all raise this one type; `key` is the profile key
    of the action that needed it, when the planner knows it.
    """

    def __init__(self, name: str, key: str = "") -> None:
        super().__init__(f"{name} is not known right now")
        self.name = name
        self.key = key
