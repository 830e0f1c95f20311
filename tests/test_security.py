"""A profile from an untrusted source cannot reach outside the car's bus and ports; the daemon listens on no network."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import can
import pytest

from carvoice.check import load_profile
from carvoice.profile.loader import default_profile_dir
from carvoice.profile.model import ProfileError
from tests.bundles import start_daemon


def demo_copy(tmp_path: Path, old: str, new: str, file: str = "profile.toml") -> Path:
    folder = tmp_path / "profile"
    shutil.copytree(default_profile_dir(), folder)
    target = folder / file
    text = target.read_text()
    assert old in text
    target.write_text(text.replace(old, new))
    return folder


@pytest.mark.parametrize(
    ("old", "new", "key", "says"),
    [
        ('url = "relayboard://"', 'url = "spy:///dev/ttyUSB0?file=/etc/cron.d/owned"', "serial.relay.url", "spy://"),
        ('url = "relayboard://"', 'url = "rfc2217://203.0.113.9:2217"', "serial.relay.url", "rfc2217://"),
        ('interface = "virtual"', 'interface = "udp_multicast"', "can.interface", "over the network"),
        ('dbc = "demo_car.dbc"', 'dbc = "../../../etc/passwd"', "can.dbc", "inside the profile folder"),
    ],
)
def test_a_profile_cannot_name_files_programs_or_networks(tmp_path, old, new, key, says):
    folder = demo_copy(tmp_path, old, new)
    with pytest.raises(ProfileError) as raised:
        load_profile(folder)
    [problem] = [p for p in raised.value.problems if p.key == key]
    assert says in problem.message
    assert str(problem).startswith(str(folder / "profile.toml"))


def test_a_hostile_serial_path_is_never_written(tmp_path):
    """A path that is not a terminal fails to open as a port: nothing is written into the file."""
    from carvoice.act import ActionFailed
    from carvoice.act.plan import SerialWrite
    from carvoice.act.serial import SerialSink
    from carvoice.profile.model import SerialPortSettings

    victim = tmp_path / "important.conf"
    victim.write_text("keep me\n")
    sink = SerialSink({"relay": SerialPortSettings("relay", str(victim), 9600)})
    with pytest.raises(ActionFailed, match=r"important\.conf"):
        sink.perform(SerialWrite("relay", b"LIGHTBAR on\r\n"), 0.0)
    sink.close()
    assert victim.read_text() == "keep me\n"


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _network_inodes() -> set[str]:
    inodes = set()
    for table in ("tcp", "tcp6", "udp", "udp6", "raw", "raw6"):
        path = Path("/proc/net") / table
        if path.exists():
            for line in path.read_text().splitlines()[1:]:
                inodes.add(line.split()[9])
    return inodes


def test_the_daemon_has_no_network_socket(tmp_path):
    process = start_daemon(tmp_path, default_profile_dir(), tmp_path / "run", 20, wait=False, stdout=subprocess.PIPE)
    try:
        assert json.loads(process.stdout.readline())["event"] == "ready"
        time.sleep(0.5)
        mine = _socket_inodes(process.pid)
        assert mine.isdisjoint(_network_inodes()), "the daemon holds a TCP/UDP/raw IP socket"
        status = tmp_path / "run" / "status.json"
        assert status.stat().st_mode & 0o002 == 0  # nobody else may rewrite what the daemon reports
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize(
    ("file", "old", "new", "key"),
    [
        (  # an ECU reset, to every ECU at once
            "body.toml",
            'can = "BODY_ACCESS_CMD"\nsignals = { Lock_Cmd = "{action}" }',
            'frame = "7DF#0211015555555555"',
            ".frame",
        ),
        ("demo_car.dbc", " 754 ", " 2016 ", ".can"),  # BODY_ACCESS_CMD moved to 0x7E0, the engine's
    ],
)
def test_a_profile_may_not_send_on_diagnostic_identifiers(tmp_path, file, old, new, key):
    folder = demo_copy(tmp_path, old, new, file)
    with pytest.raises(ProfileError) as raised:
        load_profile(folder)
    problems = [p for p in raised.value.problems if "diagnostic" in p.message]
    assert problems and all(p.key.endswith(key) and "only [obd] polling" in p.message for p in problems), problems
    assert all(p.line is not None for p in problems)


def test_the_bus_gate_refuses_any_frame_the_profile_does_not_define(demo_profile, bus_spec):
    """Whatever part of the agent sends, it sends through VehicleLink.bus, and that bus holds the frame policy."""
    from carvoice.act import ActionFailed
    from carvoice.act.can import CanSink
    from carvoice.act.plan import CanFrame
    from carvoice.vehicle.link import VehicleLink
    from tests.conftest import open_test_bus, until

    link = VehicleLink(demo_profile, *bus_spec.split(":", 1))
    watch = open_test_bus(bus_spec)
    heard: list[str] = []
    notifier = can.Notifier(watch, [lambda m: heard.append(CanFrame(m.arbitration_id, bytes(m.data)).text)])
    sink = CanSink(link.bus, bus_spec)
    try:
        for foreign in ("7DF#0211015555555555", "7E0#0211015555555555", "2F2#FF", "2F2#0C", "123#"):
            ident, data = foreign.split("#")
            with pytest.raises(ActionFailed, match="refused by the profile's frame policy"):
                sink.perform(CanFrame(int(ident, 16), bytes.fromhex(data)), 0.0)
        with pytest.raises(can.CanError):
            link.bus.send(can.Message(arbitration_id=0x2F2, is_remote_frame=True, dlc=1, is_extended_id=False))
        sink.perform(CanFrame(0x2F2, bytes.fromhex("04")), 0.0)  # the trunk, as the profile defines it
        # The refused frames were sent before the trunk's, on the same bus: one that got through would
        # be heard before it, so once the trunk's frame is heard alone, none did.
        assert until(lambda: heard == ["2F2#04"], 2.0) is not None, heard
        assert link.bus.refused == 6
    finally:
        notifier.stop()
        watch.shutdown()
        link.close()
        link.bus.shutdown()
