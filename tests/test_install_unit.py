"""scripts/install-unit --root on a fresh debootstrap root: a complete head unit, nothing more to do on a
second run, and a unit that runs with everything read-only but its state."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from carvoice.audio.synth import silence, speech, with_noise_floor
from carvoice.audio.wavfile import write_wav
from tests.bundles import bundle_of
from tests.conftest import needs
from tests.unit_roots import (
    DOWNLOADS,
    ROOT,
    allowed_signers,
    fresh_root,
    hat_block,
    needs_root,
    unit_files_in_place,
)

INSTALL_UNIT = ROOT / "scripts" / "install-unit"


def install_unit(root: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(INSTALL_UNIT), "--root", str(root), "--cache", str(DOWNLOADS), *options],
        capture_output=True,
        text=True,
        timeout=1800,
    )


@pytest.fixture(scope="module")
def unit(tmp_path_factory) -> Iterator[tuple[Path, Path, subprocess.CompletedProcess]]:
    """A debootstrap root after one install-unit run: the root, the allowed signers, what it printed."""
    needs_root()
    where = tmp_path_factory.mktemp("unit")
    signers = allowed_signers(where)
    with fresh_root(where) as root:
        yield root, signers, install_unit(root, "--allowed-signers", str(signers), *HAT)


HAT = ("--can-oscillator", "16000000", "--can-interrupt", "24")


def test_install_unit_makes_a_debootstrap_root_a_unit_and_a_second_run_changes_nothing(unit):
    root, signers, first = unit
    assert first.returncode == 0, first.stdout + first.stderr
    for change in ("installed Debian packages", "built /opt/carvoice/.venv", "carvoice.service", "system user"):
        assert change in first.stdout, first.stdout
    unit_files_in_place(root)
    assert (root / "etc/carvoice/allowed_signers").read_text() == signers.read_text()
    assert (root / "boot/firmware/config.txt").read_text() == hat_block(16000000, 24)

    again = install_unit(root, "--allowed-signers", str(signers), *HAT)
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")

    # what a second run does put right: a file changed by hand, an option changed
    agent = root / "opt/carvoice/carvoice/agent.py"
    agent.write_text(agent.read_text() + "# edited on the unit\n")
    mended = install_unit(root, "--allowed-signers", str(signers), "--no-can-hat")
    assert mended.returncode == 0, mended.stderr
    assert mended.stdout.splitlines() == [
        "install-unit: copied 1 file to /opt/carvoice",
        "install-unit: removed the CAN HAT overlay from /boot/firmware/config.txt",
    ]
    assert agent.read_text() == (ROOT / "carvoice/agent.py").read_text()
    assert "mcp2515" not in (root / "boot/firmware/config.txt").read_text()


def booted(root: Path, script: str, *files: Path) -> subprocess.CompletedProcess:
    """A script run inside the unit as if booted with a read-only root (Raspberry Pi OS's overlay, the
    service's ProtectSystem=strict): only /etc/carvoice (the persistent partition) keeps what is written;
    /run, /tmp and /var/lib/carvoice start empty each time. FILES are copied to its /tmp first."""
    setup = f"""
        mount --bind {root} {root}
        mount -o remount,bind,ro {root}
        mount --bind {root}/etc/carvoice {root}/etc/carvoice
        mount -o remount,bind,rw {root}/etc/carvoice
        mount -t proc proc {root}/proc
        mount --rbind /dev {root}/dev
        mount -t tmpfs tmpfs {root}/run
        mount -t tmpfs tmpfs {root}/tmp
        mount -t tmpfs -o uid=$(chroot {root} id -u carvoice),gid=$(chroot {root} id -g carvoice) tmpfs \\
            {root}/var/lib/carvoice
        for file in {" ".join(str(f) for f in files)}; do install -m 644 "$file" {root}/tmp/; done
        exec chroot {root} /bin/sh -ec '{script}'
    """
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-ec", setup],
        capture_output=True,
        text=True,
        timeout=600,
    )


@needs("espeak-ng", "ssh-keygen")
def test_the_unit_runs_on_a_read_only_root_and_its_bundles_survive_a_reboot(unit, tmp_path):
    root, signers, first = unit
    assert first.returncode == 0, first.stderr
    bundle = bundle_of(tmp_path, "Workshop car", "2.0", key=signers.parent / "installer")
    recording = tmp_path / "command.wav"
    phrases = [silence(0.5), speech("okay nabu", "en-us", 150), silence(0.3)]
    phrases += [speech("lock the doors", "en-us", 150), silence(1.5)]
    write_wav(recording, with_noise_floor(np.concatenate(phrases)))
    carvoice = "/opt/carvoice/.venv/bin/carvoice"

    installed = booted(root, f"{carvoice} bundle install /tmp/{bundle.name}", bundle)
    assert installed.returncode == 0, installed.stdout + installed.stderr

    # the service as the unit starts it: its user, its folders; replies go to WAV files (no speaker here)
    service = f"""
        mkdir -p /run/carvoice && chown carvoice /run/carvoice && cd /var/lib/carvoice
        exec setpriv --reuid=carvoice --regid=carvoice --init-groups env CARVOICE_RUNTIME_DIR=/run/carvoice \\
            {carvoice} run --audio /tmp/{recording.name} --events json
    """
    ran = booted(root, service, recording)
    assert ran.returncode == 0, ran.stderr
    events = [json.loads(line) for line in ran.stdout.splitlines()]
    assert events[0]["event"] == "ready" and events[0]["profile"] == "Workshop car", events[0]
    assert [e["intent"] for e in events if e["event"] == "intent"] == ["lock"], events
    assert any(e["event"] == "say" and e["file"].startswith("carvoice-speech/") for e in events), events

    listed = booted(root, f"{carvoice} bundle list")  # after a reboot: the bundle is still the active one
    assert listed.returncode == 0 and listed.stdout.startswith("* "), listed.stdout + listed.stderr
    assert "Workshop car 2.0" in listed.stdout.splitlines()[0] and "signed" in listed.stdout


def test_install_unit_refuses_without_keys_or_with_a_bad_key_file(tmp_path):
    needs_root()
    bad = tmp_path / "signers"
    bad.write_text("installer@workshop not-a-key\n")
    for options, complaint in (
        ((), "--allowed-signers FILE"),
        (("--allowed-signers", str(bad)), "PRINCIPAL [OPTIONS] KEYTYPE KEY"),
        (("--allowed-signers", str(allowed_signers(tmp_path)), "--can-interrupt", "40"), "GPIO number"),
    ):
        done = install_unit(tmp_path, *options)
        assert done.returncode != 0 and complaint in done.stderr and done.stdout == "", done.stderr
