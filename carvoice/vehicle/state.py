"""The latest value of every vehicle signal the profile names, with its age.

A python-can Notifier thread feeds the store from the bus, so the audio loop
never waits for CAN. A value older than its source's max_age is unknown, not
stale-but-trusted: conditions that need it fail closed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import can

from carvoice.profile.model import Profile

Clock = Callable[[], float]


class VehicleState:
    def __init__(self, profile: Profile, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.profile = profile
        self._values: dict[str, tuple[Any, float]] = {}
        self._lock = threading.Lock()
        self.rejected_frames = 0  # frames of a watched message that did not decode (wrong length, ...)
        self.replace_profile(profile)

    def replace_profile(self, profile: Profile) -> None:
        """Watch the signals another profile names; a value it still names from the same source is kept."""
        by_message: dict[int, list[tuple[str, str]]] = {}
        for source in profile.state.values():
            if source.message is not None and profile.dbc is not None:
                frame_id = profile.dbc.get_message_by_name(source.message).frame_id
                by_message.setdefault(frame_id, []).append((source.name, source.signal or ""))
        with self._lock:
            self._values = {
                name: entry
                for name, entry in self._values.items()
                if name in profile.state and self.profile.state.get(name) == profile.state[name]
            }
            self.profile, self._by_message = profile, by_message

    def update(self, name: str, value: Any, at: float | None = None) -> None:
        with self._lock:
            self._values[name] = (value, self.clock() if at is None else at)

    def value(self, name: str) -> Any:
        """The current value, or None when it was never seen or is older than its max_age."""
        with self._lock:
            entry = self._values.get(name)
        source = self.profile.state.get(name)
        if entry is None or source is None:
            return None
        value, seen = entry
        return value if self.clock() - seen <= source.max_age else None

    def age(self, name: str) -> float | None:
        with self._lock:
            entry = self._values.get(name)
        return None if entry is None else self.clock() - entry[1]

    def snapshot(self) -> dict[str, Any]:
        return {name: self.value(name) for name in self.profile.state}

    def wait_until_known(self) -> bool:
        """For one-shot commands: give the car up to one max_age to report before rules read the state."""
        deadline = self.clock() + max((s.max_age for s in self.profile.state.values()), default=0.0)
        while None in self.snapshot().values():
            if self.clock() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def on_frame(self, message: can.Message) -> None:
        """Decode one frame of a watched status message; frames that do not fit the DBC are ignored."""
        watched = self._by_message.get(message.arbitration_id)
        if not watched or message.is_error_frame or message.is_remote_frame:
            return
        definition = self.profile.dbc.get_message_by_frame_id(message.arbitration_id)
        if len(message.data) != definition.length or message.is_extended_id != definition.is_extended_frame:
            self.rejected_frames += 1  # 0x1B0 extended is another message than 0x1B0 standard
            return
        try:
            decoded = definition.decode(bytes(message.data), decode_choices=True)
        except Exception:  # cantools raises several kinds for a frame that does not match the DBC
            self.rejected_frames += 1
            return
        now = self.clock()
        invalid = False
        with self._lock:
            for name, signal in watched:
                value = decoded.get(signal)
                if value is None:
                    continue
                if isinstance(value, int | float) and not _within(definition.get_signal_by_name(signal), value):
                    # Outside the DBC's range is the sender's "invalid" marker or a fault: unknown, not trusted.
                    self._values.pop(name, None)
                    invalid = True
                    continue
                self._values[name] = (value if isinstance(value, int | float) else str(value), now)
        self.rejected_frames += invalid


def _within(signal: Any, value: float) -> bool:
    low, high = signal.minimum, signal.maximum
    return (low is None or value >= low) and (high is None or value <= high)


class StateListener(can.Listener):
    """Feeds a VehicleState from a python-can Notifier."""

    def __init__(self, state: VehicleState) -> None:
        self.state = state

    def on_message_received(self, msg: can.Message) -> None:
        self.state.on_frame(msg)

    def on_error(self, exc: Exception) -> None:
        """A bus read error must not stop the listener thread; the values simply age out."""
