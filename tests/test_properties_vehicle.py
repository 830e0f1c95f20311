"""Security and robustness properties on the CAN side, for the demo car.

The agent only ever sends frames the active profile defines, whatever slot values,
vehicle state or words reach it; status frames of any shape never crash the state
store or put a value in it that the DBC does not allow.
"""

from __future__ import annotations

import uuid
from typing import Any

import can
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carvoice.act.can import CanSink
from carvoice.act.plan import CanFrame, FixedState, PlanError, plan_actions
from carvoice.agent import Agent
from carvoice.check import load_profile
from carvoice.errors import UnknownValue
from carvoice.profile import placeholders
from carvoice.profile.conditions import names
from carvoice.profile.loader import default_profile_dir
from carvoice.profile.model import CanAction, Intent, Profile
from carvoice.safety.gate import SafetyGate, every_frame
from carvoice.sim.ecu import SimEcu
from carvoice.vehicle.state import VehicleState

PROFILE: Profile = load_profile(default_profile_dir())
GATE = SafetyGate(PROFILE)
EVERY_FRAME = every_frame(PROFILE)
ALL_SLOT_VALUES = sorted({v for i in PROFILE.intents.values() for vs in i.slot_values.values() for v in vs}, key=str)
ALL_SLOT_NAMES = sorted({n for i in PROFILE.intents.values() for n in i.slot_values} | {"setpoint", "driver_side"})


def reads_state(intent: Intent) -> bool:
    """Whether the car's state can change what this intent sends (its conditions or signal values)."""
    read: set[str] = set()
    for action in intent.actions:
        read |= names(action.when) if action.when is not None else set()
        if isinstance(action, CanAction):
            read |= {
                n for spec in action.signals.values() if isinstance(spec, str) for n in placeholders.names_in(spec)
            }
    return bool(read & set(PROFILE.state))


slot_values = st.one_of(
    st.sampled_from(ALL_SLOT_VALUES),
    st.integers(-(2**40), 2**40),
    st.integers(-5, 200),
    st.floats(allow_nan=True),
    st.text(max_size=10),
)
state_values = st.one_of(st.none(), st.integers(-1000, 70000), st.floats(), st.sampled_from(["P", "D", "Open", "x"]))
states = st.fixed_dictionaries({}, optional=dict.fromkeys(PROFILE.state, state_values)).map(FixedState)


@st.composite
def commands(draw: st.DrawFn) -> tuple[Intent, dict[str, Any]]:
    intent = PROFILE.intents[draw(st.sampled_from(sorted(PROFILE.intents)))]
    # The slots one sentence fills, each mostly with one of its own values, sometimes with anything.
    slots: dict[str, Any] = dict(intent.defaults)
    for name in sorted(draw(st.sampled_from(intent.slot_sets or (frozenset(),)))):
        own = draw(st.integers(0, 3)) > 0
        slots[name] = draw(st.sampled_from(intent.slot_values[name]) if own else slot_values)
    if draw(st.integers(0, 3)) == 0:
        slots |= draw(st.dictionaries(st.sampled_from(ALL_SLOT_NAMES), slot_values, max_size=2))
    if slots and draw(st.integers(0, 7)) == 0:
        del slots[draw(st.sampled_from(sorted(slots)))]
    return intent, slots


@given(commands(), st.none() | states)
def test_any_slot_values_and_state_plan_only_frames_the_profile_defines(command, state) -> None:
    intent, slots = command
    try:
        actions = plan_actions(PROFILE, intent, slots, state)
    except (PlanError, UnknownValue):  # a value the command needs is unknown in this state
        return
    frames = [a for a in actions if isinstance(a, CanFrame)]
    assert GATE.foreign_frames(frames) == []
    if not reads_state(intent):
        assert {(f.arbitration_id, f.data) for f in frames} <= EVERY_FRAME, (intent.name, slots)


vocabulary = sorted(PROFILE.grammar.words | {"yes", "no", "banana"})


@st.composite
def utterances(draw: st.DrawFn) -> list[str]:
    """Mostly word salad from the profile's own vocabulary, sometimes a real command."""
    if draw(st.booleans()):
        return draw(st.lists(st.sampled_from(vocabulary), max_size=8))
    intent = draw(st.sampled_from(sorted(PROFILE.intents)))
    return PROFILE.grammar.sample(intent, draw(st.randoms(use_true_random=False))).split()


@pytest.fixture(scope="module")
def bus_pair():
    channel = f"props-{uuid.uuid4().hex}"
    sender = can.Bus(interface="virtual", channel=channel)
    listener = can.Bus(interface="virtual", channel=channel)
    yield sender, listener
    sender.shutdown()
    listener.shutdown()


@settings(max_examples=max(20, settings.default.max_examples // 2))
@given(st.lists(utterances(), min_size=1, max_size=4), states, st.sampled_from([("yes",), ("no",), ()]))
def test_no_word_sequence_puts_a_frame_on_the_bus_that_the_profile_does_not_define(
    bus_pair, sentences, state, answer
) -> None:
    sender, listener = bus_pair
    emitted: list[Any] = []
    agent = Agent(PROFILE, emitted.append, [CanSink(sender)], state=state, ask=lambda _question: answer)
    for words in sentences:
        agent.handle_words(words)
    on_bus = []
    while (message := listener.recv(timeout=0)) is not None:
        on_bus.append(message)
    reported = [e for e in emitted if type(e).__name__ == "Can"]
    assert len(on_bus) == len(reported)
    for message, event in zip(on_bus, reported, strict=True):
        frame = CanFrame(message.arbitration_id, bytes(message.data), message.is_extended_id)
        assert GATE.foreign_frames([frame]) == [], frame.text
        assert frame.text == event.frame


# -- status frames in ----------------------------------------------------------------------

WATCHED = sorted({PROFILE.dbc.get_message_by_name(s.message).frame_id for s in PROFILE.state.values()})
COMMANDS = sorted(m.frame_id for m in PROFILE.dbc.messages if "HEAD_UNIT" in m.senders)


@st.composite
def frames(draw: st.DrawFn, ids: list[int]) -> can.Message:
    """Half of them shaped like the DBC's messages (so that they decode), half anything at all."""
    if draw(st.booleans()):
        frame_id = draw(st.sampled_from(ids))
        size = PROFILE.dbc.get_message_by_frame_id(frame_id).length
        return can.Message(
            arbitration_id=frame_id,
            is_extended_id=draw(st.integers(0, 3)) == 0,
            data=draw(st.binary(min_size=size, max_size=size)),
        )
    fd = draw(st.booleans())
    size = draw(st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 64] if fd else list(range(9))))
    return can.Message(
        arbitration_id=draw(st.sampled_from(ids) | st.integers(0, 0x7FF) | st.integers(0, 0x1FFFFFFF)),
        is_extended_id=draw(st.booleans()),
        is_error_frame=draw(st.booleans()),
        is_remote_frame=draw(st.booleans()),
        is_fd=fd,
        data=draw(st.binary(min_size=size, max_size=size)),
        check=False,
    )


def in_range(profile: Profile, name: str, value: Any) -> bool:
    source = profile.state[name]
    signal = profile.dbc.get_message_by_name(source.message).get_signal_by_name(source.signal)
    if isinstance(value, str):
        return value in {str(choice) for choice in (signal.choices or {}).values()}
    return signal.minimum <= value <= signal.maximum


@given(st.lists(frames(WATCHED), max_size=20))
def test_status_frames_of_any_shape_never_crash_or_store_an_impossible_value(messages) -> None:
    now = [0.0]
    state = VehicleState(PROFILE, clock=lambda: now[0])
    for message in messages:
        state.on_frame(message)
        now[0] += 0.05  # values are read once confirmed (two cycles of the 20 ms message)
        for name, value in state.snapshot().items():
            assert value is None or in_range(PROFILE, name, value), (name, value, message)


@given(st.lists(frames(COMMANDS), max_size=20))
def test_the_simulated_car_survives_any_command_frame(messages) -> None:
    ecu = SimEcu(can.Bus(interface="virtual", channel=f"sim-{uuid.uuid4().hex}"), PROFILE)
    try:
        for message in messages:
            ecu.on_frame(message)
            for definition in ecu.statuses:
                ecu.status_frame(definition, ecu.car.snapshot())
    finally:
        ecu.bus.shutdown()
