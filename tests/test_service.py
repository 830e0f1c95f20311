"""The daemon as a service: readiness and watchdog to systemd, reload on SIGHUP, a status file."""

import json
import shutil
import signal
import socket
import subprocess

from carvoice.profile.loader import default_profile_dir, profile_digest
from tests.bundles import start_daemon, status_of, wait_for


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
    runtime = tmp_path / "run"
    notify_env = {"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "1000000"}
    daemon = start_daemon(tmp_path, active, runtime, 30, wait=False, env=notify_env, stdout=subprocess.PIPE)
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
