"""A profile unlike the demo car, end to end: a camper van simulated by `carvoice sim --profile`,
asked and commanded through `carvoice text`, scripted on its exit status."""

from __future__ import annotations

import io
import shutil
import threading
from collections.abc import Iterator

import pytest

from carvoice.check import load_profile
from carvoice.cli import build_parser, main
from carvoice.cli import sim as sim_command
from carvoice.cli import text as text_command
from carvoice.events import Event, from_json_line
from carvoice.sim.car import SimCar, car_for
from carvoice.sim.scenario import ScenarioError, load_scenario
from tests.conftest import FILES, open_test_bus, until

CAMPER = FILES / "profiles" / "camper"


class Van:
    """`carvoice sim --profile camper ...` running on the test's bus, as its command line builds it."""

    def __init__(self, bus_spec: str, *options: str) -> None:
        interface, channel = bus_spec.split(":", 1)
        args = build_parser().parse_args(
            ["sim", "--profile", str(CAMPER), "--interface", interface, "--channel", channel, *options]
        )
        self.out = io.StringIO()
        simulation = sim_command.prepare(args, self.out)
        assert isinstance(simulation, sim_command.Simulation), simulation
        self.simulation = simulation
        self.car = simulation.ecu.car
        self.stop = threading.Event()
        self.thread = threading.Thread(target=simulation.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


@pytest.fixture
def van_on(bus_spec: str) -> Iterator:
    vans: list[Van] = []

    def start(*options: str) -> Van:
        vans.append(Van(bus_spec, *options))
        return vans[-1]

    yield start
    for van in vans:
        van.close()


def say(bus_spec: str, sentence: str, capsys, *extra: str, status: int = text_command.DONE) -> list[Event]:
    command = ["text", "--profile", str(CAMPER), "--can", bus_spec, "--events", "json", "--no-speech"]
    assert main([*command, *extra, sentence]) == status
    return [from_json_line(line) for line in capsys.readouterr().out.splitlines()]


def spoken(events: list[Event]) -> list[str]:
    return [e.text for e in events if e.name == "say"]


def frames(events: list[Event]) -> list[str]:
    return [e.frame for e in events if e.name == "can"]


def test_the_van_is_a_profile_of_its_own():
    profile = load_profile(CAMPER)
    assert profile.wake.phrase == "hello camper"
    assert isinstance(car_for(profile), SimCar) and type(car_for(profile)) is SimCar  # not the demo car's model
    assert profile.intents["heater_setpoint"].slot_values["degrees"][:4] == (5, 5.5, 6, 6.5)


def test_questions_are_answered_from_the_values_set_on_the_simulators_command_line(van_on, bus_spec, capsys):
    van_on("--set", "water=42", "--set", "grey=80.5", "--set", "battery=12.64", "--set", "charge=77")
    assert spoken(say(bus_spec, "how much water is left", capsys)) == ["The fresh water tank is 42 percent full."]
    assert spoken(say(bus_spec, "how full is the grey tank", capsys)) == ["The grey water tank is 80 percent full."]
    # POWER_STATUS has no cycle time in the DBC: the simulator sends it three times per max_age.
    assert spoken(say(bus_spec, "how is the battery", capsys)) == [
        "The house battery is at 12.6 volts, 77 percent charged."
    ]


def test_every_state_message_is_broadcast(van_on, bus_spec):
    profile = load_profile(CAMPER)
    wanted = {profile.dbc.get_message_by_name(s.message).frame_id for s in profile.state.values()}
    seen: set[int] = set()
    with open_test_bus(bus_spec) as listener:
        van_on()

        def heard_all() -> bool:
            while (message := listener.recv(timeout=0.05)) is not None:
                seen.add(message.arbitration_id)
            return wanted <= seen

        assert until(heard_all, 10.0) is not None, (sorted(wanted - seen), sorted(seen))


def test_a_half_degree_setpoint_is_sent_exactly_and_reported_back(van_on, bus_spec, capsys):
    van = van_on()
    for sentence in ("set the heater to twenty one and a half degrees", "heat the van to twenty one point five"):
        events = say(bus_spec, sentence, capsys, "--expect-frame", "321#2B02")
        assert [e.slots for e in events if e.name == "intent"] == [{"degrees": 21.5}]
        assert spoken(events) == ["Heater set to 21.5 degrees."]
    assert until(lambda: van.car.snapshot()["HeaterSetpoint"] == 21.5) is not None
    assert van.car.snapshot()["HeaterMode"] == "Heat"
    assert spoken(say(bus_spec, "what is the heater set to", capsys)) == ["The heater is set to 21.5 degrees."]


def test_a_frame_other_than_the_expected_one_fails_the_acceptance_test(van_on, bus_spec, capsys):
    van_on()
    command = ["text", "--profile", str(CAMPER), "--can", bus_spec, "--no-speech", "--expect-frame", "321#2B02"]
    assert main([*command, "set the heater to twenty"]) == text_command.NOT_EXPECTED
    assert "expected the frames 321#2B02; sent 321#2802" in capsys.readouterr().err


def test_the_step_is_refused_while_driving_and_moves_once_parked(van_on, bus_spec, capsys):
    van = van_on("--set", "speed=60")
    events = say(bus_spec, "extend the step", capsys, status=text_command.REFUSED)
    assert spoken(events) == ["I can only move the step when the van is parked."] and frames(events) == []
    assert van.simulation.command("set speed 0")  # as typed at the simulator's prompt
    assert "speed = 0" in van.out.getvalue()
    assert frames(say(bus_spec, "extend the step", capsys)) == ["331#02"]
    assert until(lambda: van.car.snapshot()["Step"] == "Out") is not None


def test_draining_a_full_tank_asks_first(van_on, bus_spec, capsys):
    van = van_on("--set", "water=80")
    for answer in ("no", "maybe"):
        events = say(bus_spec, "drain the fresh water tank", capsys, "--answer", answer, status=text_command.REFUSED)
        assert spoken(events)[0] == "The fresh water tank is 80 percent full. Drain it?" and frames(events) == []
    events = say(bus_spec, "drain the fresh water tank", capsys, "--answer", "yes")
    assert frames(events) == ["331#08"]
    assert until(lambda: van.car.snapshot()["FreshDrain"] == "Open") is not None


def test_the_relay_board_switches_the_pump(bus_spec, capsys):
    events = say(bus_spec, "turn on the water pump", capsys)
    [serial] = [e for e in events if e.name == "serial"]
    assert (serial.port, serial.data, serial.reply) == ("relays", "PUMP on\r\n", "OK")


def test_exit_statuses_for_not_understood_and_a_broken_profile(bus_spec, capsys, tmp_path):
    say(bus_spec, "make me a coffee", capsys, status=text_command.NOT_UNDERSTOOD)
    broken = tmp_path / "camper"
    broken.mkdir()
    for path in CAMPER.iterdir():
        (broken / path.name).write_bytes(path.read_bytes())
    (broken / "extra.toml").write_text("[intents.x]\n")
    assert main(["text", "--profile", str(broken), "--no-speech", "how is the battery"]) == text_command.PROFILE_ERROR


def test_set_names_come_from_the_profile_with_a_suggestion(bus_spec, capsys):
    interface, channel = bus_spec.split(":", 1)
    command = ["sim", "--profile", str(CAMPER), "--interface", interface, "--channel", channel]
    assert main([*command, "--set", "watr=5"]) == 2
    assert (
        "the simulated car has no 'watr' (known: battery, charge, gas, grey, heater, setpoint, speed, step, water;"
        " did you mean water?)" in capsys.readouterr().err
    )
    assert main([*command, "--set", "heater=Boil"]) == 2
    assert "heater takes one of Off, Heat, Eco or a number, not 'Boil'" in capsys.readouterr().err
    assert main([*command, "--set", "water=120"]) == 2
    assert "water goes from 0 to 100 in the DBC, not 120" in capsys.readouterr().err


def test_a_scenario_is_checked_at_its_lines_before_the_drive(tmp_path):
    car = car_for(load_profile(CAMPER))
    scenario = tmp_path / "trip.toml"
    scenario.write_text('[[step]]\nat = 0\nwater = 90\n\n[[step]]\nat = 5\nheater = "Heat"\nwatter = 3\nbus = "off"\n')
    with pytest.raises(ScenarioError) as caught:
        load_scenario(scenario, car)
    assert str(caught.value).splitlines() == [
        f"{scenario}:8: the simulated car has no 'watter' (known: battery, charge, gas, grey, heater, setpoint, speed,"
        " step, water; did you mean water?)",
        f'{scenario}:9: bus is "quiet" or "talking"',
    ]
    scenario.write_text('[[step]]\nat = 5\nheater = "Heat"\n\n[[step]]\nat = 0\nwater = 90\nbus = "quiet"\n')
    steps = load_scenario(scenario, car)
    assert [(s.at, s.settings, s.broadcasting) for s in steps] == [
        (0, {"water": 90}, False),
        (5, {"heater": "Heat"}, None),
    ]


def test_the_scenario_in_the_readme_drives_the_demo_car(demo_profile):
    scenario = FILES.parents[1] / "config" / "scenarios" / "demo_drive.toml"
    steps = load_scenario(scenario, car_for(demo_profile))
    steps_text = scenario.read_text().split("\n\n", 1)[1]
    shown = "\n".join(f"    {line}" if line else "" for line in steps_text.splitlines())
    assert shown in (FILES.parents[1] / "config" / "README.md").read_text()
    assert [s.at for s in steps] == [0, 10, 20, 30, 40]
    assert steps[3].broadcasting is False and steps[4].settings == {"speed": 0, "gear": "P"}


def test_a_scenario_runs_on_time(van_on, bus_spec, tmp_path, capsys):
    scenario = tmp_path / "trip.toml"
    scenario.write_text("[[step]]\nat = 0\nwater = 12\n")
    van = van_on("--scenario", str(scenario))
    assert until(lambda: van.car.snapshot()["FreshWater"] == 12) is not None
    assert "scenario at 0 s: water 12" in van.out.getvalue()
    assert spoken(say(bus_spec, "how much water is left", capsys)) == ["The fresh water tank is 12 percent full."]


def test_the_bus_stays_local(capsys):
    assert main(["sim", "--profile", str(CAMPER), "--interface", "udp_multicast", "--channel", "x"]) == 2
    assert "carries CAN over the network" in capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:
        main(["text", "--can", "socketcand:x", "--no-speech", "how is the battery"])
    assert caught.value.code == 2
    assert "'socketcand' carries CAN over the network" in capsys.readouterr().err


def test_a_missing_socketcan_points_at_user_mode_linux(capsys):
    """Here the kernel has no CAN at all; inside scripts/vcan-uml there is no such interface."""
    command = ["sim", "--profile", str(CAMPER), "--interface", "socketcan", "--channel", "nocan7"]
    assert main(command) == 1
    assert "scripts/vcan-uml" in capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:
        main(["text", "--profile", str(CAMPER), "--can", "socketcan:nocan7", "--no-speech", "how is the battery"])
    assert "cannot open CAN bus socketcan:nocan7" in str(caught.value) and "scripts/vcan-uml" in str(caught.value)


def test_the_live_prompt(van_on):
    van = van_on()
    simulation = van.simulation
    assert simulation.command("set water 33") and van.car.snapshot()["FreshWater"] == 33
    assert simulation.command("set water lots") and van.car.snapshot()["FreshWater"] == 33
    assert simulation.command("quiet") and not simulation.ecu.broadcasting
    assert simulation.command("talk") and simulation.ecu.broadcasting
    assert simulation.command("show") and simulation.command("help") and simulation.command("fly")
    out = van.out.getvalue()
    assert "water = 33.0" in out and "water takes a number, not 'lots'" in out and "gas = 0.0" in out
    assert "set NAME VALUE   change a [state] value" in out and "unknown command 'fly'; type help" in out
    stop = threading.Event()
    simulation.prompt(io.StringIO("set gas 50\nquit\nset gas 70\n"), stop)
    assert stop.is_set() and van.car.snapshot()["Gas"] == 50


def test_a_command_the_status_signal_cannot_hold_is_ignored_and_the_van_keeps_reporting(tmp_path, bus_spec):
    """An installer's DBC whose setpoint command reaches 40 degrees while the status signal stops at 31.5:
    the simulated heater ignores 35 (an ECU ignores what it cannot do), and its status frames go on (an
    unencodable value silenced the broadcast thread for good)."""
    import can

    from carvoice.sim.ecu import SimEcu

    folder = tmp_path / "van"
    shutil.copytree(CAMPER, folder)
    dbc = folder / "camper.dbc"
    dbc.write_text(
        dbc.read_text().replace(
            ' SG_ HeaterSetpoint : 0|8@1+ (0.5,0) [0|40] "degC" HEAD_UNIT',
            ' SG_ HeaterSetpoint : 0|6@1+ (0.5,0) [0|31.5] "degC" HEAD_UNIT',
        )
    )
    profile = load_profile(folder)
    command = profile.dbc.get_message_by_name("HEATER_CMD")
    status_id = profile.dbc.get_message_by_name("HEATER_STATUS").frame_id
    changes = []
    car_bus, head_unit = open_test_bus(bus_spec), open_test_bus(bus_spec)
    try:
        with SimEcu(car_bus, profile, on_change=changes.extend) as ecu:
            ecu.car.set("setpoint", 20)
            for degrees in (35, 21.5):  # applied in order: once 21.5 is in, 35 was seen
                data = command.encode({"HeaterSetpoint_Cmd": degrees, "HeaterMode_Cmd": "NoChange"})
                head_unit.send(can.Message(arbitration_id=command.frame_id, data=data, is_extended_id=False))
            assert until(lambda: ecu.car.snapshot()["HeaterSetpoint"] == 21.5) is not None
            head_unit.set_filters([{"can_id": status_id, "can_mask": 0x7FF, "extended": False}])

            def heard_setpoint() -> float | None:
                message = head_unit.recv(timeout=0.05)
                if message is None:
                    return None
                return profile.dbc.decode_message(status_id, message.data)["HeaterSetpoint"]

            assert until(lambda: heard_setpoint() == 21.5, 10.0) is not None
            # A value no frame can carry (a car model's own physics could reach it): that message is
            # skipped, the others go on.
            with ecu.car._lock:
                ecu.car.values["HeaterSetpoint"] = 35.0
            tanks = profile.dbc.get_message_by_name("TANK_LEVELS").frame_id
            head_unit.set_filters([{"can_id": tanks, "can_mask": 0x7FF, "extended": False}])
            assert until(lambda: ecu.encode_errors > 0 and head_unit.recv(timeout=0.05) is not None, 10.0) is not None
    finally:
        car_bus.shutdown()
        head_unit.shutdown()
    assert [(c.signal, c.value) for c in changes] == [("HeaterSetpoint", 21.5)]
