"""Counters and checksums: what makes a status message's frames one sequence from one sender."""

from __future__ import annotations

import shutil
from pathlib import Path

import can
import pytest

from carvoice.check import load_profile
from carvoice.profile.loader import default_profile_dir
from carvoice.profile.model import ProfileError
from carvoice.vehicle.integrity import CHECKSUMS, FAULT_HOLD_SECONDS
from carvoice.vehicle.state import VehicleState, sequence_rules


def test_the_checksums_match_their_published_check_values():
    assert CHECKSUMS["crc8"](b"123456789") == 0x4B  # CRC-8/SAE-J1850's check value
    assert CHECKSUMS["xor"](bytes((0x0F, 0xF0, 0x01))) == 0xFE
    assert CHECKSUMS["sum"](bytes((0xFF, 0x02))) == 0x01


def checked_car(tmp_path: Path, checksum_type: str = "crc8", checksum: str = "DynChecksum") -> Path:
    """The demo car whose VEHICLE_DYNAMICS carries a fifth byte, a checksum over the other four."""
    folder = tmp_path / "checked"
    shutil.copytree(default_profile_dir(), folder)
    dbc = folder / "demo_car.dbc"
    text = dbc.read_text().replace("BO_ 416 VEHICLE_DYNAMICS: 4 GW", "BO_ 416 VEHICLE_DYNAMICS: 5 GW")
    text = text.replace(
        ' SG_ DynCounter : 28|4@1+ (1,0) [0|15] "" HEAD_UNIT\n',
        ' SG_ DynCounter : 28|4@1+ (1,0) [0|15] "" HEAD_UNIT\n SG_ DynChecksum : 32|8@1+ (1,0) [0|255] "" HEAD_UNIT\n',
    )
    dbc.write_text(text)
    state = folder / "state.toml"
    state.write_text(
        state.read_text().replace(
            'signal = "VEHICLE_DYNAMICS.Gear"\ncounter = "DynCounter"\n',
            f'signal = "VEHICLE_DYNAMICS.Gear"\ncounter = "DynCounter"\n'
            f'checksum = "{checksum}"\nchecksum_type = "{checksum_type}"\n',
        )
    )
    return folder


def frame(profile, counter: int, speed: float, corrupt: bool = False) -> can.Message:
    message = profile.dbc.get_message_by_name("VEHICLE_DYNAMICS")
    signals = {"VehicleSpeed": speed, "Gear": 3, "ParkingBrake": 0, "Ignition": 2, "DynCounter": counter}
    data = bytes(message.encode({**signals, "DynChecksum": 0}))
    checksum = CHECKSUMS["crc8"](data[:4]) ^ (1 if corrupt else 0)
    return can.Message(arbitration_id=message.frame_id, data=data[:4] + bytes((checksum,)), is_extended_id=False)


def test_a_wrong_checksum_makes_the_message_untrusted_and_says_why(tmp_path):
    profile = load_profile(checked_car(tmp_path))
    now = [0.0]
    state = VehicleState(profile, clock=lambda: now[0])
    rules = sequence_rules(profile)[0x1A0][2]
    assert (rules.counter, rules.checksum, rules.checksum_type) == ("DynCounter", "DynChecksum", "crc8")
    news = []
    for counter in range(3):
        news.append(state.on_frame(frame(profile, counter, 50.0)))
        now[0] += rules.cycle
    assert news == [None, None, None] and state.value("speed") == 50.0
    news.append(state.on_frame(frame(profile, 3, 0.0, corrupt=True)))
    assert "checksum" in news[-1] and state.value("speed") is None and state.value("gear") is None
    assert "VEHICLE_DYNAMICS (1A0) is not trusted: checksum" in state.why_unknown("speed")
    for counter in range(4, 4 + round(FAULT_HOLD_SECONDS / rules.cycle) + 3):  # in order again for the hold
        now[0] += rules.cycle
        news.append(state.on_frame(frame(profile, counter % 16, 50.0)))
    assert "in order again" in " ".join(n for n in news if n) and state.value("speed") == 50.0


@pytest.mark.parametrize(
    ("checksum_type", "checksum", "says"),
    [
        ("crc16", "DynChecksum", "is not one of xor, sum, crc8"),
        ("crc8", "DynCounter", "must fill exactly one whole byte"),
        ("crc8", "NoSuchSignal", "has no signal 'NoSuchSignal'"),
    ],
)
def test_a_checksum_the_unit_cannot_check_is_a_located_profile_error(tmp_path, checksum_type, checksum, says):
    folder = checked_car(tmp_path, checksum_type, checksum)
    with pytest.raises(ProfileError) as raised:
        load_profile(folder)
    [problem] = [p for p in raised.value.problems if p.key.startswith("state.gear")]  # then gear is unknown
    assert says in problem.message and problem.file == folder / "state.toml" and problem.line is not None


def test_the_simulator_keeps_the_sequence_the_profile_names(tmp_path, bus_spec):
    """`carvoice sim --profile` of a car whose counter is not called *Counter and whose frames carry a
    checksum: the head unit hears the simulated sender in order and trusts its values."""
    from carvoice.sim.ecu import SimEcu
    from carvoice.vehicle.link import VehicleLink
    from tests.conftest import open_test_bus, until

    folder = checked_car(tmp_path)
    for name in ("demo_car.dbc", "state.toml"):
        (folder / name).write_text((folder / name).read_text().replace("DynCounter", "DynAlive"))
    profile = load_profile(folder)
    assert sequence_rules(profile)[0x1A0][2].counter == "DynAlive"
    reports: list[str] = []
    link = VehicleLink(profile, *bus_spec.split(":", 1), report=reports.append)
    car_bus = open_test_bus(bus_spec)
    try:
        with SimEcu(car_bus, profile) as ecu:
            ecu.car.set("speed", 42.5)
            assert until(lambda: link.state.value("speed") == 42.5, 5.0) is not None, reports
        # two more frames once the simulator's own thread has stopped sending
        heard = [ecu.status_frame(profile.dbc.get_message_by_name("VEHICLE_DYNAMICS"), {}) for _ in range(2)]
    finally:
        link.close()
        link.bus.shutdown()
        car_bus.shutdown()
    assert reports == []  # not one frame out of sequence, nor a wrong checksum
    counters = [profile.dbc.decode_message(0x1A0, bytes(m.data))["DynAlive"] for m in heard]
    assert (counters[1] - counters[0]) % 16 == 1
    assert all(CHECKSUMS["crc8"](bytes(m.data[:4])) == m.data[4] for m in heard)


def body_frame(profile, locked: int) -> can.Message:
    message = profile.dbc.get_message_by_name("BODY_STATUS")
    data = message.encode({s.name: 0 for s in message.signals} | {"Locked": locked})
    return can.Message(arbitration_id=message.frame_id, data=data, is_extended_id=False)


def test_without_a_counter_two_different_frames_inside_half_a_cycle_are_a_second_sender(demo_profile):
    """BODY_STATUS has no counter: what shows a second sender is two different frames closer than half
    its 100 ms cycle. One placed further from the car's frames is not caught (README: not stopped)."""
    now = [10.0]
    state = VehicleState(demo_profile, clock=lambda: now[0])
    cycle = sequence_rules(demo_profile)[0x3B0][2].cycle
    assert cycle == 0.1
    news = []

    def car_then(*frames: tuple[float, int]) -> None:
        for after, locked in frames:
            now[0] += after
            news.append(state.on_frame(body_frame(demo_profile, locked)))

    car_then((0.0, 1), (cycle, 1), (cycle, 1), (cycle, 1))
    assert news == [None] * 4 and state.value("locked") == 1
    car_then((cycle * 0.3, 1))  # the same frame again (a retransmission): nothing to distrust
    assert news[-1] is None and state.value("locked") == 1
    car_then((cycle * 0.3, 0))  # "unlocked", 30 ms after the car's frame: a second sender
    assert "two different frames 30 ms apart, in a 100 ms cycle" in news[-1] and state.value("locked") is None
    assert "BODY_STATUS (3B0) is not trusted: two different frames" in state.why_unknown("locked")
    for _ in range(round(FAULT_HOLD_SECONDS / cycle) + 3):
        car_then((cycle, 1))
    assert "in order again" in " ".join(n for n in news if n) and state.value("locked") == 1
    car_then((cycle * 0.6, 0))  # 60 ms after the car's frame, 40 ms before its next: not caught
    assert news[-1] is None


def test_a_sender_quiet_for_longer_than_max_age_starts_a_new_sequence(demo_profile):
    """An ECU that restarts begins its counter anywhere: after a silence longer than max_age that is not a fault."""
    profile = demo_profile
    now = [10.0]
    state = VehicleState(profile, clock=lambda: now[0])
    rules = sequence_rules(profile)[0x1A0][2]
    message = profile.dbc.get_message_by_name("VEHICLE_DYNAMICS")

    def dynamics(counter: int) -> can.Message:
        signals = {"VehicleSpeed": 50, "Gear": 3, "ParkingBrake": 0, "Ignition": 2, "DynCounter": counter}
        return can.Message(arbitration_id=message.frame_id, data=message.encode(signals), is_extended_id=False)

    assert [state.on_frame(dynamics(c)) for c in (4, 5)] == [None, None]
    now[0] += rules.cycle
    assert "went from 5 to 9" in state.on_frame(dynamics(9))  # a jump within the sequence
    now[0] += profile.state["speed"].max_age + 0.01 + FAULT_HOLD_SECONDS  # quiet, then the ECU is back
    assert state.on_frame(dynamics(0)) == "CAN: VEHICLE_DYNAMICS (1A0) is in order again"  # not a fault
    # A microsecond past the confirmation time: summed in floats, the fake clock could land a hair
    # short of it (the test failed about half the time when the wall clock did not tick between
    # the frame's reception stamp and its age).
    now[0] += rules.confirm_seconds + 1e-6
    assert state.value("speed") == 50
