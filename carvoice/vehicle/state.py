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
# How long a decision waits at most for the listener to catch up, and how close to "now" counts as caught up.
CATCH_UP_SECONDS = 0.25
CATCH_UP_SLACK = 0.01
# How much longer a one-shot command waits for the rest of the car's values once any has arrived.
STARTUP_GRACE = 1.0
# A frame's reception time is trusted back this far (a wall-clock step between reception and now is not).
MAX_BACKLOG_SECONDS = 5.0


class VehicleState:
    def __init__(self, profile: Profile, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.profile = profile
        self._values: dict[str, tuple[Any, float]] = {}
        self._lock = threading.Lock()
        self.rejected_frames = 0  # frames of a watched message that did not decode (wrong length, ...)
        self._newest_received = 0.0  # wall-clock reception time of the newest frame taken in
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

    def catch_up(self, timeout: float = CATCH_UP_SECONDS) -> None:
        """Let the listening thread take in what the bus delivered while this thread held the interpreter.

        PocketSphinx keeps Python's interpreter lock while it decodes, so the listener may be a
        few hundred milliseconds behind when the rules are read: without this, a healthy car would
        look stale (and be refused) right after every command. A quiet bus costs `timeout` once.
        """
        if not self._by_message:
            return
        asked = time.time()
        deadline = self.clock() + timeout
        while self._newest_received < asked - CATCH_UP_SLACK and self.clock() < deadline:
            time.sleep(0.002)

    def wait_until_known(self) -> bool:
        """For one-shot commands: give the car up to one max_age to report before rules read the state,
        and STARTUP_GRACE more once it has been heard at all (a slow machine is still starting up)."""
        started = self.clock()
        longest = max((s.max_age for s in self.profile.state.values()), default=0.0)
        while None in self.snapshot().values():
            waited = self.clock() - started
            if waited >= longest and (self._newest_received == 0.0 or waited >= longest + STARTUP_GRACE):
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
        # Age counts from when the frame reached us, not from when this thread got round to it.
        received = message.timestamp or time.time()
        seen = self.clock() - min(max(time.time() - received, 0.0), MAX_BACKLOG_SECONDS)
        invalid = False
        with self._lock:
            self._newest_received = max(self._newest_received, received)
            for name, signal in watched:
                value = decoded.get(signal)
                if value is None:
                    continue
                if isinstance(value, int | float) and not _within(definition.get_signal_by_name(signal), value):
                    # Outside the DBC's range is the sender's "invalid" marker or a fault: unknown, not trusted.
                    self._values.pop(name, None)
                    invalid = True
                    continue
                self._values[name] = (value if isinstance(value, int | float) else str(value), seen)
        self.rejected_frames += invalid


def _within(signal: Any, value: float) -> bool:
    low, high = signal.minimum, signal.maximum
    return (low is None or value >= low) and (high is None or value <= high)


class StateListener(can.Listener):
    """Feeds a VehicleState from a python-can Notifier, and outlives read errors.

    A bus that goes down (unplugged adapter, `ip link set can0 down`) makes every read fail at
    once; the listener reports the first failure, waits between retries instead of spinning, and
    says when frames flow again. Meanwhile the values age out, so rules that need them refuse.
    """

    def __init__(
        self, state: VehicleState, report: Callable[[str], None] | None = None, retry_seconds: float = 0.2
    ) -> None:
        self.state = state
        self.report = report
        self.retry_seconds = retry_seconds
        self.failing = False

    def on_message_received(self, msg: can.Message) -> None:
        if self.failing:
            self.failing = False
            self._report("CAN: frames arrive again")
        self.state.on_frame(msg)

    def on_error(self, exc: Exception) -> None:
        if not self.failing:
            self.failing = True
            self._report(f"CAN: cannot read the bus ({exc}); vehicle values are unknown until it recovers")
        time.sleep(self.retry_seconds)

    def _report(self, message: str) -> None:
        if self.report is not None:
            self.report(message)
