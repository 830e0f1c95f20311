"""The latest value of every vehicle signal the profile names, with its age.

A python-can Notifier thread feeds the store from the bus, so the audio loop
never waits for CAN. A value older than its source's max_age is unknown, not
stale-but-trusted: conditions that need it fail closed.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import can

from carvoice.profile.model import Profile, StateSource
from carvoice.vehicle.integrity import FAULT_HOLD_SECONDS, MessageGuard, SequenceRules

Clock = Callable[[], float]
# How long a decision waits at most for the listener to catch up, and how close to "now" counts as caught up.
CATCH_UP_SECONDS = 0.25
CATCH_UP_SLACK = 0.01
# How much longer a one-shot command waits for the rest of the car's values once any has arrived.
STARTUP_GRACE = 1.0
# A frame's reception time is trusted back this far (a wall-clock step between reception and now is not).
MAX_BACKLOG_SECONDS = 5.0


@dataclass
class _Watched:
    """One status message the profile reads: its guard, and the recent frames' values, oldest first."""

    definition: Any
    signals: dict[str, str]  # state name -> signal
    guard: MessageGuard
    max_age: float  # the longest max_age of its values: frames older than this and the confirmation go
    history: collections.deque[tuple[float, dict[str, Any]]] = field(default_factory=collections.deque)
    untrusted_until: float = -math.inf
    fault: str = ""  # why it is untrusted, while it is

    @property
    def key(self) -> tuple:
        """Two profiles that read the same signals of a message under the same rules can share what was heard."""
        return (self.definition.frame_id, self.guard.rules, frozenset(self.signals.values()))

    @property
    def label(self) -> str:
        return f"{self.definition.name} ({self.definition.frame_id:03X})"


class VehicleState:
    def __init__(self, profile: Profile, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.profile = profile
        self._values: dict[str, tuple[Any, float]] = {}  # values given directly (OBD-II polling)
        self._watched: dict[int, _Watched] = {}  # frame id -> status message
        self._lock = threading.Lock()
        self.rejected_frames = 0  # frames of a watched message that did not decode (wrong length, ...)
        self._newest_received = 0.0  # wall-clock reception time of the newest frame taken in
        self.replace_profile(profile)

    def replace_profile(self, profile: Profile) -> None:
        """Watch the signals another profile names; what was heard of a message it reads the same way is kept."""
        watched = {}
        for frame_id, (definition, signals, rules, max_age) in sequence_rules(profile).items():
            guard = MessageGuard(definition, rules, restart_after=max_age)
            watched[frame_id] = _Watched(definition, signals, guard, max_age)
        with self._lock:
            for frame_id, entry in watched.items():
                old = self._watched.get(frame_id)
                if old is not None and old.key == entry.key:
                    old.signals, old.max_age = entry.signals, entry.max_age
                    watched[frame_id] = old
            self._values = {
                name: entry
                for name, entry in self._values.items()
                if name in profile.state and self.profile.state.get(name) == profile.state[name]
            }
            self.profile, self._watched = profile, watched
            self._by_name = {name: w for w in watched.values() for name in w.signals}

    def update(self, name: str, value: Any, at: float | None = None) -> None:
        with self._lock:
            self._values[name] = (value, self.clock() if at is None else at)

    def value(self, name: str) -> Any:
        """The current value, or None when it was never seen, is older than its max_age, or is not trusted.

        A bus value is the newest one a whole confirmation time old (two cycles): had a second sender
        slipped it in, the real sender's next frame would by then have made the message untrusted.
        """
        source = self.profile.state.get(name)
        if source is None:
            return None
        now = self.clock()
        with self._lock:
            watched = self._by_name.get(name)
            if watched is None:
                entry = self._values.get(name)
                return None if entry is None or now - entry[1] > source.max_age else entry[0]
            if now < watched.untrusted_until:
                return None
            confirm = watched.guard.rules.confirm_seconds
            for seen, values in reversed(watched.history):
                if now - seen >= confirm:
                    return values.get(watched.signals[name]) if now - seen <= source.max_age + confirm else None
        return None

    def why_unknown(self, name: str) -> str:
        """Why a value is not trusted right now (for the event stream), or "" when it is merely old or unheard."""
        with self._lock:
            watched = self._by_name.get(name)
            if watched is None or self.clock() >= watched.untrusted_until:
                return ""
            return f"{watched.label} is not trusted: {watched.fault}"

    def age(self, name: str) -> float | None:
        """Seconds since the newest frame (or reading) that carried the value."""
        with self._lock:
            watched = self._by_name.get(name)
            if watched is not None:
                return self.clock() - watched.history[-1][0] if watched.history else None
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
        if not self._watched:
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

    def on_frame(self, message: can.Message) -> str | None:
        """Take in one frame of a watched status message; frames that do not fit the DBC are ignored.

        Returns news for the event stream: the message became untrusted (and why), or is trusted again.
        """
        watched = self._watched.get(message.arbitration_id)
        if watched is None or message.is_error_frame or message.is_remote_frame:
            return None
        definition = watched.definition
        data = bytes(message.data)
        if len(data) != definition.length or message.is_extended_id != definition.is_extended_frame:
            self.rejected_frames += 1  # 0x1B0 extended is another message than 0x1B0 standard
            return None
        try:
            decoded = definition.decode(data, decode_choices=True)
            raw = definition.decode(data, decode_choices=False, scaling=False)
        except Exception:  # cantools raises several kinds for a frame that does not match the DBC
            self.rejected_frames += 1
            return None
        values: dict[str, Any] = {}
        for signal in set(watched.signals.values()):
            value = decoded.get(signal)
            if isinstance(value, int | float) and not _within(definition.get_signal_by_name(signal), value):
                # Outside the DBC's range is the sender's "invalid" marker or a fault: unknown, not trusted.
                values[signal] = None
                self.rejected_frames += 1
            elif value is not None:
                values[signal] = value if isinstance(value, int | float) else str(value)
        # Age counts from when the frame reached us, not from when this thread got round to it.
        received = message.timestamp or time.time()
        seen = self.clock() - min(max(time.time() - received, 0.0), MAX_BACKLOG_SECONDS)
        news = None
        with self._lock:
            self._newest_received = max(self._newest_received, received)
            fault = watched.guard.check(data, raw, seen)
            if fault is not None:
                if seen >= watched.untrusted_until:
                    names = ", ".join(sorted(watched.signals))
                    news = f"CAN: {watched.label} {fault}: {names} not trusted until it has been in order for "
                    news += f"{FAULT_HOLD_SECONDS:g} s"
                watched.untrusted_until, watched.fault = seen + FAULT_HOLD_SECONDS, fault
            elif watched.fault and seen >= watched.untrusted_until:
                news, watched.fault = f"CAN: {watched.label} is in order again", ""
            watched.history.append((seen, values))
            oldest = seen - watched.max_age - watched.guard.rules.confirm_seconds
            while len(watched.history) > 1 and watched.history[1][0] <= oldest:
                watched.history.popleft()
        return news


def sequence_rules(profile: Profile) -> dict[int, tuple[Any, dict[str, str], SequenceRules, float]]:
    """Per status message the profile reads: its DBC definition, state name -> signal, its rules, its max_age.

    A counter or checksum named for any value of a message protects the whole message.
    """
    grouped: dict[int, tuple[Any, list[StateSource]]] = {}
    for source in profile.state.values():
        if source.message is not None and profile.dbc is not None:
            definition = profile.dbc.get_message_by_name(source.message)
            grouped.setdefault(definition.frame_id, (definition, []))[1].append(source)
    found = {}
    for frame_id, (definition, sources) in grouped.items():
        max_age = max(s.max_age for s in sources)
        named = next((s for s in sources if s.counter), None)
        summed = next((s for s in sources if s.checksum), None)
        rules = SequenceRules(
            (definition.cycle_time or 0) / 1000 or max_age / 3,
            named.counter if named else None,
            summed.checksum if summed else None,
            summed.checksum_type if summed else None,
        )
        found[frame_id] = (definition, {s.name: s.signal or "" for s in sources}, rules, max_age)
    return found


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
        news = self.state.on_frame(msg)
        if news is not None:
            self._report(news)

    def on_error(self, exc: Exception) -> None:
        if not self.failing:
            self.failing = True
            self._report(f"CAN: cannot read the bus ({exc}); vehicle values are unknown until it recovers")
        time.sleep(self.retry_seconds)

    def _report(self, message: str) -> None:
        if self.report is not None:
            self.report(message)
