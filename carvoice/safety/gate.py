"""The last word before anything reaches the car.

A wrong action is worse than none: the gate turns anything doubtful into a
rejection (and a "Sorry?"), and refuses any frame the profile does not define,
whatever produced it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import can

from carvoice.act.plan import (
    CanFrame,
    PlanError,
    PlannedAction,
    StateReader,
    extreme_states,
    lookup_in,
    plan_actions,
    raw_value,
    slot_combinations,
    unchanged_raw,
)
from carvoice.errors import UnknownValue
from carvoice.intent.grammar import SlotValueType
from carvoice.profile import placeholders
from carvoice.profile.model import CanAction, Intent, Profile, RawFrameAction, diagnostic_id


@dataclass(frozen=True)
class Heard:
    """A command as it came by voice: its words, the recogniser's confidence in them, and any reason
    the recogniser gave to ask before carrying it out (`Recognition.reason_to_ask`)."""

    text: str
    confidence: float
    reason_to_ask: str = ""


@dataclass(frozen=True)
class RuleDecision:
    """What the profile's safety rules say about doing this now."""

    kind: Literal["allow", "refuse", "confirm"]
    reason: str = ""  # why refused, or why asked when heard unsure (`Heard.reason_to_ask` included)
    spoken: str = ""  # what to say: the refusal or the question


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    reason: str = ""
    intent: str = ""
    slots: dict[str, SlotValueType] = field(default_factory=dict)


class SafetyGate:
    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.policy = FramePolicy(profile)

    def review(self, words: list[str] | tuple[str, ...], confidence: float, doubt: str | None = None) -> Verdict:
        """Accept only a complete, unambiguous command, heard confidently, that the recogniser has no doubt about."""
        if not words:
            return Verdict(False, "nothing recognisable was said")
        readings = self.profile.readings(list(words))
        if not readings:
            return Verdict(False, "not a complete command")
        if len(readings) > 1:
            meanings = " or ".join(f"{name} {slots}" for name, slots in readings)
            return Verdict(False, f"ambiguous: could mean {meanings}")
        intent, slots = readings[0]
        settings = self.profile.recognition
        acts = bool(self.profile.intents[intent].actions)
        minimum = settings.min_confidence if acts else settings.min_confidence_to_answer
        if not confidence >= minimum:  # NaN too
            return Verdict(False, f"not sure enough (confidence {confidence:.2f} < {minimum:.2f})", intent, slots)
        if doubt is not None:
            return Verdict(False, doubt, intent, slots)
        return Verdict(True, "", intent, slots)

    def check_rules(
        self,
        intent: Intent,
        slots: dict[str, SlotValueType],
        state: StateReader | None,
        heard: Heard | None = None,
    ) -> RuleDecision:
        """A command that acts, heard below confirm_below or with a reason to ask (`heard`), is asked
        about first: what was said comes before whether it may be done (and an evaluation, which
        knows no vehicle state, sees the question), and after a yes the agent comes back here without
        `heard`. Then allow_when must hold, with every value it needs known; confirm_when (or an
        unknown value in it) asks."""
        if heard is not None and (unsure := self._unsure(intent, heard)):
            question = self._say(self.profile.replies.confirm_heard, {"command": heard.text}.get)
            return RuleDecision("confirm", unsure, question or self.profile.replies.confirm)
        # Each value is read once, so the rule and the question it asks speak of the same car.
        lookup = functools.cache(lookup_in(self.profile, slots, state))
        if intent.allow_when is not None:
            try:
                allowed = intent.allow_when.evaluate(lookup)
            except UnknownValue as unknown:
                name = unknown.name
                why = state.why_unknown(name) if state is not None else ""
                reason = f"{name} is not known right now" + (f" ({why})" if why else "")
                return RuleDecision("refuse", reason, self.unknown_state_reply(name))
            if not allowed:
                return RuleDecision(
                    "refuse",
                    f"not allowed now: {intent.name} needs {_condition_text(intent)}",
                    self._say(intent.refusal, lookup) or self.profile.replies.refused,
                )
        if intent.confirm_when is not None:
            try:
                ask = intent.confirm_when.evaluate(lookup)
            except UnknownValue:
                ask = True
            if ask:
                return RuleDecision("confirm", "", self._say(intent.question, lookup) or self.profile.replies.confirm)
        return RuleDecision("allow")

    def _unsure(self, intent: Intent, heard: Heard) -> str:
        """Why to ask before carrying out a command heard with little confidence or with the
        recogniser's own reason ("" to go ahead), every one that holds, for an intent
        `Profile.asks_when_unsure` asks about: the event then shows a lifted doubt (a quiet end in noise)
        also when the confidence alone would have asked."""
        if not self.profile.asks_when_unsure(intent):
            return ""
        below = self.profile.confirm_below(intent)
        reasons = [heard.reason_to_ask] if heard.reason_to_ask else []
        if not heard.confidence >= below:  # a NaN confidence is no confidence: asked about
            reasons.insert(0, f"heard with confidence {heard.confidence:.3f} < {below:g}")
        return "; ".join(reasons)

    def unknown_state_reply(self, name: str) -> str:
        return placeholders.fill(self.profile.replies.unknown_state, {"name": name}.get)

    @staticmethod
    def _say(text: str, lookup: Callable[[str], Any]) -> str:
        try:
            return placeholders.fill(text, lookup)
        except UnknownValue:
            return ""

    def foreign_frames(self, actions: list[PlannedAction]) -> list[CanFrame]:
        """Frames the profile does not define, by identifier or by any signal's value: these must not reach the bus."""
        return [a for a in actions if isinstance(a, CanFrame) and not self.policy.allows(a)]


def _condition_text(intent: Intent) -> str:
    return intent.allow_when_text or "its condition"


class FramePolicy:
    """Every frame the profile can send, signal by signal, worked out from the profile alone.

    For each message a CAN action names, each signal may carry its NoChange value or a
    value some action writes there: a constant, a value of the slot it names, or (for a
    vehicle value such as "{setpoint + 1}") anything within the action's clamp or the
    signal's range; at least one signal must carry a written value. A frame passes only
    when it is exactly what encoding its raw values gives, so stray bits, unknown
    identifiers, empty commands and values no command offers are all refused.
    """

    def __init__(self, profile: Profile, diagnostic: Iterable[tuple[int, bytes, bool]] = ()) -> None:
        """`diagnostic`: the exact OBD-II frames (id, data, extended) that polling the profile's [obd] values
        sends; no command may use a diagnostic identifier (the loader refuses it, and so does this)."""
        self.raw_frames: set[tuple[int, bytes, bool]] = set(diagnostic)
        # (frame id, extended) -> (message, signal -> raw values actions write there)
        self.messages: dict[tuple[int, bool], tuple[Any, dict[str, list[range | set[int]]]]] = {}
        for intent in profile.intents.values():
            for action in intent.actions:
                if isinstance(action, RawFrameAction) and not diagnostic_id(action.arbitration_id, action.extended):
                    self.raw_frames.add((action.arbitration_id, action.data, action.extended))
                elif isinstance(action, CanAction) and profile.dbc is not None:
                    self._add(profile, intent, action)

    def _add(self, profile: Profile, intent: Intent, action: CanAction) -> None:
        try:
            message = profile.dbc.get_message_by_name(action.message)
        except KeyError:
            return
        if diagnostic_id(message.frame_id, message.is_extended_frame):
            return
        key = (message.frame_id, message.is_extended_frame)
        _, written = self.messages.setdefault(key, (message, {s.name: [] for s in message.signals}))
        for name, spec in action.signals.items():
            signal = next((s for s in message.signals if s.name == name), None)
            if signal is not None:
                written[name].extend(_raws(profile, intent, action, signal, spec))

    def allows_message(self, msg: can.Message) -> bool:
        """The same question for a frame on its way to the bus; remote, error and FD frames are never sent."""
        if msg.is_remote_frame or msg.is_error_frame or msg.is_fd:
            return False
        return self.allows(CanFrame(msg.arbitration_id, bytes(msg.data), msg.is_extended_id))

    def allows(self, frame: CanFrame) -> bool:
        if (frame.arbitration_id, frame.data, frame.extended) in self.raw_frames:
            return True
        entry = self.messages.get((frame.arbitration_id, frame.extended))
        if entry is None:
            return False
        message, written = entry
        if len(frame.data) != message.length:
            return False
        try:
            raw = message.decode(frame.data, decode_choices=False, scaling=False)
            if bytes(message.encode(raw, scaling=False, strict=False)) != frame.data:
                return False
        except Exception:  # cantools raises several kinds for data that is not this message
            return False
        # A multiplexed message decodes only its active signals: a missing one is never allowed.
        carried = {name for name, values in written.items() if any(raw.get(name) in v for v in values)}
        unchanged = {s.name for s in message.signals if raw.get(s.name) == unchanged_raw(s)}
        return bool(carried) and carried | unchanged == set(written)


def _raws(
    profile: Profile, intent: Intent, action: CanAction, signal: Any, spec: str | float
) -> list[range | set[int]]:
    """The raw values one action can put into one signal (a name is looked up as `lookup_in` does)."""
    match = placeholders.PLACEHOLDER.fullmatch(spec) if isinstance(spec, str) else None
    if match is None:
        return [_encodable(signal, [spec], action)]
    name, sign, amount, _ = match.groups()
    given: list[Any] = [
        *intent.slot_values.get(name, ()),
        *([profile.vehicle[name]] if name in profile.vehicle else []),
    ]
    if sign:
        shift = float(amount) if sign == "+" else -float(amount)
        given = [v + shift for v in given if isinstance(v, int | float) and not isinstance(v, bool)]
    raws: list[range | set[int]] = [_encodable(signal, given, action)]
    if name in profile.state:  # a vehicle value: anything the signal holds, inside the clamp
        raws.append(_state_raws(signal, action.clamp))
    return raws


def _state_raws(signal: Any, clamp: tuple[float, float] | None) -> range:
    if not signal.scale:
        return range(0)
    limit = 1 << signal.length
    lowest, highest = (-(limit >> 1), (limit >> 1) - 1) if signal.is_signed else (0, limit - 1)
    low, high = signal.minimum, signal.maximum
    if clamp is not None:
        low = clamp[0] if low is None else max(low, clamp[0])
        high = clamp[1] if high is None else min(high, clamp[1])
    first = lowest if low is None else round((low - signal.offset) / signal.scale)
    last = highest if high is None else round((high - signal.offset) / signal.scale)
    first, last = sorted((first, last))
    return range(max(first, lowest), min(last, highest) + 1)


def _encodable(signal: Any, values: list[Any], action: CanAction) -> set[int]:
    result = set()
    for value in values:
        if action.clamp is not None and isinstance(value, int | float) and not isinstance(value, bool):
            value = min(max(value, action.clamp[0]), action.clamp[1])
        try:
            result.add(raw_value(signal, value, action.key))
        except (PlanError, TypeError, ValueError):
            continue
    return result


def every_frame(profile: Profile) -> set[tuple[int, bytes]]:
    """All frames the profile can send (for tests and audits), with the car at both ends of its ranges."""
    frames: set[tuple[int, bytes]] = set()
    for intent in profile.intents.values():
        for slots in slot_combinations(profile, intent):
            for state in extreme_states(profile):
                for action in plan_actions(profile, intent, slots, state):
                    if isinstance(action, CanFrame):
                        frames.add((action.arbitration_id, action.data))
    return frames


__all__ = ["FramePolicy", "SafetyGate", "Verdict", "every_frame"]
