"""Push-to-talk on a serial port: a switch between RTS or DTR and a modem status input, on real pyserial.

pyserial's loop:// reflects RTS on CTS and DTR on DSR, so with the button read on CTS and fed from
DTR (which the agent holds asserted), a test presses it by raising RTS on the very port the agent
opened: the opener that stands for the device keeps it. The device "exists" while its path does,
as a USB adapter's /dev node does; while it does not, real pyserial fails to open the path.
The CAN button's end-to-end test is tests/test_vehicle.py.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import serial

from carvoice import events
from carvoice.check import load_profile
from carvoice.cli import main
from carvoice.factory import build_agent
from carvoice.profile.loader import default_profile_dir
from carvoice.profile.model import SerialButton, SerialPortSettings
from carvoice.wake.button import REOPEN_SECONDS, PushToTalk, SerialLineButton
from tests.conftest import needs, unlock_by_push_to_talk, until

FRAME = 0.03  # the agent looks at the button once per audio frame

BUTTON = '{ serial = "voice_button", line = "CTS", feed = "DTR" }'


class Device:
    """A USB-serial adapter with the switch on CTS: present while its path exists, a loop:// port when opened."""

    def __init__(self, path: Path, plugged: bool = True) -> None:
        self.path = path
        self.ports: list[serial.Serial] = []
        if plugged:
            self.plug()

    def plug(self) -> None:
        self.path.touch()

    def unplug(self) -> None:
        self.path.unlink()
        self.ports[-1].close()

    def open(self, url: str, **options) -> serial.Serial:
        if not Path(url).exists():
            return serial.serial_for_url(url, **options)  # pyserial's own error for a missing device
        port = serial.serial_for_url("loop://", **options)
        port.rts = False  # the switch is open
        self.ports.append(port)
        return port

    def press(self, down: bool = True) -> None:
        self.ports[-1].rts = down


def profile_with_button(tmp_path: Path, button: str = f"button = {BUTTON}", table: str = "") -> Path:
    """The demo car with its voice button on a serial port instead of the CAN bus."""
    root = tmp_path / "car"
    shutil.copytree(default_profile_dir(), root)
    main_file = root / "profile.toml"
    text = main_file.read_text().replace('button = "voice_button"', button)
    main_file.write_text(text + f'\n[serial.voice_button]\nurl = "{tmp_path / "ttyUSB-voice"}"\n{table}')
    return root


def looks(push: PushToTalk, start: float, seconds: float) -> list[float]:
    """Look once a frame for `seconds` from `start`: the times of the presses seen."""
    times = np.arange(start, start + seconds, FRAME)
    return [round(float(t), 2) for t in times if push.pressed(float(t))]


def serial_button(device: Device, reports: list[str], line: str = "CTS", feed: str = "DTR") -> SerialLineButton:
    settings = SerialPortSettings("voice_button", str(device.path))
    return SerialLineButton(settings, SerialButton("voice_button", line, feed), reports.append, device.open)


def test_both_forms_of_a_serial_button_load(tmp_path):
    profile = load_profile(profile_with_button(tmp_path))
    assert profile.wake.button == SerialButton("voice_button", "CTS", "DTR")
    # a [wake.button] table; DCD is another name of CD, fed from DTR as usual
    table = '\n[wake.button]\nserial = "voice_button"\nline = "dcd"\n'
    profile = load_profile(profile_with_button(tmp_path / "table", "", table))
    assert profile.wake.button == SerialButton("voice_button", "CD", "DTR")


def test_check_shows_the_serial_button(tmp_path, capsys):
    root = profile_with_button(tmp_path)
    assert main(["check", str(root)]) == 0
    assert "button CTS on serial.voice_button" in capsys.readouterr().out
    assert main(["check", "--json", str(root)]) == 0
    wake = json.loads(capsys.readouterr().out)["wake"]
    device = str(tmp_path / "ttyUSB-voice")
    assert wake["button"] == {"serial": "voice_button", "url": device, "line": "CTS", "feed": "DTR"}


def test_a_press_is_one_press_however_the_contact_bounces(tmp_path, demo_profile):
    device, reports = Device(tmp_path / "ttyUSB0"), []
    button = serial_button(device, reports)
    with PushToTalk(lambda _profile: button, demo_profile) as push:
        assert looks(push, 0.0, 0.3) == []  # released
        assert device.ports[-1].dtr  # the agent feeds the switch
        device.press()
        assert looks(push, 0.3, 0.3) == [0.3]  # held: one press, not one a frame
        device.press(False)
        assert looks(push, 0.6, FRAME) == []  # a bounce: released for one look...
        device.press()
        assert looks(push, 0.63, 0.3) == []  # ...and down again is the same press
        device.press(False)
        assert looks(push, 0.93, 0.3) == []
        device.press()
        assert looks(push, 1.23, 0.1) == [1.23]  # let go for 0.3 s and pressed again: a second press
    assert reports == [] and not device.ports[-1].is_open


def test_a_button_held_when_first_seen_is_not_a_press(tmp_path, demo_profile):
    device = Device(tmp_path / "ttyUSB0")
    with PushToTalk(lambda _profile: serial_button(device, []), demo_profile) as push:
        push.pressed(0.0)  # opens the port: the switch is open...
        device.press()
        push.close()  # ...and held down when the port is opened again (a reload)
        push.replace_profile(demo_profile)
        assert looks(push, 0.03, 0.3) == []
        device.press(False)
        assert looks(push, 0.33, 0.3) == []
        device.press()
        assert looks(push, 0.63, 0.1) == [0.63]


def test_a_vanished_adapter_is_reported_once_and_opened_again_when_it_is_back(tmp_path, demo_profile):
    device, reports = Device(tmp_path / "ttyUSB0"), []
    with PushToTalk(lambda _profile: serial_button(device, reports), demo_profile) as push:
        assert looks(push, 0.0, 0.3) == []
        device.unplug()
        assert looks(push, 0.3, 3.0) == []  # three tries to open it again, one report
        [vanished] = reports
        assert "push-to-talk button (CTS on serial port voice_button" in vanished
        assert str(device.path) in vanished and "vanished" in vanished and "the wake phrase still works" in vanished
        device.plug()
        assert looks(push, 3.3, REOPEN_SECONDS + 0.3) == []  # opened again within a second, and seen released
        assert len(device.ports) == 2 and reports[1].endswith("is back")
        device.press()
        assert looks(push, 4.6, 0.1) == [4.6]
    assert len(reports) == 2


def test_an_adapter_missing_at_start_does_not_stop_the_agent(tmp_path, capsys):
    """As a missing serial action port: the agent runs on the wake phrase, the message names the device."""
    root = profile_with_button(tmp_path)
    bus = f"virtual:{tmp_path.name}"
    status = main(["run", "--profile", str(root), "--demo", "--no-speech", "--events", "json", "--can", bus])
    heard = [events.from_json_line(line) for line in capsys.readouterr().out.splitlines()]
    assert status == 0
    [missing] = [e for e in heard if e.name == "error"]
    assert missing.source == "wake" and str(tmp_path / "ttyUSB-voice") in missing.message
    assert "cannot be opened" in missing.message and "No such file" in missing.message
    woken = [e for e in heard if e.name == "wake"]
    assert woken and {e.by for e in woken} == {"phrase"}
    assert [e for e in heard if e.name == "intent"]


@needs("flite")
def test_the_serial_voice_button_starts_listening_as_the_wake_phrase_does(car, bus_spec, tmp_path):
    """A press on the serial button, then a command without the wake phrase, to a CAN frame on the bus."""
    profile = load_profile(profile_with_button(tmp_path))
    device = Device(tmp_path / "ttyUSB-voice")

    def press_and_let_go() -> None:
        device.press()
        time.sleep(0.3)
        device.press(False)

    heard: list[events.Event] = []
    agent = build_agent(profile, heard.append, bus=tuple(bus_spec.split(":", 1)), open_port=device.open)
    unlock_by_push_to_talk(agent, heard, press_and_let_go)
    assert not [e for e in heard if e.name == "error" and e.source == "wake"]
    assert until(lambda: car.car.snapshot()["Locked"] == 0) is not None
    assert not device.ports[-1].is_open  # closed with the agent
