"""Counters and checksums: what makes a status message's frames one sequence from one sender."""

from __future__ import annotations

import shutil
from pathlib import Path

import can
import pytest

from carvoice.profile.loader import default_profile_dir, load_profile
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
