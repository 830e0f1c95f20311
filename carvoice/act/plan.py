"""From an intent and its slots to the exact frames and serial writes, before anything is sent.

Planning is pure: it needs the profile and nothing else, so the profile checker
can plan every slot combination ahead of time and the safety stage can see
each frame before it reaches the bus.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from carvoice.intent.grammar import SlotValueType
from carvoice.profile.conditions import Unknown
from carvoice.profile.model import CanAction, Intent, Profile, RawFrameAction, SerialAction

_MAX_COMBINATIONS = 5000
_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


class PlanError(ValueError):
    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class CanFrame:
    arbitration_id: int
    data: bytes
    extended: bool = False
    message: str | None = None
    signals: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """can-utils' compact form, e.g. 2F1#0100."""
        width = 8 if self.extended else 3
        return f"{self.arbitration_id:0{width}X}#{self.data.hex().upper()}"


@dataclass(frozen=True)
class SerialWrite:
    port: str
    data: bytes
    expect: str | None = None
    timeout: float = 1.0


PlannedAction = CanFrame | SerialWrite


def slot_display(value: SlotValueType) -> str:
    """How a slot value reads in a reply or a serial line: rear_left -> rear left."""
    return str(value).replace("_", " ")


def fill_placeholders(text: str, values: Mapping[str, Any]) -> str:
    """Replace each {name} with its value as spoken; KeyError names a missing one."""
    return _PLACEHOLDER.sub(lambda m: slot_display(values[m.group(1)]), text)


def lookup_in(profile: Profile, slots: Mapping[str, SlotValueType]) -> Any:
    """A condition lookup over this command's slots, then the vehicle settings."""

    def lookup(name: str) -> Any:
        if name in slots:
            return slots[name]
        return profile.vehicle.get(name)

    return lookup


def plan_actions(profile: Profile, intent: Intent, slots: Mapping[str, SlotValueType]) -> list[PlannedAction]:
    """Every frame and write this command means; raises PlanError rather than guess."""
    lookup = lookup_in(profile, slots)
    can_signals: dict[str, dict[str, tuple[Any, str]]] = {}
    planned: list[PlannedAction] = []
    for action in intent.actions:
        try:
            if action.when is not None and not action.when.evaluate(lookup):
                continue
        except Unknown:
            continue
        if isinstance(action, CanAction):
            merged = can_signals.setdefault(action.message, {})
            for signal, spec in action.signals.items():
                value = _resolve(spec, slots, action.key, signal)
                if signal in merged and merged[signal][0] != value:
                    raise PlanError(
                        f"{action.message}.{signal} is set to both {merged[signal][0]!r} and {value!r}", action.key
                    )
                merged[signal] = (value, action.key)
        elif isinstance(action, RawFrameAction):
            planned.append(CanFrame(action.arbitration_id, action.data, action.extended))
        elif isinstance(action, SerialAction):
            try:
                text = fill_placeholders(action.write, slots)
            except KeyError as missing:
                raise PlanError(
                    f"write needs slot {{{missing.args[0]}}}, which this sentence did not fill", action.key
                ) from None
            planned.append(SerialWrite(action.port, text.encode("utf-8"), action.expect, action.timeout))
    frames = [_encode(profile, message, signals) for message, signals in can_signals.items()]
    return frames + planned


def slot_combinations(profile: Profile, intent: Intent) -> Iterator[dict[str, SlotValueType]]:
    """Slot values an intent can be heard with (sampled when there are very many)."""
    seen: set[tuple] = set()
    rng = random.Random(0)
    for slot_set in intent.slot_sets or (frozenset(),):
        names = sorted(slot_set)
        choices = [list(intent.slot_values[n]) for n in names]
        total = 1
        for options in choices:
            total *= len(options)
        if total <= _MAX_COMBINATIONS:
            combos: Iterator[tuple] = itertools.product(*choices)
        else:
            combos = (tuple(rng.choice(o) for o in choices) for _ in range(_MAX_COMBINATIONS))
        for combo in combos:
            slots = {**intent.defaults, **dict(zip(names, combo, strict=True))}
            identity = tuple(sorted(slots.items()))
            if identity not in seen:
                seen.add(identity)
                yield slots


def _resolve(spec: str | float, slots: Mapping[str, SlotValueType], key: str, signal: str) -> Any:
    if isinstance(spec, str) and spec.startswith("{") and spec.endswith("}"):
        name = spec[1:-1]
        if name not in slots:
            raise PlanError(f"{signal} needs slot {{{name}}}, which this sentence did not fill", key)
        return slots[name]
    return spec


def _encode(profile: Profile, message_name: str, signals: dict[str, tuple[Any, str]]) -> CanFrame:
    keys = {key for _, key in signals.values()}
    key = min(keys) if keys else ""
    if profile.dbc is None:
        raise PlanError('CAN actions by message name need a DBC file: set dbc = "..." under [can]', key)
    try:
        message = profile.dbc.get_message_by_name(message_name)
    except KeyError:
        names = ", ".join(sorted(m.name for m in profile.dbc.messages))
        raise PlanError(f"the DBC has no message {message_name} (messages: {names})", key) from None
    raw: dict[str, int] = {}
    for signal in message.signals:
        raw[signal.name] = _unchanged_raw(signal)
    for name, (value, signal_key) in signals.items():
        signal = next((s for s in message.signals if s.name == name), None)
        if signal is None:
            known = ", ".join(s.name for s in message.signals)
            raise PlanError(f"{message_name} has no signal {name} (signals: {known})", signal_key)
        raw[name] = _raw_value(signal, value, signal_key)
    data = message.encode(raw, scaling=False, strict=True)
    decoded = message.decode(data, decode_choices=True)
    shown = {name: str(value) if not isinstance(value, int | float) else value for name, value in decoded.items()}
    return CanFrame(message.frame_id, bytes(data), message.is_extended_frame, message.name, shown)


def _unchanged_raw(signal: Any) -> int:
    """Signals a command does not mention carry the DBC's NoChange value (or raw 0)."""
    for raw, name in (signal.choices or {}).items():
        if _normal(str(name)) == "nochange":
            return int(raw)
    return 0


def _raw_value(signal: Any, value: Any, key: str) -> int:
    if isinstance(value, str):
        wanted = _normal(value)
        for raw, name in (signal.choices or {}).items():
            if _normal(str(name)) == wanted:
                return int(raw)
        names = ", ".join(str(n) for n in (signal.choices or {}).values()) or "none: give a number"
        raise PlanError(f"{value!r} is not a value of {signal.name} (values: {names})", key)
    low, high = signal.minimum, signal.maximum
    if (low is not None and value < low) or (high is not None and value > high):
        raise PlanError(f"{value} is outside {signal.name}'s range {low}..{high}", key)
    raw = round((value - signal.offset) / signal.scale)
    limit = 1 << signal.length
    lowest, highest = (-(limit >> 1), (limit >> 1) - 1) if signal.is_signed else (0, limit - 1)
    if not lowest <= raw <= highest:
        raise PlanError(f"{value} does not fit in {signal.name} ({signal.length} bits)", key)
    return raw


def _normal(name: str) -> str:
    return name.lower().replace("_", "").replace(" ", "")
