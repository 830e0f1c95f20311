"""`carvoice text` sends exactly the frames the demo car's table asks for, and nothing else."""

import math
import shutil

import can
import cantools
import pytest

from carvoice.check import load_profile
from carvoice.cli import main, text
from carvoice.events import Confirm, Event, Say, Serial, from_json_line
from carvoice.profile.loader import default_profile_dir
from carvoice.safety.gate import every_frame
from tests.conftest import new_bus_spec, open_test_bus

DBC = cantools.database.load_file(str(default_profile_dir() / "demo_car.dbc"))

# sentence -> (message, the signals it must change); every other signal of the message must be NoChange.
TABLE = {
    "open the driver window": ("BODY_WINDOW_CMD", {"WindowFL_Cmd": "Open"}),
    "close the passenger window": ("BODY_WINDOW_CMD", {"WindowFR_Cmd": "Close"}),
    "open the rear left window": ("BODY_WINDOW_CMD", {"WindowRL_Cmd": "Open"}),
    "close all the windows": (
        "BODY_WINDOW_CMD",
        dict.fromkeys(["WindowFL_Cmd", "WindowFR_Cmd", "WindowRL_Cmd", "WindowRR_Cmd"], "Close"),
    ),
    "roll down the driver window": ("BODY_WINDOW_CMD", {"WindowFL_Cmd": "Open"}),
    "roll up the windows": (
        "BODY_WINDOW_CMD",
        dict.fromkeys(["WindowFL_Cmd", "WindowFR_Cmd", "WindowRL_Cmd", "WindowRR_Cmd"], "Close"),
    ),
    "open the sunroof": ("BODY_WINDOW_CMD", {"Sunroof_Cmd": "Open"}),
    "close the sunroof": ("BODY_WINDOW_CMD", {"Sunroof_Cmd": "Close"}),
    "lock the doors": ("BODY_ACCESS_CMD", {"Lock_Cmd": "Lock"}),
    "unlock the car": ("BODY_ACCESS_CMD", {"Lock_Cmd": "Unlock"}),
    "turn on the headlights": ("LIGHTS_CMD", {"Headlights_Cmd": "On"}),
    "switch off the hazard lights": ("LIGHTS_CMD", {"Hazard_Cmd": "Off"}),
    "turn the interior lights on": ("LIGHTS_CMD", {"Interior_Cmd": "On"}),
    "turn on the fog lights": ("LIGHTS_CMD", {"FogLights_Cmd": "On"}),
    "turn on the wipers": ("LIGHTS_CMD", {"Wiper_Cmd": "Low"}),
    "turn off the wipers": ("LIGHTS_CMD", {"Wiper_Cmd": "Off"}),
    "set the wipers to high": ("LIGHTS_CMD", {"Wiper_Cmd": "High"}),
    "set the wipers to intermittent": ("LIGHTS_CMD", {"Wiper_Cmd": "Intermittent"}),
    "turn on the rear defroster": ("LIGHTS_CMD", {"RearDefrost_Cmd": "On"}),
    "set the temperature to twenty two degrees": ("CLIMATE_CMD", {"TempSetpoint_Cmd": 22}),
    "set temperature to eighteen": ("CLIMATE_CMD", {"TempSetpoint_Cmd": 18}),
    "set the fan to three": ("CLIMATE_CMD", {"FanLevel_Cmd": 3}),
    "fan speed five": ("CLIMATE_CMD", {"FanLevel_Cmd": 5}),
    "turn off the fan": ("CLIMATE_CMD", {"FanLevel_Cmd": "Off"}),
    "turn on the air conditioning": ("CLIMATE_CMD", {"AC_Cmd": "On"}),
    "turn off the A C": ("CLIMATE_CMD", {"AC_Cmd": "Off"}),
    "turn on recirculation": ("CLIMATE_CMD", {"Recirc_Cmd": "On"}),
    "turn on the driver seat heater": ("CLIMATE_CMD", {"SeatHeatDriver_Cmd": "On"}),
    "turn off the passenger seat heater": ("CLIMATE_CMD", {"SeatHeatPassenger_Cmd": "Off"}),
}
# Sentences that send nothing, with the exit status of `carvoice text`: answered, or not understood.
NOTHING = {
    "cancel": text.DONE,
    "never mind": text.DONE,
    "what can I say": text.DONE,
    "turn on the radio": text.NOT_UNDERSTOOD,
    "open the garage door": text.NOT_UNDERSTOOD,
    "set the temperature to forty degrees": text.NOT_UNDERSTOOD,
    "close the window please now": text.NOT_UNDERSTOOD,
    "hello": text.NOT_UNDERSTOOD,
}


def run_text(sentence: str, capsys, *extra: str, status: int = text.DONE) -> tuple[list[Event], list[can.Message]]:
    spec = new_bus_spec()
    with open_test_bus(spec) as reader:
        assert main(["text", "--can", spec, "--events", "json", "--no-speech", *extra, sentence]) == status
        frames = []
        while (message := reader.recv(timeout=0.05)) is not None:
            frames.append(message)
    return [from_json_line(line) for line in capsys.readouterr().out.splitlines()], frames


def physical(message, signal):
    value = message[signal]
    return str(value) if not isinstance(value, int | float) else value


@pytest.mark.parametrize("sentence", TABLE)
def test_each_table_sentence_sends_exactly_its_frame(sentence, capsys):
    events, frames = run_text(sentence, capsys)
    name, changed = TABLE[sentence]
    assert len(frames) == 1, f"{sentence!r} sent {len(frames)} frames"
    definition = DBC.get_message_by_name(name)
    assert frames[0].arbitration_id == definition.frame_id
    decoded = definition.decode(frames[0].data)
    for signal in definition.signals:
        want = changed.get(signal.name, "NoChange")
        assert physical(decoded, signal.name) == want, f"{sentence!r}: {signal.name}"
    [can_event] = [e for e in events if e.name == "can"]
    assert can_event.frame == f"{definition.frame_id:03X}#{frames[0].data.hex().upper()}"
    assert can_event.message == name
    assert [e.name for e in events] == ["intent", "can", "say"]


@pytest.mark.parametrize("sentence", NOTHING)
def test_sentences_outside_the_table_send_nothing(sentence, capsys):
    events, frames = run_text(sentence, capsys, status=NOTHING[sentence])
    assert frames == []
    assert not [e for e in events if e.name in ("can", "serial")]


def test_right_hand_drive_moves_the_right_window(capsys, tmp_path):
    import shutil

    shutil.copytree(default_profile_dir(), tmp_path / "rhd")
    profile = tmp_path / "rhd" / "profile.toml"
    profile.write_text(profile.read_text().replace('driver_side = "left"', 'driver_side = "right"'))
    _, frames = run_text("open the driver window", capsys, "--profile", str(tmp_path / "rhd"))
    decoded = DBC.decode_message("BODY_WINDOW_CMD", frames[0].data)
    assert (str(decoded["WindowFL_Cmd"]), str(decoded["WindowFR_Cmd"])) == ("NoChange", "Open")


def test_serial_action_writes_the_line_and_reads_the_board_answer(capsys):
    events, frames = run_text("turn on the light bar", capsys)
    assert frames == []
    [serial_event] = [e for e in events if e.name == "serial"]
    assert serial_event == Serial(0.0, port="relay", data="LIGHTBAR on\r\n", reply="OK")
    assert events[-1] == Say(0.0, text="Light bar on.")


def test_help_lists_examples_and_cancel_does_nothing(capsys):
    events, frames = run_text("what can I say", capsys)
    assert frames == []
    assert events[-1].text.startswith("You can say, for example: open the driver window, ")
    events, frames = run_text("never mind", capsys)
    assert [e.name for e in events] == ["intent", "say"] and frames == []


def test_the_profile_frames_are_a_closed_set(demo_profile):
    """Every frame any intent can send with any slot values uses an identifier the profile defines."""
    frames = every_frame(demo_profile)
    ids = {frame_id for frame_id, _ in frames}
    assert ids == {0x2F1, 0x2F2, 0x2F3, 0x3A0}
    assert len(frames) > 40


def test_slot_values_the_intent_does_not_offer_are_refused_before_encoding(demo_profile):
    """Found by the property tests: a 100 degree cabin fits the DBC's 0..127.5, so it was encoded and
    sent; a slot named like a vehicle value ("setpoint") would hide the car's own value."""
    from carvoice.act.plan import FixedState, PlanError, plan_actions

    intents = demo_profile.intents
    [frame] = plan_actions(demo_profile, intents["temperature"], {"degrees": 22})
    assert frame.signals["TempSetpoint_Cmd"] == 22
    for intent, slots in [
        ("temperature", {"degrees": 100}),
        ("temperature", {"degrees": 22.0}),
        ("temperature", {"degrees": "22"}),
        ("ac", {"state": 0}),
        ("ac", {"state": True}),
        ("warmer", {"setpoint": 29}),
    ]:
        with pytest.raises(PlanError):
            plan_actions(demo_profile, intents[intent], slots, FixedState({"setpoint": 21}))


def test_the_gate_refuses_any_frame_value_no_command_offers(demo_profile):
    """The gate judges each signal's value, not only the identifier: 0x3A0 with 22 degrees passes,
    with 100 degrees, no command at all, a stray bit or as an extended frame it does not."""
    from carvoice.act.plan import CanFrame
    from carvoice.safety.gate import SafetyGate

    gate = SafetyGate(demo_profile)
    ok = [CanFrame(0x3A0, bytes([44, 0, 0])), CanFrame(0x3A0, bytes([43, 0, 0])), CanFrame(0x2F3, bytes([1, 0]))]
    bad = [
        CanFrame(0x3A0, bytes([200, 0, 0])),
        CanFrame(0x3A0, bytes([61, 0, 0])),
        CanFrame(0x3A0, bytes([0, 0, 0])),
        CanFrame(0x3A0, bytes([44, 0, 0x80])),
        CanFrame(0x3A0, bytes([44, 0, 0]), extended=True),
        CanFrame(0x3A0, bytes([44, 0])),
        CanFrame(0x3A1, bytes([44, 0, 0])),
    ]
    assert gate.foreign_frames(ok + bad) == bad
    assert all(gate.policy.allows(CanFrame(i, d)) for i, d in every_frame(demo_profile))


def test_moving_the_car_needs_more_certainty_than_answering(demo_profile):
    """At a confidence between the two thresholds a question is answered and a command that acts
    is not; a doubt from the recogniser rejects either, and is the reason given."""
    from carvoice.safety.gate import SafetyGate

    gate = SafetyGate(demo_profile)
    settings = demo_profile.recognition
    between = (settings.min_confidence + settings.min_confidence_to_answer) / 2
    assert gate.review(("what", "is", "my", "speed"), between).accepted
    assert gate.review(("cancel",), between).accepted
    unsure = gate.review(("open", "the", "trunk"), between)
    assert not unsure.accepted and unsure.reason.startswith("not sure enough")
    doubted = gate.review(("what", "is", "my", "speed"), 1.0, '"speed" lasted 2.0 s')
    assert not doubted.accepted and doubted.reason == '"speed" lasted 2.0 s'
    assert not gate.review(("open", "the", "trunk"), math.nan).accepted  # no confidence at all


def test_a_command_that_acts_heard_unsure_is_asked_about_in_its_own_words(demo_profile, tmp_path):
    """Below [recognition] confirm_below a command that moves something is asked about ("open the
    boot?"); one that only answers is not, and an intent may set its own bar (0: never ask)."""
    from carvoice.safety.gate import Heard, SafetyGate

    gate = SafetyGate(demo_profile)
    below = demo_profile.recognition.confirm_below
    lock, speed = demo_profile.intents["lock"], demo_profile.intents["speed"]
    unsure = gate.check_rules(lock, {"action": "lock"}, None, Heard("lock the doors", below - 0.01))
    assert unsure.kind == "confirm" and unsure.spoken == "lock the doors?"
    assert unsure.reason == f"heard with confidence {below - 0.01:.3f} < {below:g}"
    quiet = Heard("lock the doors", below - 0.01, '"doors" ends as quietly as the noise')
    both = gate.check_rules(lock, {"action": "lock"}, None, quiet).reason  # every reason, not the first
    assert both == f'heard with confidence {below - 0.01:.3f} < {below:g}; "doors" ends as quietly as the noise'
    assert gate.check_rules(lock, {"action": "lock"}, None, Heard("lock the doors", below)).kind == "allow"
    assert gate.check_rules(lock, {"action": "lock"}, None).kind == "allow"  # typed, or answered yes
    assert gate.check_rules(lock, {"action": "lock"}, None, Heard("lock the doors", math.nan)).kind == "confirm"
    assert gate.check_rules(speed, {}, None, Heard("what is my speed", 0.3)).kind == "allow"
    close = '"unlock the doors" fits nearly as well in noise (1.00 < 5.10 at 8 dB)'
    asked = gate.check_rules(lock, {"action": "lock"}, None, Heard("lock the doors", 0.95, close))
    assert (asked.kind, asked.spoken, asked.reason) == ("confirm", "lock the doors?", close)
    assert gate.check_rules(speed, {}, None, Heard("what is my speed", 0.95, close)).kind == "allow"

    profile = tmp_path / "p"
    shutil.copytree(default_profile_dir(), profile)
    body = profile / "body.toml"
    body.write_text(
        body.read_text().replace(
            'examples = ["lock the doors", "unlock the car"]\n',
            'examples = ["lock the doors", "unlock the car"]\nconfirm_below = 0\n',
        )
    )
    settings = profile / "profile.toml"
    settings.write_text(
        settings.read_text().replace("[replies]\n", '[replies]\nconfirm_heard = "Did you say {command}?"\n')
    )
    mine = load_profile(profile)
    assert mine.intents["lock"].confirm_below == 0.0
    own = SafetyGate(mine)
    assert own.check_rules(mine.intents["lock"], {"action": "lock"}, None, Heard("lock the doors", 0.5)).kind == "allow"
    close = Heard("lock the doors", 0.95, '"unlock the doors" fits nearly as well in noise')
    assert own.check_rules(mine.intents["lock"], {"action": "lock"}, None, close).kind == "allow"  # 0: never ask
    trunk = mine.intents["trunk"]
    assert own.check_rules(trunk, {"action": "open"}, None, Heard("open the boot", 0.5)).kind == "confirm"
    assert own.check_rules(trunk, {"action": "open"}, None).kind == "refuse"  # after a yes: the speed is not known
    assert own.check_rules(mine.intents["sunroof"], {"action": "open"}, None, Heard("open the roof", 0.5)).spoken == (
        "Did you say open the roof?"
    )


def test_a_yes_to_a_command_heard_unsure_still_meets_the_profiles_own_question(demo_profile):
    """At 120 km/h "open all the windows" heard unsure is asked about ("open all the windows?"); the
    yes says only what was meant, so the profile's own question about the speed follows, and only
    a second yes opens them. Heard sure, only the profile's question is asked."""
    from carvoice.act.dry import DryRunSink
    from carvoice.act.plan import FixedState
    from carvoice.agent import Agent

    questions: list[str] = []

    def yes(question: str) -> list[str]:
        questions.append(question)
        return ["yes"]

    heard: list[Event] = []
    agent = Agent(demo_profile, heard.append, [DryRunSink()], state=FixedState({"speed": 120}), ask=yes)
    agent.handle_words("open all the windows".split(), confidence=0.7)
    assert questions == ["open all the windows?", "You are going 120. Open all the windows?"]
    flow = [e.name for e in heard if e.name in ("intent", "confirm", "answer", "can")]
    assert flow == ["intent", "confirm", "answer", "confirm", "answer", "can"]
    questions.clear()
    agent.handle_words("open all the windows".split(), confidence=0.95)
    assert questions == ["You are going 120. Open all the windows?"]


def test_a_command_asked_about_for_a_rival_close_in_noise_needs_a_sure_yes(demo_profile):
    """ "lock the doors" heard 0.95 sure but with "unlock" close behind in noise is asked about; as for
    a command heard unsure, only a yes heard at confirm_below or above locks them, and a yes with
    "no" close behind in noise is no yes."""
    from carvoice.act.dry import DryRunSink
    from carvoice.agent import Agent
    from carvoice.recognise.command import Recognition, calibration

    limits = calibration()

    def fit_for(confidence: float) -> float:  # the logistic of confidence_of, inverted
        return limits.confidence_centre + limits.confidence_scale * math.log(confidence / (1 - confidence))

    heard: list[Event] = []
    agent = Agent(demo_profile, heard.append, [DryRunSink()])
    below = demo_profile.recognition.confirm_below

    def locked_after(yes: Recognition) -> bool:
        heard.clear()
        agent.handle_recognition(
            Recognition(("lock", "the", "doors"), fit_for(0.95), rival="unlock the doors", rival_margin=1.0, snr_db=8.0)
        )
        assert [e.question for e in heard if isinstance(e, Confirm)] == ["lock the doors?"]
        agent.handle_answer_recognition(yes)
        return any(e.name == "can" for e in heard)

    def yes_at(confidence: float, **rival: object) -> Recognition:
        return Recognition(("yes",), fit_for(confidence), **rival)

    assert not locked_after(yes_at(below - 0.05))
    assert locked_after(yes_at(below + 0.05))
    assert not locked_after(yes_at(0.95, rival="no", rival_margin=1.0, snr_db=8.0))


def test_the_yes_to_a_command_heard_unsure_must_itself_be_heard_surely(demo_profile):
    """The yes is all there is to say that a command heard unsure was meant: below confirm_below it
    is no yes ("yesterday" was heard as "yes" at 0.67 by an attacker). A yes to the profile's own
    question (the command heard surely) needs only min_confidence, as before."""
    from carvoice.act.dry import DryRunSink
    from carvoice.act.plan import FixedState
    from carvoice.agent import Agent

    heard: list[Event] = []
    agent = Agent(demo_profile, heard.append, [DryRunSink()], state=FixedState({"speed": 120}))
    below = demo_profile.recognition.confirm_below

    def sent_after(words: str, confidence: float, answer: float) -> bool:
        heard.clear()
        agent.handle_words(words.split(), confidence=confidence)
        agent.handle_answer(("yes",), answer)
        return any(e.name == "can" for e in heard)

    assert not sent_after("lock the doors", below - 0.2, below - 0.1)
    assert sent_after("lock the doors", below - 0.2, below)
    assert sent_after("open all the windows", 0.95, demo_profile.recognition.min_confidence)
