"""The head unit's layout under a root folder, and the running daemon as seen from its status file.

    ROOT/etc/carvoice/profile          -> profiles/<name>-<version>-<digest>/profile   (what the daemon loads)
    ROOT/etc/carvoice/previous         -> the one active before it                     (what rollback returns to)
    ROOT/etc/carvoice/profiles/<...>/  manifest.json, manifest.json.sig, profile/
    ROOT/etc/carvoice/allowed_signers  keys whose bundles this unit accepts (ssh-keygen -Y's format)

Links are relative, so a unit prepared under any --root works the same once it is the real /.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from carvoice.bundle import BundleError
from carvoice.bundle.archive import MANIFEST, PROFILE, SIGNATURE
from carvoice.bundle.manifest import Manifest
from carvoice.service import DEFAULT_RUNTIME_DIR, read_status

PROFILES = "profiles"
STAGING_PREFIX = ".staging-"  # a version being unpacked
TRASH_PREFIX = ".trash-"  # a version being removed


def default_root() -> Path:
    """$CARVOICE_ROOT lets a test or a chroot-like image stand in for the unit's /."""
    return Path(os.environ.get("CARVOICE_ROOT") or "/")


@dataclass(frozen=True)
class Installed:
    """One installed profile version, as `bundle list` shows it."""

    folder: Path
    manifest: Manifest | None
    signed: bool
    active: bool
    previous: bool


class Unit:
    """Paths on one head unit (or a folder standing in for one)."""

    def __init__(self, root: Path | None = None, runtime_dir: Path | None = None) -> None:
        self.root = root or default_root()
        self.etc = self.root / "etc" / "carvoice"
        self.profiles = self.etc / PROFILES
        self.active = self.etc / "profile"
        self.previous = self.etc / "previous"
        self.allowed_signers = self.etc / "allowed_signers"
        self.lock_file = self.etc / ".install.lock"
        if runtime_dir is None:
            from_env = os.environ.get("CARVOICE_RUNTIME_DIR")
            runtime_dir = Path(from_env) if from_env else self.root / DEFAULT_RUNTIME_DIR.relative_to("/")
        self.runtime_dir = runtime_dir

    @staticmethod
    def link_target(folder_name: str) -> str:
        """What the `profile` link holds for an installed version: relative to etc/carvoice."""
        return f"{PROFILES}/{folder_name}/{PROFILE}"

    def target_of(self, link: Path) -> Path | None:
        """The installed version folder a link points into, or None when the link is missing or dangling."""
        if not link.is_symlink():
            if link.exists():
                raise BundleError(
                    f"{link} is a folder, not a link: move it into {self.profiles}/NAME/profile "
                    f"and make {link.name} a link to it (bundle install manages the link)"
                )
            return None
        resolved = link.resolve()
        return resolved.parent if resolved.is_dir() else None

    def installed(self) -> list[Installed]:
        active, previous = self.target_of(self.active), self.target_of(self.previous)
        found: list[Installed] = []
        if not self.profiles.is_dir():
            return found
        for folder in sorted(self.profiles.iterdir()):
            if folder.name.startswith(".") or not folder.is_dir():
                continue
            try:
                manifest = Manifest.from_bytes((folder / MANIFEST).read_bytes(), str(folder / MANIFEST))
            except (OSError, BundleError):
                manifest = None
            resolved = folder.resolve()
            found.append(
                Installed(
                    folder,
                    manifest,
                    (folder / SIGNATURE).is_file(),
                    active is not None and active == resolved,
                    previous is not None and previous == resolved,
                )
            )
        return found


class Daemon:
    """The carvoice service on the unit, found through the status file it writes."""

    def __init__(self, runtime_dir: Path) -> None:
        self.runtime_dir = runtime_dir

    def status(self) -> dict[str, Any] | None:
        return read_status(self.runtime_dir)

    def pid(self) -> int | None:
        """The daemon's pid when it is running; a stale status file of a dead daemon gives None."""
        status = self.status()
        pid = status.get("pid") if status else None
        if not isinstance(pid, int) or pid <= 0:
            return None
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        # the pid may have been reused by another program since: never signal that one
        return pid if b"carvoice" in command else None

    def reload(self, pid: int) -> float:
        """Ask for a reload (SIGHUP, what `systemctl reload` sends); returns when it was asked."""
        asked = time.time()
        os.kill(pid, signal.SIGHUP)
        return asked

    def wait_for(self, pid: int, digest: str, asked: float, timeout: float) -> str | None:
        """None once the daemon reports `digest` running after `asked`; otherwise why not."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            status = self.status()
            if status and status.get("pid") == pid and float(status.get("since", 0)) >= asked:
                if status.get("profile_digest") == digest and not status.get("reload_error"):
                    return None
                if status.get("reload_error"):
                    return f"the daemon refused it: {status['reload_error']}"
                last = f"the daemon reports profile {status.get('profile')} instead"
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return f"the daemon (pid {pid}) exited"
            time.sleep(0.05)
        return f"{last} after {timeout:g} s ({self.runtime_dir / 'status.json'})"
