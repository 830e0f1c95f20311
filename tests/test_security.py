"""A profile from an untrusted source cannot reach outside the car's bus and ports; the daemon listens on no network."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from carvoice.profile.loader import default_profile_dir, load_profile
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
