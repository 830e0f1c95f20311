"""The daemon as a service: readiness and watchdog to systemd, reload on SIGHUP, a status file."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np

from carvoice.audio.synth import with_noise_floor
from carvoice.audio.wavfile import write_wav
from carvoice.profile.loader import default_profile_dir, profile_digest


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def status_of(directory):
    try:
        return json.loads((directory / "status.json").read_text())
    except (OSError, ValueError):
        return None


def test_ready_watchdog_reload_and_stop(tmp_path):
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(20)
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(default_profile_dir(), old)
    shutil.copytree(default_profile_dir(), new)
    (new / "profile.toml").write_text(
        (new / "profile.toml").read_text().replace('name = "Demo car"', 'name = "Demo car, new"')
    )
    active = tmp_path / "active"
    active.symlink_to(old)
    write_wav(tmp_path / "quiet.wav", with_noise_floor(np.zeros(16000 * 30)))
    runtime = tmp_path / "run"
    env = dict(
        os.environ, NOTIFY_SOCKET=str(tmp_path / "notify"), WATCHDOG_USEC="1000000", CARVOICE_RUNTIME_DIR=str(runtime)
    )
    daemon = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "carvoice",
            "run",
            "--profile",
            str(active),
            "--audio",
            str(tmp_path / "quiet.wav"),
            "--realtime",
            "--no-speech",
            "--events",
            "json",
        ],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        messages = []
        while not any(m.startswith("READY=1") for m in messages):
            messages.append(notify.recv(4096).decode())
        status = status_of(runtime)
        assert status["pid"] == daemon.pid and status["profile"] == str(old.resolve())
        assert status["profile_digest"] == profile_digest(old)
        assert notify.recv(4096).decode() == "WATCHDOG=1"  # the audio loop feeds the watchdog

        # a broken profile is refused and the old one keeps running
        broken = tmp_path / "broken"
        shutil.copytree(old, broken)
        (broken / "body.toml").write_text("[intents.window\n")
        active.unlink()
        active.symlink_to(broken)
        daemon.send_signal(signal.SIGHUP)
        status = wait_for(lambda: (s := status_of(runtime)) and s["reload_error"] and s)
        assert status["profile"] == str(old.resolve()) and "not valid TOML" in status["reload_error"]

        # a good one is taken
        active.unlink()
        active.symlink_to(new)
        daemon.send_signal(signal.SIGHUP)
        status = wait_for(lambda: (s := status_of(runtime)) and s["profile"] == str(new.resolve()) and s)
        assert status["profile_name"] == "Demo car, new" and status["reload_error"] is None

        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=10) == 0
        events = [json.loads(line) for line in daemon.stdout.read().splitlines()]
        assert [e["event"] for e in events].count("ready") == 2
        assert any(e["event"] == "error" and "old profile kept" in e["message"] for e in events)
    finally:
        if daemon.poll() is None:
            daemon.kill()
        notify.close()
