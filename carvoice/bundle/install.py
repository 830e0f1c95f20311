"""Build a bundle; install one on a unit, switch to it, confirm the daemon took it, else roll back.

The only step that changes what the daemon loads is the rename of the `profile` link, and it
happens after the new version is complete, fsynced and checked with `load_profile`. A power cut
before it leaves the old profile; after it, the new one; leftovers of a cut install are hidden
staging folders that the next install removes.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from carvoice.bundle import BundleError, archive, disk, signing
from carvoice.bundle.archive import MANIFEST, PROFILE, SIGNATURE, Bundle
from carvoice.bundle.manifest import Manifest, check_version, default_version, sha256
from carvoice.bundle.unit import STAGING_PREFIX, TRASH_PREFIX, Daemon, Unit
from carvoice.profile.loader import files_digest, load_profile, profile_digest
from carvoice.profile.model import ProfileError

Say = Callable[[str], None]


def _quiet(message: str) -> None:
    pass


def build(profile_dir: Path, out: Path, version: str | None = None, key: Path | None = None) -> Manifest:
    """A bundle of a profile folder that passes `load_profile`; a broken profile never becomes a bundle."""
    try:
        profile = load_profile(profile_dir)
    except ProfileError as error:
        raise BundleError(f"{profile_dir}: not bundled, the profile has problems:\n{error}") from None
    files = archive.profile_files(profile_dir)
    manifest = Manifest(
        name=profile.name,
        version=check_version(version) if version else default_version(),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        profile_digest=files_digest(files),
        files={name: sha256(data) for name, data in files.items()},
    )
    data = manifest.to_bytes()
    archive.pack(out, manifest, files, signing.sign(data, key) if key else None)
    return manifest


def verify(bundle_path: Path, unit: Unit, allowed_signers: Path | None = None, say: Say = _quiet) -> Bundle:
    """The bundle's hashes and signature checked against the unit's policy, or BundleError."""
    bundle = archive.read(bundle_path)
    signers = allowed_signers or unit.allowed_signers
    if signers.is_file():
        if bundle.signature is None:
            raise BundleError(
                f"{bundle_path}: refused: not signed, and this unit accepts only bundles signed by "
                f"a key in {signers} (carvoice bundle build --sign KEY)"
            )
        principal = signing.verify(bundle.manifest_bytes, bundle.signature, signers, str(bundle_path))
        say(f"signature good: signed by {principal}")
    elif allowed_signers is not None:
        raise BundleError(f"{allowed_signers}: no such allowed-signers file")
    else:
        say(f"signature not checked: {signers} does not exist, so this unit accepts unsigned bundles")
    if files_digest(bundle.files) != bundle.manifest.profile_digest:
        raise BundleError(f"{bundle_path}: refused: the manifest's profile_digest does not match its files")
    return bundle


def install(
    bundle_path: Path,
    unit: Unit,
    allowed_signers: Path | None = None,
    timeout: float = 30.0,
    say: Say = _quiet,
    keep: int = 5,
) -> Path:
    """Verify, unpack beside the current profile, switch, confirm with the daemon; returns the new folder.

    Afterwards only the `keep` newest versions stay (the active and the previous one always do).
    """
    bundle = verify(bundle_path, unit, allowed_signers, say)
    manifest = bundle.manifest
    with _locked(unit):
        _clear_leftovers(unit)
        current = unit.target_of(unit.active)
        before = unit.target_of(unit.previous)
        folder = unit.profiles / manifest.install_name
        if folder.is_dir() and profile_digest(folder / PROFILE) != manifest.profile_digest:
            if folder.resolve() == current:
                raise BundleError(
                    f"{folder}: the active profile's files were changed on the unit; "
                    "install another version first, or restore them"
                )
            say(f"{folder} was changed on the unit; unpacking it again")
            _discard(folder)
        if folder.is_dir():
            say(f"already unpacked in {folder}")
        else:
            _unpack(bundle, folder, bundle_path)
            say(f"unpacked and checked in {folder}")
        if current == folder.resolve():
            say(f"{manifest.name} {manifest.version} is already the active profile")
            _catch_up(unit, manifest.profile_digest, timeout, say)
            _prune(unit, keep, say)
            return folder
        _activate(unit, folder, current)
        say(f"switched {unit.active} -> {folder / PROFILE}")
        problem = _confirm(unit, manifest.profile_digest, timeout, say)
        if problem is not None:
            _undo(unit, current, before)
            raise BundleError(
                f"{bundle_path}: {manifest.name} {manifest.version} did not come up ({problem}); "
                f"rolled back to {current or 'no profile'}"
            )
        _prune(unit, keep, say)
    return folder


def rollback(unit: Unit, timeout: float = 30.0, say: Say = _quiet) -> Path:
    """Make the previous profile active again (and the current one the previous)."""
    with _locked(unit):
        current, previous = unit.target_of(unit.active), unit.target_of(unit.previous)
        if previous is None:
            raise BundleError(f"{unit.previous}: no previous profile to roll back to")
        try:
            check_as_the_daemon(previous / PROFILE)
        except BundleError as error:
            raise BundleError(f"{previous / PROFILE}: not rolled back, {error}") from None
        _activate(unit, previous, current)
        say(f"switched {unit.active} -> {previous / PROFILE}")
        problem = _confirm(unit, profile_digest(previous / PROFILE), timeout, say)
        if problem is not None:
            _undo(unit, current, previous)
            raise BundleError(f"{previous}: did not come up ({problem}); {current} stays active")
    return previous


def check_as_the_daemon(folder: Path) -> None:
    """What `carvoice run` does with a profile before it is ready: load and check it, build its recogniser."""
    try:
        profile = load_profile(folder)
    except ProfileError as error:
        raise BundleError(f"the profile would not load on this unit:\n{error}") from None
    from carvoice.recognise.engine import engine_for

    try:
        engine_for(profile)
    except Exception as error:  # whatever PocketSphinx raises, the daemon would fail the same way
        raise BundleError(f"the recogniser cannot be built from the profile: {error}") from None


def _unpack(bundle: Bundle, folder: Path, source: Path) -> None:
    """Write the version into a hidden staging folder, check it like the daemon, then rename it into place."""
    staging = folder.with_name(f"{STAGING_PREFIX}{folder.name}")
    disk.make_dir(staging)
    folders = {PurePosixPath(PROFILE)} | {p for n in bundle.files for p in PurePosixPath(PROFILE, n).parents[:-1]}
    for directory in sorted(folders, key=lambda p: len(p.parts)):
        disk.make_dir(staging / directory)
    for name, data in sorted(bundle.files.items()):
        disk.write(staging / PROFILE / name, data)
    disk.write(staging / MANIFEST, bundle.manifest_bytes)
    if bundle.signature is not None:
        disk.write(staging / SIGNATURE, bundle.signature)
    for directory in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        disk.sync_dir(staging / directory)
    disk.sync_dir(staging)
    try:
        check_as_the_daemon(staging / PROFILE)
    except BundleError as error:
        disk.remove(staging)
        raise BundleError(f"{source}: refused, {error}") from None
    if profile_digest(staging / PROFILE) != bundle.manifest.profile_digest:
        disk.remove(staging)
        raise BundleError(f"{source}: refused: the unpacked files do not read back as written ({staging})")
    disk.rename(staging, folder)


def _clear_leftovers(unit: Unit) -> None:
    """Half-unpacked and half-removed versions of an install that lost power; never active."""
    for leftover in [*unit.profiles.glob(f"{STAGING_PREFIX}*"), *unit.profiles.glob(f"{TRASH_PREFIX}*")]:
        disk.remove(leftover)


def _discard(folder: Path) -> None:
    """Remove a version folder: renamed away first, so that a cut never leaves a half-removed version."""
    trash = folder.with_name(f"{TRASH_PREFIX}{folder.name}")
    disk.rename(folder, trash)
    disk.remove(trash)


def _prune(unit: Unit, keep: int, say: Say) -> None:
    """Remove the oldest versions beyond `keep`, never the active or the previous one."""
    entries = unit.installed()
    kept = sum(e.active or e.previous for e in entries)
    others = sorted(
        (e for e in entries if not (e.active or e.previous)), key=lambda e: e.folder.stat().st_mtime, reverse=True
    )
    for entry in others[max(keep - kept, 0) :]:
        _discard(entry.folder)
        say(f"removed the old version {entry.folder.name}")


def _activate(unit: Unit, folder: Path, current: Path | None) -> None:
    """Make `folder` active and `current` the previous one.

    Installing, `previous` moves first (a cut between the two renames leaves both on the old version,
    and the new one is still unpacked for the next attempt). Rolling back (`folder` is the previous
    one), `profile` moves first, so that the version to return to is never lost.
    """
    links = [(unit.previous, current), (unit.active, folder)]
    if folder == unit.target_of(unit.previous):
        links.reverse()
    for link, target in links:
        if target is not None:
            disk.point(link, unit.link_target(target.name))


def _undo(unit: Unit, current: Path | None, before: Path | None) -> None:
    """Put both links back as they were and ask the daemon to load the old profile again.

    Not waited for: a daemon that did not answer before will not answer now, and one that reloads late
    loads whatever the link points at by then, the old profile.
    """
    if current is None:
        disk.remove(unit.active)
    else:
        disk.point(unit.active, unit.link_target(current.name))
    if before is not None:
        disk.point(unit.previous, unit.link_target(before.name))
    daemon = Daemon(unit.runtime_dir)
    if current is not None and (pid := daemon.pid()) is not None:
        daemon.reload(pid)


def _catch_up(unit: Unit, digest: str, timeout: float, say: Say) -> None:
    """The link is already switched (an earlier install lost power before the reload): have the daemon load it."""
    status = Daemon(unit.runtime_dir).status()
    if status is None or status.get("profile_digest") == digest:
        return
    problem = _confirm(unit, digest, timeout, say)
    if problem is not None:
        raise BundleError(
            f"{unit.active} is switched to it, but the daemon does not run it ({problem}); "
            "`carvoice bundle rollback` returns to the previous profile"
        )


def _confirm(unit: Unit, digest: str, timeout: float, say: Say) -> str | None:
    """Ask a running daemon to reload and wait until it runs `digest`; None when it did (or none runs)."""
    daemon = Daemon(unit.runtime_dir)
    pid = daemon.pid()
    if pid is None:
        say(
            f"no running daemon (no live pid in {unit.runtime_dir / 'status.json'}); it loads the new profile "
            "when it starts"
        )
        return None
    asked = daemon.reload(pid)
    problem = daemon.wait_for(pid, digest, asked, timeout)
    if problem is None:
        say(f"daemon (pid {pid}) reloaded and reports the new profile")
    return problem


@contextmanager
def _locked(unit: Unit) -> Iterator[None]:
    """One install or rollback at a time per unit."""
    unit.profiles.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(unit.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BundleError(f"{unit.lock_file}: another install or rollback is running on this unit") from None
        yield
    finally:
        os.close(descriptor)
