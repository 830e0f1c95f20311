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
import threading
import time
from pathlib import Path
from typing import Any

from carvoice import events
from carvoice.agent import Agent
from carvoice.check import load_profile
from carvoice.profile.loader import profile_digest
from carvoice.profile.model import Profile, ProfileError
from carvoice.recognise.engine import SpeechEngine, engine_for

DEFAULT_RUNTIME_DIR = Path("/run/carvoice")


class Stop(Exception):
    """SIGTERM: leave the audio loop cleanly (Ctrl-C stays Python's KeyboardInterrupt, which closes the agent too)."""


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


class Signals:
    """SIGHUP and SIGTERM as flags, from the first moment of `carvoice run` to its last.

    Installed before the profile is loaded, so that a reload asked for during start-up is not
    the default action (which ends the process); at the end SIGHUP is ignored, since Python puts
    back the default action of every signal it handled while it shuts down.
    """

    def __init__(self) -> None:
        self.reload = False
        self.stop = False

    def install(self) -> Signals:
        signal.signal(signal.SIGHUP, self._on_hup)
        signal.signal(signal.SIGTERM, self._on_stop)
        return self

    def _on_hup(self, signum: int, frame: Any) -> None:
        self.reload = True

    def _on_stop(self, signum: int, frame: Any) -> None:
        self.stop = True

    @staticmethod
    def ignore() -> None:
        """Leaving: whatever arrives now (a reload, another stop) must not kill the process half-way out."""
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


class _Reload(threading.Thread):
    """Loads the profile and builds its recogniser beside the audio loop, which keeps listening meanwhile."""

    def __init__(self, path: Path) -> None:
        super().__init__(name="carvoice-reload", daemon=True)
        self.path = path
        self.loaded: tuple[Path, Profile, str, SpeechEngine] | None = None
        self.error = ""

    def run(self) -> None:
        try:
            resolved = self.path.resolve()  # an installer may have switched a symlink
            profile = load_profile(resolved)
            self.loaded = (resolved, profile, profile_digest(resolved), engine_for(profile))
        except ProfileError as error:
            self.error = f"reload refused, old profile kept: {error}"
        except Exception as error:  # the old profile must keep running whatever went wrong
            self.error = f"reload failed, old profile kept: {type(error).__name__}: {error}"


class Service:
    """Hooks the agent's audio loop to systemd and to signals.

    A reload (SIGHUP) loads the new profile on a thread of its own and switches to it at the next
    moment the agent is neither hearing a command nor waiting for an answer, so no command is lost
    to it; signals that arrive meanwhile make one more reload at most, however many they are.
    """

    def __init__(
        self, agent: Agent, profile_path: Path, directory: Path | None = None, signals: Signals | None = None
    ) -> None:
        self.agent = agent
        self.profile_path = profile_path
        self.running = agent.profile.root.resolve()  # where the running profile was loaded from
        self.digest = profile_digest(self.running)
        self.directory = directory or runtime_dir()
        self.signals = signals or Signals()
        self.reloads = 0  # reloads applied or refused, for the status file
        self._job: _Reload | None = None
        self._last_watchdog = 0.0
        usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
        self._watchdog_interval = usec / 2e6 if usec else None
        self._reload_error: str | None = None

    def ready(self) -> None:
        self.write_status()
        sd_notify(f"READY=1\nSTATUS=listening with profile {self.agent.profile.name}")

    def tick(self) -> None:
        """Once per audio frame: proves the loop is alive, applies reloads, honours stop."""
        now = time.monotonic()
        if self._watchdog_interval and now - self._last_watchdog >= self._watchdog_interval:
            sd_notify("WATCHDOG=1")
            self._last_watchdog = now
        if self.signals.stop:
            raise Stop()
        if self.signals.reload and self._job is None:
            self.signals.reload = False
            sd_notify(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}")
            self._job = _Reload(self.profile_path)
            self._job.start()
        if self._job is not None and not self._job.is_alive() and not self.agent.busy:
            job, self._job = self._job, None
            self._apply(job)

    def _apply(self, job: _Reload) -> None:
        self.reloads += 1
        if job.loaded is None:
            self._reload_error = job.error
            self.agent.emit(events.Error(self.agent.now, message=job.error, source="profile"))
        else:
            resolved, profile, digest, engine = job.loaded
            self.agent.replace_profile(profile, engine)
            self.running, self.digest = resolved, digest
            self._reload_error = None
            message = f"profile reloaded: {profile.name} ({resolved})"
            self.agent.emit(
                events.Ready(self.agent.now, profile=profile.name, wake_phrase=profile.wake.phrase, source=message)
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
            "reloads": self.reloads,
        }
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            temporary = self.directory / f".status.{os.getpid()}.tmp"
            temporary.write_text(json.dumps(status, indent=2))
            os.replace(temporary, self.directory / "status.json")
        except OSError:
            pass  # no runtime directory (a developer's machine): the service still runs
