import io
import json

import pytest

from carvoice import events

# One of each kind of event, as the agent writes them.
EXAMPLES = [
    events.Ready(0.0, profile="Demo car", wake_phrase="okay nabu", source="recording demo.wav"),
    events.Wake(1.9, phrase="okay nabu"),
    events.Wake(2.5, phrase="okay nabu", by="button"),
    events.Tone(2.01, file="speech/say-0001.wav"),
    events.ListenOn(2.9, seconds=3.85),
    events.Intent(4.02, intent="window", slots={"window": "driver", "action": "open"}, text="open it", confidence=0.9),
    events.Rejected(20.94, reason="not sure enough", text="please roll down", confidence=0.036),
    events.Rejected(21.0, reason="no command followed the wake phrase"),
    events.Refused(5.0, intent="trunk", reason="speed is not known right now"),
    events.Confirm(6.0, intent="window", question="Are you sure?"),
    events.Confirm(6.5, intent="lock", question="lock the doors?", reason="heard with confidence 0.55 < 0.80"),
    events.Answer(7.0, answer="none", text="", confidence=0.0),
    events.Can(4.02, frame="2F1#0100", message="BODY_WINDOW_CMD", signals={"WindowFL_Cmd": "Open"}, channel="v:x"),
    events.Can(4.03, frame="7A0#01", message=None, signals={}, channel="virtual:x"),
    events.Serial(26.4, port="relay", data="LIGHTBAR on\r\n", reply="OK"),
    events.Say(4.02, text="Opening the driver window."),
    events.Error(8.0, message="CAN send failed", source="act"),
]


def test_json_lines_have_t_and_event_first():
    out = io.StringIO()
    emit = events.printer("json", out)
    emit(events.Wake(1.23456, phrase="hey copilot"))
    emit(events.Can(2.0, frame="2F1#0100", message="BODY_WINDOW_CMD", signals={"WindowFL_Cmd": "Open"}, channel="v"))
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert list(first)[:2] == ["t", "event"]
    assert first == {"t": 1.235, "event": "wake", "phrase": "hey copilot", "by": "phrase"}
    assert second["frame"] == "2F1#0100" and second["signals"] == {"WindowFL_Cmd": "Open"}


def test_human_lines_show_time_name_and_details():
    out = io.StringIO()
    events.printer("text", out)(events.Rejected(3.5, reason="not a complete command", text="open the", confidence=0.2))
    assert out.getvalue() == '    3.50  rejected not a complete command heard "open the" (confidence 0.20)\n'


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.name)
def test_every_event_reads_back_as_itself_from_its_json_line(event):
    out = io.StringIO()
    events.printer("json", out)(event)
    assert events.from_json_line(out.getvalue()) == event


def test_every_kind_of_event_has_an_example():
    assert {type(e) for e in EXAMPLES} == set(events.Event.__subclasses__())


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"t": 1.0, "event": "honk"}, "not an event"),
        ({"t": 1.0, "event": "wake", "phrase": "okay nabu", "colour": "red"}, "wake has no field colour"),
        ({"t": 1.0, "event": "intent", "intent": "window"}, "missing"),
    ],
)
def test_what_is_not_an_event_is_refused_by_name(data, says):
    with pytest.raises(ValueError, match=says):
        events.Event.from_dict(data)
