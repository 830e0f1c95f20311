"""The fault table: each fault test adds a row, and the run prints them all at the end.

Rows say what was injected, what the agent did, and how long after the fault cleared it
worked again. `pytest tests/test_faults*.py` prints the table; CI prints it too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import can

from carvoice import events
from carvoice.factory import build_agent, link_of
from tests.conftest import open_test_bus, until


@dataclass(frozen=True)
class Row:
    fault: str
    bus: str
    happened: str
    recovery: str


ROWS: list[Row] = []


def record(fault: str, happened: str, recovery_seconds: float | None = None, bus: str = "-") -> None:
    recovery = "-" if recovery_seconds is None else f"{recovery_seconds:.2f} s"
    ROWS.append(Row(fault, bus, happened, recovery))


def table() -> list[str]:
    lines = ["| fault | bus | what happened | recovery |", "|---|---|---|---|"]
    lines += [f"| {r.fault} | {r.bus} | {r.happened} | {r.recovery} |" for r in ROWS]
    return lines


# The demo car's command messages: the only frames the agent may ever send.
COMMAND_IDS = (0x2F1, 0x2F2, 0x2F3, 0x3A0)
# Sent by the test behind the agent's frames, on the agent's own bus: once it is heard, so is all before it.
MARKER_ID = 0x7FE


class Cabin:
    """The agent as the daemon builds it (link, CAN sink, state), its events, and a frame counter."""

    def __init__(self, profile, spec: str) -> None:
        interface, channel = spec.split(":", 1)
        self.events: list[events.Event] = []
        self.reports: list[str] = []
        self.agent = build_agent(profile, self.events.append, bus=(interface, channel), report=self.reports.append)
        self.link = link_of(self.agent)
        self.sent: list[str] = []  # what the car's side of the bus received from us
        self._markers: list[int] = []
        self.watch = open_test_bus(spec)
        watched = (*COMMAND_IDS, MARKER_ID)
        self.watch.set_filters([{"can_id": frame_id, "can_mask": 0x7FF, "extended": False} for frame_id in watched])
        self._watcher = can.Notifier(self.watch, [_Watch(self._heard)], timeout=0.05)

    def _heard(self, msg: can.Message) -> None:
        if msg.arbitration_id == MARKER_ID:
            self._markers.append(int.from_bytes(msg.data, "big"))
        elif msg.arbitration_id in COMMAND_IDS:
            self.sent.append(f"{msg.arbitration_id:03X}#{msg.data.hex().upper()}")

    def settle(self) -> list[str]:
        """What the car's side heard from the agent, once every frame the agent has sent so far arrived.

        A marker goes out behind them on the agent's own bus (past its frame policy, which would refuse
        it); a bus keeps one sender's frames in order, so when the marker is heard nothing is on its way.
        """
        marker = len(self._markers) + 1
        frame = can.Message(arbitration_id=MARKER_ID, data=marker.to_bytes(2, "big"), is_extended_id=False)
        self.link.bus.inner.send(frame)
        assert until(lambda: marker in self._markers, 5.0) is not None, "the marker never arrived"
        return list(self.sent)

    def kinds(self) -> list[str]:
        return [type(e).__name__ for e in self.events]

    def close(self) -> None:
        self._watcher.stop()
        self.watch.shutdown()
        self.agent.close()


class _Watch(can.Listener):
    """The test's own reader outlives the interface going down, like the agent's."""

    def __init__(self, heard) -> None:
        self.heard = heard

    def on_message_received(self, msg: can.Message) -> None:
        self.heard(msg)

    def on_error(self, exc: Exception) -> None:
        time.sleep(0.05)
