"""The bad-profile corpus: one mistake per file (or folder), each reported once, at its own line.

tests/files/profiles/mistakes/NAME.toml is a whole profile.toml with one mistake, loaded with
van.dbc beside it; a folder holds a profile whose mistake needs several files. Each expected
problem is compared whole, `file:line: key: message`, and must be the only one: an installer
fixes what the first line says and expects the profile to load.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from carvoice.act.plan import plan_actions
from carvoice.check import load_profile
from carvoice.profile.model import ProfileError
from tests.conftest import FILES

MISTAKES = FILES / "profiles" / "mistakes"

EXPECTED = {
    # A typo in the third of three tables that all have the key spelt right (it was reported at the first).
    "typo_in_a_later_table": "profile.toml:32: intents.heater.actions[2].whne: unknown key"
    " (known: can, clamp, signals, when; did you mean when?)",
    "typo_in_a_second_file": "lights.toml:19: intents.lights.actions[2].wirte: unknown key"
    " (known: expect, serial, timeout, when, write; did you mean write?)",
    "bad_timeout_in_a_later_action": "profile.toml:31: intents.pump.actions[1].timeout:"
    " must be a number of seconds greater than 0",
    # One syntax error in the DBC was twelve problems, eleven of them wrong, all in another file.
    "dbc_syntax": "van.dbc:16: can.dbc: does not load as a DBC: Invalid syntax at line 16, column 36:"
    ' " SG_ Water : 8|8@1+ (0.5,0) [0|100 >>!<<"%" HEAD_UNIT',
    "missing_dbc_file": "profile.toml:6: can.dbc: no such file: van_v2.dbc",
    "unknown_accent": "profile.toml:9: recognition.accent: 'scottish': one of american, british",
    "network_bus": "profile.toml:6: can.interface: 'udp_multicast' carries CAN over the network;"
    " carvoice only opens a bus on this machine",
    "quoted_word_for_a_number": "profile.toml:18: intents.fill.actions[0].signals.Level_Cmd:"
    " 'full' is not a value of Level_Cmd (values: none: give a number)",
    "half_degrees_the_dbc_cannot_send": "profile.toml:22: intents.heater.actions[0].signals.Setpoint_Cmd:"
    " 5.25 cannot be sent exactly: Setpoint_Cmd goes in steps of 0.5 from 0 (nearest: 5 and 5.5)"
    " (when degrees=5.25)",
    # `step = 0.5` was three problems, one of them misleading; a step that cannot be is one.
    "zero_step": "profile.toml:16: slots.degrees.step: must be a number greater than 0, such as 1 or 0.5, not 0",
    "range_upside_down": "profile.toml:15: slots.degrees.range: needs 0 <= low <= high < 1000000, not [30, 5]",
    "range_of_text": "profile.toml:15: slots.degrees.range: must be [low, high], two numbers such as [16, 30],"
    " not ['5', 30]",
    # Unknown names: the known ones and the nearest, the same way wherever they are.
    "unknown_state_signal": "profile.toml:15: state.setpoint.signal: STATUS has no signal Setpiont"
    " (its signals: Mode, Setpoint, Speed, Water; did you mean Setpoint?)",
    "unknown_state_message": "profile.toml:15: state.setpoint.signal: the DBC has no message STATSU"
    " (messages: CMD, STATUS; did you mean STATUS?)",
    "state_signal_without_message": "profile.toml:15: state.setpoint.signal: 'Setpoint': write MESSAGE.Signal,"
    ' e.g. "STATUS.Speed"',
    # Counters: a value the profile reads is not one, and a message has only one.
    "counter_is_a_value": "profile.toml:10: state.speed.counter: Water is the value water, not the counter of STATUS",
    "counter_is_a_list": "profile.toml:10: state.speed.counter: must name a signal of STATUS, not ['Water']",
    "two_counters_for_one_message": "profile.toml:14: state.water.counter: STATUS has one counter:"
    " Mode (state.speed.counter), not Setpoint",
    "unknown_action_signal": "profile.toml:18: intents.heater.actions[0].signals.Setpiont_Cmd: CMD has no signal"
    " Setpiont_Cmd (its signals: Level_Cmd, Mode_Cmd, Setpoint_Cmd; did you mean Setpoint_Cmd?)",
    "unknown_action_message": "profile.toml:17: intents.heater.actions[0].can: the DBC has no message CDM"
    " (messages: CMD, STATUS; did you mean CMD?)",
    "unknown_name_in_a_rule": "profile.toml:16: intents.heater.allow_when: unknown name sped"
    " (known: speed, water; did you mean speed?)",
    "unknown_slot_type": "profile.toml:18: intents.heater.sentences[0]: slot type 'degres' is not defined"
    " under [slots] (defined: degrees; did you mean degrees?)",
    "unknown_placeholder": "profile.toml:19: intents.heater.reply: {degres} is not a slot, setting or state value"
    " here (known: degrees, speed, water; did you mean degrees?)",
    "unknown_section": "profile.toml:17: intent: unknown section (known: audio, can, intents, obd, profile,"
    " pronunciations, recognition, replies, rules, serial, slots, state, vehicle, wake; did you mean intents?)",
    "serial_port_is_a_list": "profile.toml:20: intents.pump.actions[0].serial: must name a [serial.NAME] port,"
    " not ['relays']",
    "unknown_serial_port": "profile.toml:20: intents.pump.actions[0].serial: no serial port 'relay'"
    " (defined: relays; did you mean relays?): add [serial.relay]",
    "relayboard_option": "profile.toml:15: serial.relays.url: relayboard:// has no option 'answer'"
    " (options: separator, on, off, ok, error)",
    "refused_serial_port_used": "profile.toml:15: serial.relays.url: spy:// is not allowed in a profile"
    " (a device path, or loop://, socket://, relayboard://)",
    # A push-to-talk switch on a serial port: each mistake at the key written wrong, in either form.
    "button_on_an_unknown_serial_port": "profile.toml:4: wake.button.serial: no serial port 'voice_buton'"
    " (defined: relays, voice_button; did you mean voice_button?): add [serial.voice_buton]",
    "button_line_is_an_output": "profile.toml:4: wake.button.line: 'RTS' is an output (the agent asserts it to feed"
    " the switch): the switch's input is one of CTS, DSR, CD, RI",
    "button_line_unknown": "profile.toml:4: wake.button.line: 'pin 8': the switch's input is one of CTS, DSR, CD, RI",
    "button_feed_is_an_input": "profile.toml:8: wake.button.feed: 'DSR': the output that feeds the switch"
    " is RTS or DTR",
    "button_without_line": "profile.toml:4: wake.button: a serial button needs line, as in"
    ' { serial = "PORT", line = "CTS" } (line: one of CTS, DSR, CD, RI)',
    "button_key_typo": "profile.toml:4: wake.button.lien: unknown key (known: feed, line, serial; did you mean line?)",
    "button_port_written_by_an_action": "profile.toml:4: wake.button.serial: serial.relays is written by intents.pump:"
    " the button needs a port of its own (the agent holds its feed asserted and reads its lines all the time)",
    "button_of_a_number": "profile.toml:4: wake.button: write a [state] value's name, or"
    ' { serial = "PORT", line = "CTS" } for a switch on a serial port, not 400',
}


def loaded(name: str, tmp_path: Path):
    """Load a case as an installer's folder would hold it."""
    case = MISTAKES / name
    folder = tmp_path / name
    if case.is_dir():
        shutil.copytree(case, folder)
    else:
        folder.mkdir()
        shutil.copy(case.with_suffix(".toml"), folder / "profile.toml")
    if not (folder / "van.dbc").exists():
        shutil.copy(MISTAKES / "van.dbc", folder / "van.dbc")
    return folder, load_profile(folder)


def test_every_case_in_the_corpus_has_its_expectation():
    cases = {p.stem for p in MISTAKES.iterdir() if p.suffix != ".dbc"}
    assert cases == set(EXPECTED) | {"quoted_number_is_a_number"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_one_mistake_is_one_problem_at_its_line(name: str, tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as caught:
        loaded(name, tmp_path)
    problems = [str(p).replace(f"{tmp_path / name}/", "") for p in caught.value.problems]
    assert problems == [EXPECTED[name]]


def test_a_quoted_number_is_the_number_where_the_signal_has_no_value_of_that_name(tmp_path):
    _, profile = loaded("quoted_number_is_a_number", tmp_path)
    [frame] = plan_actions(profile, profile.intents["fill"], {})
    assert frame.signals["Level_Cmd"] == 25 and frame.text == "201#000019"
