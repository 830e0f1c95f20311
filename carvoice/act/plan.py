"""From an intent and its slots to the exact frames and serial writes, before anything is sent.

Planning is pure: it needs the profile and the car's values as a `StateReader` hands them
over, nothing else. So the profile check (carvoice.check) can plan every slot combination
ahead of time with the car at both ends of its ranges, and the safety stage can see each
frame before it reaches the bus.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from carvoice.errors import CarvoiceError, UnknownValue
from carvoice.intent.grammar import SlotValueType
from carvoice.profile import placeholders
from carvoice.profile.model import CanAction, Intent, Profile, RawFrameAction, SerialAction
from carvoice.profile.suggest import known_names

_MAX_COMBINATIONS = 5000


class PlanError(CarvoiceError, ValueError):
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


class StateReader(Protocol):
    """What planning needs of the vehicle state: a current value, or None when unknown or stale."""

    def value(self, name: str) -> Any: ...

    def why_unknown(self, name: str) -> str:
        """Why a value is not trusted now, for the event stream; "" when it is merely unheard or old."""
        ...

    def catch_up(self) -> None:
        """Take in what the car reported up to now before a decision reads it."""


def lookup_in(
    profile: Profile, slots: Mapping[str, SlotValueType], state: StateReader | None = None
) -> Callable[[str], Any]:
    """Names in conditions and placeholders: this command's slots, the vehicle settings, the vehicle state."""

    def lookup(name: str) -> Any:
        if name in slots:
            return slots[name]
        if name in profile.vehicle:
            return profile.vehicle[name]
        if state is not None and name in profile.state:
            return state.value(name)
        return None

    return lookup


def plan_actions(
    profile: Profile, intent: Intent, slots: Mapping[str, SlotValueType], state: StateReader | None = None
) -> list[PlannedAction]:
    """Every frame and write this command means; raises PlanError rather than guess."""
    _check_slots(intent, slots)
    lookup = lookup_in(profile, slots, state)
    can_signals: dict[str, dict[str, tuple[Any, str, bool]]] = {}
    planned: list[PlannedAction] = []
    for action in intent.actions:
        try:
            if action.when is not None and not action.when.evaluate(lookup):
                continue
        except UnknownValue:
            continue
        if isinstance(action, CanAction):
            merged = can_signals.setdefault(action.message, {})
            for signal, spec in action.signals.items():
                value = _resolve(spec, lookup, action, signal)
                if signal in merged and merged[signal][0] != value:
                    raise PlanError(
                        f"{action.message}.{signal} is set to both {merged[signal][0]!r} and {value!r}", action.key
                    )
                # A number the driver said or the profile wrote is sent exactly or not at all;
                # one computed from the car's state ("{setpoint + 1}") is rounded to the signal's step.
                merged[signal] = (value, action.key, not placeholders.is_computed(spec, slots))
        elif isinstance(action, RawFrameAction):
            planned.append(CanFrame(action.arbitration_id, action.data, action.extended))
        elif isinstance(action, SerialAction):
            try:
                text = placeholders.fill(action.write, lookup)
            except UnknownValue as unknown:
                raise UnknownValue(unknown.name, action.key) from None
            planned.append(SerialWrite(action.port, text.encode("utf-8"), action.expect, action.timeout))
    frames = [_encode(profile, message, signals) for message, signals in can_signals.items()]
    return frames + planned


def _check_slots(intent: Intent, slots: Mapping[str, SlotValueType]) -> None:
    """Only values the intent's sentences can give: a slot must not smuggle a value or a name in.

    A slot named like a vehicle value would hide it from conditions ("setpoint"), and a
    number the DBC allows may still be one the profile never offers (a 100 degree cabin).
    """
    for name, value in slots.items():
        allowed = intent.slot_values.get(name)
        if allowed is None:
            raise PlanError(f"{intent.name} has no slot {name}", f"intents.{intent.name}")
        if isinstance(value, bool) or not any(type(value) is type(v) and value == v for v in allowed):
            raise PlanError(f"{value!r} is not a value of slot {{{name}}} of {intent.name}", f"intents.{intent.name}")


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


def _resolve(spec: str | float, lookup: Callable[[str], Any], action: CanAction, signal: str) -> Any:
    try:
        value = placeholders.value_of(spec, lookup)
    except UnknownValue as unknown:
        raise UnknownValue(unknown.name, action.key) from None
    if action.clamp is not None and isinstance(value, int | float):
        low, high = action.clamp
        value = min(max(value, low), high)
    return value


def _encode(profile: Profile, message_name: str, signals: dict[str, tuple[Any, str, bool]]) -> CanFrame:
    keys = {key for _, key, _ in signals.values()}
    key = min(keys) if keys else ""
    if profile.dbc is None:
        raise PlanError('CAN actions by message name need a DBC file: set dbc = "..." under [can]', key)
    try:
        message = profile.dbc.get_message_by_name(message_name)
    except KeyError:
        names = known_names(message_name, (m.name for m in profile.dbc.messages), "messages")
        raise PlanError(f"the DBC has no message {message_name} {names}", f"{key}.can") from None
    raw: dict[str, int] = {}
    for signal in message.signals:
        raw[signal.name] = unchanged_raw(signal)
    for name, (value, signal_key, exact) in signals.items():
        signal = next((s for s in message.signals if s.name == name), None)
        if signal is None:
            known = known_names(name, (s.name for s in message.signals), "its signals")
            raise PlanError(f"{message_name} has no signal {name} {known}", f"{signal_key}.signals.{name}")
        raw[name] = raw_value(signal, value, f"{signal_key}.signals.{name}", exact)
    try:
        data = message.encode(raw, scaling=False, strict=True)
        decoded = message.decode(data, decode_choices=True)
    except Exception as error:  # cantools' own kinds: a multiplexed or otherwise unusual message
        raise PlanError(f"{message_name} cannot be encoded: {error}", key) from None
    shown = {name: str(value) if not isinstance(value, int | float) else value for name, value in decoded.items()}
    return CanFrame(message.frame_id, bytes(data), message.is_extended_frame, message.name, shown)


def unchanged_raw(signal: Any) -> int:
    """Signals a command does not mention carry the DBC's NoChange value (or raw 0)."""
    for raw, name in (signal.choices or {}).items():
        if _normal(str(name)) == "nochange":
            return int(raw)
    return 0


def raw_value(signal: Any, value: Any, key: str, exact: bool = False) -> int:
    """The raw bits for a physical value or a value name; `exact` refuses a value between two steps."""
    if isinstance(value, str):
        wanted = _normal(value)
        for raw, name in (signal.choices or {}).items():
            if _normal(str(name)) == wanted:
                return int(raw)
        number = _number(value)
        if number is None:
            names = ", ".join(str(n) for n in (signal.choices or {}).values()) or "none: give a number"
            raise PlanError(f"{value!r} is not a value of {signal.name} (values: {names})", key)
        value = number  # "25" where the signal has no value named 25: the installer meant the number
    if isinstance(value, float) and not math.isfinite(value):  # a NaN or infinite vehicle value
        raise PlanError(f"{value} is not a number {signal.name} can carry", key)
    if not signal.scale:
        raise PlanError(f"{signal.name} has a scale of 0 in the DBC: no value can be encoded", key)
    low, high = signal.minimum, signal.maximum
    if (low is not None and value < low) or (high is not None and value > high):
        raise PlanError(f"{value} is outside {signal.name}'s range {low}..{high}", key)
    steps = (Decimal(str(value)) - Decimal(str(signal.offset))) / Decimal(str(signal.scale))
    raw = round(steps)
    if exact and steps != raw:
        scale, offset = Decimal(str(signal.scale)), Decimal(str(signal.offset))
        shown = " and ".join(f"{float(n * scale + offset):g}" for n in (math.floor(steps), math.ceil(steps)))
        raise PlanError(
            f"{value:g} cannot be sent exactly: {signal.name} goes in steps of {signal.scale:g}"
            f" from {signal.offset:g} (nearest: {shown})",
            key,
        )
    limit = 1 << signal.length
    lowest, highest = (-(limit >> 1), (limit >> 1) - 1) if signal.is_signed else (0, limit - 1)
    if not lowest <= raw <= highest:
        raise PlanError(f"{value} does not fit in {signal.name} ({signal.length} bits)", key)
    return raw


def _number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _normal(name: str) -> str:
    return name.lower().replace("_", "").replace(" ", "")


class FixedState:
    """A car that reports the same values for ever: for checks and audits."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def value(self, name: str) -> Any:
        return self.values.get(name)

    def why_unknown(self, name: str) -> str:
        return ""

    def catch_up(self) -> None:
        """Nothing to wait for: the values never change."""


def extreme_states(profile: Profile) -> list[FixedState]:
    """The car at both ends of every value's range: a plan that encodes at both encodes between."""
    ends: list[dict[str, Any]] = [{}, {}]
    for name, source in profile.state.items():
        low, high = source.limits or (0, 100)  # an OBD-II value's own range, else a percentage
        if source.message is not None and profile.dbc is not None:
            signal = profile.dbc.get_message_by_name(source.message).get_signal_by_name(source.signal)
            low = signal.minimum if signal.minimum is not None else 0
            high = signal.maximum if signal.maximum is not None else low
        ends[0][name], ends[1][name] = low, high
    return [FixedState(values) for values in ends]
