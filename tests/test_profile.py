import json
import shutil
from pathlib import Path

import pytest

from carvoice.check import load_profile
from carvoice.cli import main
from carvoice.profile.model import ProfileError
from tests.conftest import FILES

BROKEN = FILES / "profiles" / "broken"


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    return [str(p) for p in caught.value.problems]


def test_demo_profile_understands_the_table(demo_profile):
    assert demo_profile.wake.phrase == "okay nabu"
    assert set(demo_profile.intents) >= {
        "window",
        "sunroof",
        "lock",
        "trunk",
        "lights",
        "wipers",
        "defrost",
        "temperature",
        "fan",
        "ac",
        "recirculation",
        "seat_heater",
        "cancel",
        "help",
        "light_bar",
    }
    assert demo_profile.dbc.get_message_by_name("BODY_WINDOW_CMD").frame_id == 0x2F1


def test_every_problem_is_listed_with_file_and_line():
    problems = problems_of(BROKEN)
    text = "\n".join(problems)
    expected = [
        ("profile.toml:4: profile.colour: unknown key", "colour"),
        ("profile.toml:11: can.dbc: no such file: missing.dbc", "dbc"),
        ("body.toml:3: intents.window.sentences[0]: slot type 'windoww' is not defined", "slot"),
        ("body.toml:4: intents.window.sentences[1]: missing ')'", "paren"),
        ("body.toml:5: intents.window.sentences[2]: '3': write numbers as words", "digits"),
        ("profile.toml:18: rules.loop_b: rule <loop_a> refers to itself: loop_a -> loop_b -> loop_a", "cycle"),
        ("profile.toml:7: wake.phrase: the recogniser's dictionary has no word 'zorbotron'", "dictionary"),
        ("body.toml:10: intents.lights.reply: {colour} is not a slot, setting or state value here", "reply"),
        ("body.toml:12: intents.lights.actions[0].frame: '12345#00' is not a frame like 123#0102", "frame"),
        ("body.toml:14: intents.lights.actions[1].serial: no serial port 'nowhere'", "serial"),
        ("body.toml:18: intents.lights.actions[2].when: expected a value (column 24", "condition"),
    ]
    for fragment, what in expected:
        assert any(fragment in p for p in problems), f"{what}: {fragment!r} not in\n{text}"
    assert len(problems) == len(expected)


def test_toml_syntax_error_has_its_line(tmp_path):
    shutil.copytree(FILES / "profiles" / "minimal", tmp_path / "p")
    (tmp_path / "p" / "extra.toml").write_text('[intents.x]\nsentences = ["a"\n')
    [problem] = problems_of(tmp_path / "p")
    assert problem.startswith(f"{tmp_path / 'p' / 'extra.toml'}:2: not valid TOML")


def test_duplicate_definitions_across_files_name_both(tmp_path):
    shutil.copytree(FILES / "profiles" / "minimal", tmp_path / "p")
    (tmp_path / "p" / "more.toml").write_text('[intents.horn]\nsentences = ["honk"]\n')
    [problem] = problems_of(tmp_path / "p")
    assert "more.toml:1: intents.horn: already defined in profile.toml" in problem


def test_plan_errors_surface_at_check_time(tmp_path):
    """A slot value the DBC signal does not know is found before any driver says it."""
    shutil.copytree(FILES.parents[1] / "config" / "demo_car", tmp_path / "p")
    lights = tmp_path / "p" / "lights.toml"
    lights.write_text(lights.read_text().replace('high = ["high", "fast"]', 'high = ["high"]\nturbo = ["turbo"]'))
    [problem] = problems_of(tmp_path / "p")
    assert problem.startswith(
        f"{lights}:64: intents.wipers.actions[0].signals.Wiper_Cmd: 'turbo' is not a value of Wiper_Cmd"
    )
    assert "(when mode=turbo)" in problem


def test_check_command_exit_codes_and_messages(capsys):
    assert main(["check", str(FILES / "profiles" / "minimal")]) == 0
    assert "OK: 'Minimal'" in capsys.readouterr().out
    assert main(["check", str(BROKEN)]) == 1
    err = capsys.readouterr().err
    assert "problems:" in err and "body.toml:3:" in err


def test_check_json_describes_what_the_profile_understands(capsys):
    assert main(["check", "--json"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert described["wake_phrase"] == "okay nabu"
    intents = {i["name"]: i for i in described["intents"]}
    assert intents["window"]["slots"]["window"] == ["driver", "passenger", "rear_left", "rear_right", "all"]
    assert "open the driver window" in intents["window"]["examples"]
    assert intents["temperature"]["slots"]["degrees"] == list(range(16, 31))


def test_a_file_that_is_not_utf8_names_the_line(tmp_path):
    """Found by the property tests: the problem had no line, so an installer had to search the file."""
    shutil.copytree(FILES / "profiles" / "minimal", tmp_path / "p")
    (tmp_path / "p" / "extra.toml").write_bytes(b'[intents.x]\nsentences = ["caf\xe9"]\n')
    [problem] = problems_of(tmp_path / "p")
    assert problem == f"{tmp_path / 'p' / 'extra.toml'}:2: not UTF-8 text: byte 0xe9 is not valid"


def test_a_placeholder_format_that_cannot_show_a_number_is_a_problem(tmp_path):
    """Found by the property tests: {fuel:d} loaded, then failed in the car when the value was 62.5."""
    shutil.copytree(FILES.parents[1] / "config" / "demo_car", tmp_path / "p")
    questions = tmp_path / "p" / "questions.toml"
    questions.write_text(questions.read_text().replace("{fuel:.0f}", "{fuel:d}").replace("{speed:.0f}", "{speed:>999}"))
    problems = problems_of(tmp_path / "p")
    assert any(":18: intents.fuel" in p and "{fuel:d}: 'd' is not a number format" in p for p in problems), problems
    assert any("{speed:>999}: '>999' is not a number format" in p for p in problems), problems


def test_an_action_on_a_message_cantools_cannot_encode_is_a_located_problem(tmp_path):
    """A multiplexed command message made the checker die with cantools' EncodeError."""
    shutil.copytree(FILES / "profiles" / "minimal", tmp_path / "p")
    (tmp_path / "p" / "car.dbc").write_text(
        'VERSION ""\n\nNS_ :\n\nBS_:\n\nBU_: HEAD_UNIT BCM\n\n'
        "BO_ 512 MUXED_CMD: 2 HEAD_UNIT\n"
        ' SG_ Page M : 0|4@1+ (1,0) [0|15] "" BCM\n'
        ' SG_ LampA m0 : 8|2@1+ (1,0) [0|3] "" BCM\n'
        ' SG_ LampB m1 : 8|2@1+ (1,0) [0|3] "" BCM\n\n'
        'VAL_ 512 LampA 0 "NoChange" 1 "On" 2 "Off" ;\n'
    )
    main_file = tmp_path / "p" / "profile.toml"
    text = main_file.read_text().replace('channel = "minimal"', 'channel = "minimal"\ndbc = "car.dbc"')
    main_file.write_text(
        text + '[intents.lamp]\nsentences = ["lamp {state}"]\n'
        '[[intents.lamp.actions]]\ncan = "MUXED_CMD"\nsignals = { LampA = "{state}" }\n'
    )
    problems = problems_of(tmp_path / "p")
    assert problems and all("MUXED_CMD cannot be encoded" in p for p in problems), problems
    assert problems[0].startswith(f"{main_file}:")


def test_a_zero_scale_in_the_dbc_is_a_located_problem(tmp_path):
    """Found by a DBC mutation scan: (0,0) as scale and offset made the checker die dividing by zero."""
    shutil.copytree(FILES.parents[1] / "config" / "demo_car", tmp_path / "p")
    dbc = tmp_path / "p" / "demo_car.dbc"
    dbc.write_text(dbc.read_text().replace("TempSetpoint_Cmd : 0|8@1+ (0.5,0)", "TempSetpoint_Cmd : 0|8@1+ (0,0)"))
    problems = problems_of(tmp_path / "p")
    assert problems and all("TempSetpoint_Cmd has a scale of 0 in the DBC" in p for p in problems), problems


def test_a_confidence_outside_0_to_1_is_named(tmp_path):
    shutil.copytree(FILES / "profiles" / "minimal", tmp_path / "p")
    with open(tmp_path / "p" / "profile.toml", "a") as profile:
        profile.write("\n[recognition]\nmin_confidence_to_answer = 2\n")
    [problem] = problems_of(tmp_path / "p")
    assert "recognition.min_confidence_to_answer: must be between 0 and 1, not 2.0" in problem


def test_an_unfinished_silence_shorter_than_the_trailing_one_is_named(tmp_path):
    shutil.copytree(FILES / "profiles" / "minimal", tmp_path / "p")
    with open(tmp_path / "p" / "profile.toml", "a") as profile:
        profile.write("\n[recognition]\ntrailing_silence = 0.8\nunfinished_silence = 0.5\n")
    [problem] = problems_of(tmp_path / "p")
    last_line = len((tmp_path / "p" / "profile.toml").read_text().splitlines())  # the unfinished_silence line
    assert problem.startswith(f"{tmp_path / 'p' / 'profile.toml'}:{last_line}:")
    assert "recognition.unfinished_silence: must be at least trailing_silence (0.8 s)" in problem


def test_a_british_accent_puts_the_british_forms_beside_the_american_ones(tmp_path):
    from carvoice.recognise.engine import engine_for

    shutil.copytree(FILES / "profiles" / "minimal", tmp_path / "p")
    american = load_profile(tmp_path / "p")
    with open(tmp_path / "p" / "profile.toml", "a") as profile:
        profile.write('\n[recognition]\naccent = "british"\n')
    british = load_profile(tmp_path / "p")
    assert (american.recognition.accent, british.recognition.accent) == ("american", "british")
    # "after" is no word of this profile: the common words the heard ones are checked against get them too
    assert engine_for(american)._pronounced["after"] == {"AE F T ER"}
    assert engine_for(british)._pronounced["after"] == {"AE F T ER", "AA F T AH"}


def test_a_long_trailing_silence_alone_lengthens_the_unfinished_one(tmp_path):
    """A profile written before `unfinished_silence` existed still loads, and never waits less for it."""
    shutil.copytree(FILES / "profiles" / "minimal", tmp_path / "p")
    with open(tmp_path / "p" / "profile.toml", "a") as profile:
        profile.write("\n[recognition]\ntrailing_silence = 1.5\n")
    settings = load_profile(tmp_path / "p").recognition
    assert (settings.trailing_silence, settings.unfinished_silence) == (1.5, 1.5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("\n[recognition]\nconfirm_below = 1.5\n", "recognition.confirm_below: must be between 0 and 1, not 1.5"),
        (
            "\n[recognition]\nconfirm_below = 1\n",
            "recognition.confirm_below: must be below 1: at 1 no command could ever be carried out",
        ),
        (
            '\n[intents.horn3]\nsentences = ["honk twice"]\nconfirm_below = 1.0\n'
            '[[intents.horn3.actions]]\nframe = "123#0102"\n',
            "intents.horn3.confirm_below: must be below 1: at 1 no command could ever be carried out",
        ),
        (
            '\n[intents.horn2]\nsentences = ["honk"]\nconfirm_below = -0.5\n',
            "intents.horn2.confirm_below: must be between 0 and 1, not -0.5",
        ),
        (
            '\n[intents.horn2]\nsentences = ["honk"]\nconfirm_below = 0.9\n',
            "intents.horn2.confirm_below: only a command that acts is asked about, and this one has no actions",
        ),
    ],
)
def test_a_confirm_below_that_cannot_work_is_named(tmp_path, text, message):
    shutil.copytree(FILES / "profiles" / "minimal", tmp_path / "p")
    with open(tmp_path / "p" / "profile.toml", "a") as profile:
        profile.write(text)
    [problem] = problems_of(tmp_path / "p")
    assert message in problem
