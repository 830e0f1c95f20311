"""An action sink that plans and reports but sends nothing: evaluation, and trying a profile safely."""

from __future__ import annotations

from carvoice.act import PlannedAction
from carvoice.act.plan import CanFrame, SerialWrite
from carvoice.events import Can, Event, Serial
from carvoice.lifetime import Closing


class DryRunSink(Closing):
    def __init__(self) -> None:
        self.performed: list[PlannedAction] = []

    def accepts(self, action: PlannedAction) -> bool:
        return isinstance(action, CanFrame | SerialWrite)

    def perform(self, action: PlannedAction, t: float) -> Event:
        self.performed.append(action)
        if isinstance(action, CanFrame):
            return Can(t, frame=action.text, message=action.message, signals=dict(action.signals), channel="dry-run")
        return Serial(t, port=action.port, data=action.data.decode("utf-8", "replace"), reply=None)

    def close(self) -> None:
        pass
