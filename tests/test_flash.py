"""carvoice flash against three head units simulated by real sshd servers on loopback, each with a daemon."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from carvoice.bundle.archive import read
from carvoice.bundle.install import install
from carvoice.bundle.unit import Unit
from carvoice.profile.loader import profile_digest
from tests.bundles import allowed_signers, bundle_of, ssh_key, start_daemon, status_of, wait_for, wait_until_ready
from tests.sshd import SSHD, free_port, start_units, stop_units

CARVOICE = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "carvoice"

pytestmark = pytest.mark.skipif(not Path(SSHD).exists(), reason="needs openssh-server (scripts/setup --test)")


def test_flash_three_units_one_rolls_back_one_host_unreachable(tmp_path):
    key = ssh_key(tmp_path / "signer", "installer")
    v1, v2 = bundle_of(tmp_path, "Car one", "1", key), bundle_of(tmp_path, "Car two", "2", key)
    old, new = read(v1).manifest.profile_digest, read(v2).manifest.profile_digest
    units, ssh_config = start_units(tmp_path / "units", ["unit1", "unit2", "unit3"])
    with ssh_config.open("a") as config:
        config.write(f"Host unplugged\n  HostName 127.0.0.1\n  Port {free_port()}\n")
    daemons = []
    try:
        for unit in units:
            allowed_signers(unit.root / "etc/carvoice/allowed_signers", "installer@workshop", key)
            install(v1, Unit(unit.root, unit.runtime))
            daemons.append(start_daemon(tmp_path, unit.root / "etc/carvoice/profile", unit.runtime, wait=False))
        for daemon, unit in zip(daemons, units, strict=True):
            wait_until_ready(daemon, unit.runtime)
        daemons[2].send_signal(signal.SIGSTOP)  # unit3's agent hangs: it never confirms the new profile
        try:
            done = subprocess.run([str(CARVOICE), "flash", str(v2), "unit1", "unit2", "unit3", "unplugged",
                                   "-F", str(ssh_config), "--carvoice", str(CARVOICE), "--timeout", "3"],
                                  capture_output=True, text=True, timeout=120)
        finally:
            daemons[2].send_signal(signal.SIGCONT)
        out = done.stdout
        assert done.returncode == 1, out + done.stderr
        progress, summary = out.split("\nsummary:\n")
        for name in ("unit1", "unit2", "unit3"):
            assert f"[{name:<9}] copying Car_two-2.cvb" in progress and f"[{name:<9}] installing" in progress
            assert f"[{name:<9}] signature good: signed by installer@workshop" in progress
        rows = {line.split()[0]: line.split(None, 1)[1] for line in summary.splitlines()[:-1]}
        assert rows["unit1"].startswith("installed    installed: car-two-2-")
        assert rows["unit2"].startswith("installed")
        assert rows["unit3"].startswith("rolled back") and "Car two 2 did not come up" in rows["unit3"]
        assert rows["unplugged"].startswith("unreachable") and "Connection refused" in rows["unplugged"]
        assert summary.splitlines()[-1] == "2 of 4 installed; not installed: unit3 unplugged"

        for unit in units[:2]:  # the daemons confirmed the new profile
            assert status_of(unit.runtime)["profile_digest"] == new
            assert profile_digest((unit.root / "etc/carvoice/profile").resolve()) == new
        assert profile_digest((units[2].root / "etc/carvoice/profile").resolve()) == old
        wait_for(lambda: status_of(units[2].runtime)["profile_digest"] == old)  # and its daemon runs the old one
        assert not list(Path("/tmp").glob("carvoice-*.cvb"))  # the copies are removed on the units
    finally:
        for daemon in daemons:
            daemon.kill()
            daemon.wait()
        stop_units(units)
