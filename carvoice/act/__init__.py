"""Carrying out a command: CAN frames and serial writes, planned first, then performed."""

from __future__ import annotations

from typing import Protocol

from carvoice.act.plan import CanFrame, PlannedAction, SerialWrite
from carvoice.errors import CarvoiceError
from carvoice.events import Event


class ActionFailed(CarvoiceError, RuntimeError):
    """The action could not be carried out; the message says why, for the driver and the log."""


class ActionSink(Protocol):
    """Something that performs one kind of planned action and says what it did."""

    def accepts(self, action: PlannedAction) -> bool: ...

    def perform(self, action: PlannedAction, t: float) -> Event:
        """Do it, or raise ActionFailed."""
        ...

    def close(self) -> None: ...


__all__ = ["ActionFailed", "ActionSink", "CanFrame", "PlannedAction", "SerialWrite"]
