"""carvoice doctor on a unit made of real parts: a PulseAudio cabin, a python-can bus with traffic, a running
daemon, a serial stand-in, and one serial device that is not plugged in."""

from __future__ import annotations

import shutil
import threading
import uuid

import can

from carvoice.cli import main
from carvoice.profile.loader import default_profile_dir
from tests.bundles import start_daemon
from tests.conftest import needs


@needs("pulseaudio", "pactl")
def test_doctor_passes_what_works_and_says_what_to_do_about_the_rest(tmp_path, monkeypatch, capsys):
    from tests.pulse import VirtualCabin

    channel = f"doctor-{uuid.uuid4().hex}"
    profile = tmp_path / "profile"
    shutil.copytree(default_profile_dir(), profile)
    main_file = profile / "profile.toml"
    text = main_file.read_text().replace('channel = "demo_car"', f'channel = "{channel}"')
    text = text.replace("[audio]\n", '[audio]\ninput = "pulse"\noutput = "pulse"\n')
    main_file.write_text(text + '\n[serial.elm]\nurl = "/dev/carvoice-elm327-not-plugged-in"\n')

    (tmp_path / "cabin").mkdir()
    cabin = VirtualCabin(tmp_path / "cabin")
    for key, value in cabin.environment.items():
        monkeypatch.setenv(key, value)
    runtime = tmp_path / "run"
    daemon = start_daemon(tmp_path, profile, runtime)
    stop = threading.Event()

    def traffic() -> None:  # another node on the bus
        with can.Bus(interface="virtual", channel=channel) as node:
            while not stop.wait(0.05):
                node.send(can.Message(arbitration_id=0x1A0, data=bytes(4), is_extended_id=False))

    sender = threading.Thread(target=traffic)
    sender.start()
    try:
        code = main(["doctor", "--profile", str(profile), "--listen", "1", "--runtime-dir", str(runtime)])
    finally:
        stop.set()
        sender.join()
        daemon.kill()
        daemon.wait()
        cabin.close()
    out = capsys.readouterr().out.splitlines()

    def line(name: str) -> str:
        return next(text for text in out if text[6:].startswith(name))

    assert code == 1 and out[-1] == "6 of 7 checks passed"
    assert line("profile").startswith("PASS")
    assert line("service").startswith("PASS") and f"pid {daemon.pid}" in line("service")
    assert line("microphone").startswith("PASS") and "dBFS" in line("microphone")
    assert line("speaker").startswith("PASS")
    assert line(f"CAN {channel}").startswith("PASS")
    assert int(line(f"CAN {channel}").split(", ")[1].split()[0]) >= 5  # frames heard in 1 s
    assert line("serial relay").startswith("PASS")
    assert line("serial elm").startswith("FAIL")
    assert "/dev/carvoice-elm327-not-plugged-in is missing" in line("serial elm")
    assert "hw/99-carvoice.rules" in line("serial elm")


def test_doctor_without_a_daemon_or_a_valid_profile(tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(default_profile_dir(), broken)
    (broken / "body.toml").write_text("[intents.window\n")
    assert main(["doctor", "--profile", str(broken), "--runtime-dir", str(tmp_path / "run")]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("FAIL  profile") and f"carvoice check {broken}" in out[0]
    assert out[1].startswith("FAIL  service") and "not running" in out[1] and "journalctl -u carvoice" in out[1]
    assert out[2].startswith("FAIL  devices") and "the profile must load first" in out[2]
    assert out[-1] == "0 of 3 checks passed"
