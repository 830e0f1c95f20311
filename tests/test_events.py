import io
import json

from carvoice import events


def test_json_lines_have_t_and_event_first():
    out = io.StringIO()
    emit = events.printer("json", out)
    emit(events.Wake(1.23456, phrase="hey copilot"))
    emit(events.Can(2.0, frame="2F1#0100", message="BODY_WINDOW_CMD", signals={"WindowFL_Cmd": "Open"}))
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert list(first)[:2] == ["t", "event"]
    assert first == {"t": 1.235, "event": "wake", "phrase": "hey copilot", "by": "phrase"}
    assert second["frame"] == "2F1#0100" and second["signals"] == {"WindowFL_Cmd": "Open"}


def test_human_lines_show_time_name_and_details():
    out = io.StringIO()
    events.printer("text", out)(events.Rejected(3.5, reason="not a complete command", text="open the", confidence=0.2))
    assert out.getvalue() == '    3.50  rejected not a complete command heard "open the" (confidence 0.20)\n'
