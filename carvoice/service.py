"""Running as a system service: systemd readiness and watchdog, reload on SIGHUP, a status file.

The status file (`$CARVOICE_RUNTIME_DIR/status.json`, default /run/carvoice) says which
profile is running, exactly (its folder and a digest of its files), so that an installer
can tell whether a newly installed profile came up.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

from carvoice import events
from carvoice.agent import Agent
from carvoice.profile.loader import load_profile, profile_digest
from carvoice.profile.model import ProfileError

DEFAULT_RUNTIME_DIR = Path("/run/carvoice")


class Stop(Exception):
    """SIGTERM or SIGINT: leave the audio loop cleanly."""


def sd_notify(message: str) -> bool:
    """Tell systemd (Type=notify) something; a no-op when not started by systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(message.encode(), address)
        except OSError:
            return False
    return True


def runtime_dir() -> Path:
    return Path(os.environ.get("CARVOICE_RUNTIME_DIR", DEFAULT_RUNTIME_DIR))


def read_status(directory: Path | None = None) -> dict[str, Any] | None:
    try:
        return json.loads(((directory or runtime_dir()) / "status.json").read_text())
    except (OSError, ValueError):
        return None


class Service:
    """Hooks the agent's audio loop to systemd and to signals."""

    def __init__(self, agent: Agent, profile_path: Path, directory: Path | None = None) -> None:
        self.agent = agent
        self.profile_path = profile_path
        self.running = agent.profile.root.resolve()  # where the running profile was loaded from
        self.digest = profile_digest(self.running)
        self.directory = directory or runtime_dir()
        self._reload_requested = False
        self._stop_requested = False
        self._last_watchdog = 0.0
        usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
        self._watchdog_interval = usec / 2e6 if usec else None
        self._reload_error: str | None = None

    def install(self) -> None:
        signal.signal(signal.SIGHUP, self._on_hup)
        signal.signal(signal.SIGTERM, self._on_stop)
        self.agent.tick = self.tick

    def _on_hup(self, signum: int, frame: Any) -> None:
        self._reload_requested = True

    def _on_stop(self, signum: int, frame: Any) -> None:
        self._stop_requested = True

    def ready(self) -> None:
        self.write_status()
        sd_notify(f"READY=1\nSTATUS=listening with profile {self.agent.profile.name}")

    def tick(self) -> None:
        """Once per audio frame: proves the loop is alive, applies reloads, honours stop."""
        now = time.monotonic()
        if self._watchdog_interval and now - self._last_watchdog >= self._watchdog_interval:
            sd_notify("WATCHDOG=1")
            self._last_watchdog = now
        if self._stop_requested:
            raise Stop()
        if self._reload_requested:
            self._reload_requested = False
            self.reload()

    def reload(self) -> None:
        """Load the profile again (the path may now point elsewhere); keep the old one if it is broken."""
        sd_notify(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}")
        try:
            resolved = self.profile_path.resolve()  # an installer may have switched a symlink
            profile = load_profile(resolved)
            digest = profile_digest(resolved)
            self.agent.replace_profile(profile)
            self.running, self.digest = resolved, digest
            self._reload_error = None
            message = f"profile reloaded: {profile.name} ({resolved})"
            self.agent.emit(
                events.Ready(self.agent.now, profile=profile.name, wake_phrase=profile.wake.phrase, source=message)
            )
        except ProfileError as error:
            self._reload_error = str(error)
            self.agent.emit(
                events.Error(self.agent.now, message=f"reload refused, old profile kept: {error}", source="profile")
            )
        except Exception as error:  # the old profile must keep running whatever went wrong
            self._reload_error = f"{type(error).__name__}: {error}"
            self.agent.emit(
                events.Error(self.agent.now, message=f"reload failed, old profile kept: {error}", source="profile")
            )
        self.write_status()
        sd_notify("READY=1")

    def write_status(self) -> None:
        profile = self.agent.profile
        status = {
            "pid": os.getpid(),
            "state": "listening",
            "profile": str(self.running),
            "profile_name": profile.name,
            "profile_digest": self.digest,
            "since": time.time(),
            "reload_error": self._reload_error,
        }
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            temporary = self.directory / f".status.{os.getpid()}.tmp"
            temporary.write_text(json.dumps(status, indent=2))
            os.replace(temporary, self.directory / "status.json")
        except OSError:
            pass  # no runtime directory (a developer's machine): the service still runs
