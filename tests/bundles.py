"""Helpers for the bundle and flash tests: profile versions, real SSH keys, a unit folder, a daemon."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from carvoice.audio.synth import with_noise_floor
from carvoice.audio.wavfile import write_wav
from carvoice.bundle.install import build
from carvoice.profile.loader import default_profile_dir

SMALL = Path(__file__).parent / "files" / "profiles" / "small"


def profile_version(folder: Path, name: str, source: Path | None = None) -> Path:
    """A copy of a profile (the demo car) under another name: a different profile with a different digest."""
    shutil.copytree(source or default_profile_dir(), folder)
    main = folder / "profile.toml"
    main.write_text(re.sub(r'(?m)^name = ".*"$', f'name = "{name}"', main.read_text(), count=1))
    return folder


def ssh_key(path: Path, comment: str) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True)
    return path


def allowed_signers(path: Path, principal: str, key: Path) -> Path:
    """The file an installer puts on a unit: who may sign bundles for it."""
    public = Path(f"{key}.pub").read_text().split()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'{principal} namespaces="carvoice-bundle" {public[0]} {public[1]}\n')
    return path


def bundle_of(tmp: Path, name: str, version: str, key: Path | None = None, source: Path | None = None) -> Path:
    out = tmp / f"{name.replace(' ', '_')}-{version}.cvb"
    build(profile_version(tmp / f"src-{name}-{version}", name, source), out, version, key)
    return out


def start_daemon(
    tmp: Path,
    profile: Path,
    runtime: Path,
    seconds: int = 60,
    wait: bool = True,
    env: dict[str, str] | None = None,
    stdout: int = subprocess.DEVNULL,
) -> subprocess.Popen:
    """`carvoice run` on a quiet recording paced like a microphone, as the service runs it.

    `env` adds to the environment (NOTIFY_SOCKET, ...); `stdout=subprocess.PIPE` reads its events.
    """
    recording = tmp / "quiet.wav"
    if not recording.exists():
        write_wav(recording, with_noise_floor(np.zeros(16000 * seconds)))
    command = [sys.executable, "-m", "carvoice", "run", "--profile", str(profile), "--audio", str(recording)]
    daemon = subprocess.Popen(
        [*command, "--realtime", "--no-speech", "--events", "json"],
        env=dict(os.environ, CARVOICE_RUNTIME_DIR=str(runtime), **(env or {})),
        stdout=stdout,
        text=True,
    )
    if wait:
        wait_until_ready(daemon, runtime)
    return daemon


def wait_until_ready(daemon: subprocess.Popen, runtime: Path) -> None:
    wait_for(lambda: status_of(runtime) and status_of(runtime)["pid"] == daemon.pid)


def status_of(runtime: Path) -> dict | None:
    try:
        return json.loads((runtime / "status.json").read_text())
    except (OSError, ValueError):
        return None


def wait_for(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")
