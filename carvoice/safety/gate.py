"""The last word before anything reaches the car.

A wrong action is worse than none: the gate turns anything doubtful into a
rejection (and a "Sorry?"), and refuses any frame the profile does not define,
whatever produced it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from carvoice.act.plan import (
    CanFrame,
    PlannedAction,
    StateReader,
    extreme_states,
    lookup_in,
    plan_actions,
    slot_combinations,
)
from carvoice.intent.grammar import SlotValueType
from carvoice.profile import placeholders
from carvoice.profile.conditions import Unknown
from carvoice.profile.model import CanAction, Intent, Profile, RawFrameAction


@dataclass(frozen=True)
class RuleDecision:
    """What the profile's safety rules say about doing this now."""

    kind: str  # "allow", "refuse" or "confirm"
    reason: str = ""  # why refused, for the event stream
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
        self.allowed_ids = _frame_ids(profile)

    def review(self, words: list[str] | tuple[str, ...], confidence: float, rival: str | None = None) -> Verdict:
        """Accept only a complete, unambiguous command, heard confidently, with no equally good rival."""
        if not words:
            return Verdict(False, "nothing recognisable was said")
        readings = self.profile.readings(list(words))
        if not readings:
            return Verdict(False, "not a complete command")
        if len(readings) > 1:
            meanings = " or ".join(f"{name} {slots}" for name, slots in readings)
            return Verdict(False, f"ambiguous: could mean {meanings}")
        intent, slots = readings[0]
        minimum = self.profile.recognition.min_confidence
        if confidence < minimum:
            return Verdict(False, f"not sure enough (confidence {confidence:.2f} < {minimum:.2f})", intent, slots)
        if rival is not None:
            return Verdict(False, f'could as well have been "{rival}"', intent, slots)
        return Verdict(True, "", intent, slots)

    def check_rules(self, intent: Intent, slots: dict[str, SlotValueType], state: StateReader | None) -> RuleDecision:
        """allow_when must hold, with every value it needs known; confirm_when (or an unknown value in it) asks."""
        lookup = lookup_in(self.profile, slots, state)
        if intent.allow_when is not None:
            try:
                allowed = intent.allow_when.evaluate(lookup)
            except Unknown as unknown:
                name = unknown.args[0]
                return RuleDecision("refuse", f"{name} is not known right now", self.unknown_state_reply(name))
            if not allowed:
                return RuleDecision(
                    "refuse",
                    f"not allowed now: {intent.name} needs {_condition_text(intent)}",
                    self._say(intent.refusal, lookup) or self.profile.replies.refused,
                )
        if intent.confirm_when is not None:
            try:
                ask = intent.confirm_when.evaluate(lookup)
            except Unknown:
                ask = True
            if ask:
                return RuleDecision("confirm", "", self._say(intent.question, lookup) or self.profile.replies.confirm)
        return RuleDecision("allow")

    def unknown_state_reply(self, name: str) -> str:
        return placeholders.fill(self.profile.replies.unknown_state, {"name": name}.get)

    @staticmethod
    def _say(text: str, lookup: Callable[[str], Any]) -> str:
        try:
            return placeholders.fill(text, lookup)
        except placeholders.Missing:
            return ""

    def foreign_frames(self, actions: list[PlannedAction]) -> list[CanFrame]:
        """Frames whose identifier the profile never sends: these must not reach the bus."""
        return [a for a in actions if isinstance(a, CanFrame) and a.arbitration_id not in self.allowed_ids]


def _condition_text(intent: Intent) -> str:
    return intent.allow_when_text or "its condition"


def _frame_ids(profile: Profile) -> frozenset[int]:
    ids: set[int] = set()
    for intent in profile.intents.values():
        for action in intent.actions:
            if isinstance(action, RawFrameAction):
                ids.add(action.arbitration_id)
            elif isinstance(action, CanAction) and profile.dbc is not None:
                ids.add(profile.dbc.get_message_by_name(action.message).frame_id)
    return frozenset(ids)


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


__all__ = ["SafetyGate", "Verdict", "every_frame"]
