"""The files an installer puts on a head unit, checked by the tools that will read them there.

systemd-analyze verify and udevadm test look at the real machine (the program in ExecStart, the
groups in /etc/group), so they run in a private mount namespace where a tmpfs stands in for
/opt/carvoice and the service's user exists; nothing on the machine itself changes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import needs

ROOT = Path(__file__).resolve().parents[1]
SERVICE = ROOT / "systemd" / "carvoice.service"
SYSUSERS = ROOT / "systemd" / "carvoice.sysusers.conf"
HW = ROOT / "hw"
CARVOICE = ROOT / ".venv" / "bin" / "carvoice"


def in_private_mounts(script: str) -> subprocess.CompletedProcess:
    """Run a shell script with its own view of the filesystem (root only: CI and the unit's installer)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare for a private mount namespace (CI runs as root)")
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-ec", script],
        capture_output=True,
        text=True,
        timeout=60,
    )


@needs("systemd-analyze")
def test_service_exposure_is_at_most_2():
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--threshold=20", str(SERVICE)],
        capture_output=True,
        text=True,
    )
    score = float(re.search(r"Overall exposure level for carvoice.service: ([0-9.]+)", done.stdout).group(1))
    assert done.returncode == 0 and score <= 2.0, done.stdout


@needs("systemd-analyze")
def test_service_verifies_clean():
    assert CARVOICE.exists()
    done = in_private_mounts(f"""
        mount -t tmpfs none /opt
        mkdir -p /opt/carvoice/.venv/bin
        ln -s {CARVOICE} /opt/carvoice/.venv/bin/carvoice
        systemd-analyze verify {SERVICE}
    """)
    assert done.returncode == 0 and done.stdout + done.stderr == "", done.stderr
    for setting in (
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "RestrictAddressFamilies=AF_UNIX AF_CAN AF_NETLINK",
        "SupplementaryGroups=audio dialout",
    ):
        assert setting in SERVICE.read_text()


@needs("systemd-sysusers", "udevadm")
def test_sysusers_creates_the_user_and_the_udev_rules_parse_with_its_group(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    for name in ("passwd", "group", "shadow", "gshadow"):
        if Path("/etc", name).exists():
            shutil.copy(Path("/etc", name), etc / name)
    subprocess.run(["systemd-sysusers", f"--root={tmp_path}", str(SYSUSERS)], check=True, capture_output=True)
    groups = {line.split(":")[0]: line.strip().split(":")[3].split(",") for line in (etc / "group").open()}
    assert "carvoice" in groups and "carvoice" in groups["audio"] and "carvoice" in groups["dialout"]
    assert any(line.startswith("carvoice:") for line in (etc / "passwd").open())

    rules = HW / "99-carvoice.rules"
    done = in_private_mounts(f"""
        mount --bind {etc / "group"} /etc/group
        mount --bind {etc / "passwd"} /etc/passwd
        mount -t tmpfs none /etc/udev/rules.d
        cp {rules} /etc/udev/rules.d/
        udevadm test --action=add /sys/class/net/lo 2>&1
    """)
    about_ours = [line for line in done.stdout.splitlines() if rules.name in line]
    assert about_ours == [f"Reading rules file: /etc/udev/rules.d/{rules.name}"], done.stdout  # no complaint

    # the check does catch a mistake
    broken = tmp_path / rules.name
    broken.write_text(rules.read_text() + 'SUBSYSTEM=="tty", ATRS{idVendor}=="0403", SYMLINK+="x"\n')
    done = in_private_mounts(f"""
        mount -t tmpfs none /etc/udev/rules.d
        cp {broken} /etc/udev/rules.d/
        udevadm test --action=add /sys/class/net/lo 2>&1
    """)
    assert "Invalid key 'ATRS'" in done.stdout


@needs("aplay")
def test_asound_conf_parses_and_defines_the_devices(tmp_path):
    env = dict(os.environ, ALSA_CONFIG_PATH=f"/usr/share/alsa/alsa.conf:{HW / 'asound.conf'}")
    done = subprocess.run(["aplay", "-L"], capture_output=True, text=True, env=env)
    names = done.stdout.split()
    assert {"default", "carvoice_mic", "carvoice_speaker"} <= set(names) and "ALSA lib" not in done.stderr
    broken = tmp_path / "asound.conf"
    broken.write_text((HW / "asound.conf").read_text().replace("type asym", "type asym {"))
    env["ALSA_CONFIG_PATH"] = f"/usr/share/alsa/alsa.conf:{broken}"
    assert "carvoice_mic" not in subprocess.run(["aplay", "-L"], capture_output=True, text=True, env=env).stdout


def test_network_file_brings_up_can0_at_the_demo_profiles_bitrate():
    from carvoice.check import load_profile
    from carvoice.profile.loader import default_profile_dir

    text = (HW / "80-can.network").read_text()
    assert re.search(r"(?m)^Name=can0$", text)
    bitrate = re.search(r"(?m)^BitRate=(\d+)K$", text)
    assert bitrate and int(bitrate.group(1)) * 1000 == load_profile(default_profile_dir()).can.bitrate


def test_under_journald_each_event_line_carries_its_priority(tmp_path):
    env = dict(os.environ, JOURNAL_STREAM="8:12345")
    done = subprocess.run(
        [str(CARVOICE), "text", "--no-speech", "open the glovebox"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    lines = done.stdout.splitlines()
    assert lines[0].startswith("<5>rejected") and lines[1].startswith('<6>say      "Sorry?"'), lines
    assert "\x1b[" not in done.stdout + done.stderr  # no colour codes


def deny_write_execute() -> None:
    """What MemoryDenyWriteExecute=yes does, through the kernel's own switch (prctl PR_SET_MDWE, Linux 6.3+)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_MDWE)")


@needs("espeak-ng")
def test_the_agent_hears_and_speaks_with_memory_deny_write_execute(tmp_path):
    """The unit sets MemoryDenyWriteExecute=yes: recognition and speech (ctypes callbacks) must still work."""
    import json
    import sys

    import numpy as np

    from carvoice.audio.synth import silence, speech, with_noise_floor
    from carvoice.audio.wavfile import write_wav

    probe = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], preexec_fn=deny_write_execute, capture_output=True
    )
    if probe.returncode != 0:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+)")
    refused = subprocess.run(
        [sys.executable, "-c", "import mmap; mmap.mmap(-1, 4096, prot=7)"],
        preexec_fn=deny_write_execute,
        capture_output=True,
        text=True,
    )
    assert "PermissionError" in refused.stderr  # the restriction is in force (and survives exec)

    recording = tmp_path / "command.wav"
    write_wav(
        recording,
        with_noise_floor(
            np.concatenate(
                [
                    silence(0.5),
                    speech("okay nabu", "en-us", 150),
                    silence(0.3),
                    speech("lock the doors", "en-us", 150),
                    silence(1.5),
                ]
            )
        ),
    )
    done = subprocess.run(
        [str(CARVOICE), "run", "--audio", str(recording), "--events", "json", "--speech-dir", str(tmp_path / "speech")],
        preexec_fn=deny_write_execute,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 0, done.stderr
    assert [e["intent"] for e in events if e["event"] == "intent"] == ["lock"], events
    assert any(e["event"] == "say" and Path(e["file"]).stat().st_size > 1000 for e in events)
