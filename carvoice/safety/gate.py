"""The last word before anything reaches the car.

A wrong action is worse than none: the gate turns anything doubtful into a
rejection (and a "Sorry?"), and refuses any frame the profile does not define,
whatever produced it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from carvoice.act.plan import CanFrame, PlannedAction, plan_actions, slot_combinations
from carvoice.intent.grammar import SlotValueType
from carvoice.profile.model import CanAction, Profile, RawFrameAction


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

    def foreign_frames(self, actions: list[PlannedAction]) -> list[CanFrame]:
        """Frames whose identifier the profile never sends: these must not reach the bus."""
        return [a for a in actions if isinstance(a, CanFrame) and a.arbitration_id not in self.allowed_ids]


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
    """All frames the profile can ever send (for tests and audits)."""
    frames: set[tuple[int, bytes]] = set()
    for intent in profile.intents.values():
        for slots in slot_combinations(profile, intent):
            for action in plan_actions(profile, intent, slots):
                if isinstance(action, CanFrame):
                    frames.add((action.arbitration_id, action.data))
    return frames


__all__ = ["SafetyGate", "Verdict", "every_frame"]
