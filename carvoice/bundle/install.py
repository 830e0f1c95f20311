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
from carvoice.bundle.manifest import Manifest, check_version, compare_versions, default_version, sha256
from carvoice.bundle.unit import STAGING_PREFIX, TRASH_PREFIX, Daemon, Unit
from carvoice.check import load_profile
from carvoice.profile.loader import files_digest, profile_digest
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
    payload = archive.payload_of(manifest, files)
    archive.pack(out, payload, signing.sign(payload, key) if key else None)
    return manifest


def verify(
    bundle_path: Path,
    unit: Unit,
    allowed_signers: Path | None = None,
    say: Say = _quiet,
    allow_unsigned: bool = False,
) -> Bundle:
    """The bundle's signature checked against the unit's policy, then its hashes, or BundleError.

    The signature is checked over the bundle's bytes before any of them is decompressed or parsed.
    Without allowed_signers nothing is accepted unless `allow_unsigned` (an installer's workbench).
    """
    envelope = archive.open_envelope(bundle_path)
    signers = signers_file(unit, allowed_signers)
    if signers is not None:
        if envelope.signature is None:
            raise BundleError(
                f"{bundle_path}: refused: not signed, and this unit accepts only bundles signed by "
                f"a key in {signers} (carvoice bundle build --sign KEY)"
            )
        with envelope.payload() as payload:
            principal = signing.verify(payload, envelope.signature, signers, str(bundle_path))
        say(f"signature good: signed by {principal}")
    elif allow_unsigned:
        say(f"signature not checked: no {unit.allowed_signers}, and --allow-unsigned was given")
    else:
        raise BundleError(
            f"{bundle_path}: refused: this unit has no {unit.allowed_signers}, so it cannot tell who made the "
            "bundle; add the installers' keys there, or give --allow-unsigned on a workbench"
        )
    bundle = archive.read(envelope)
    if files_digest(bundle.files) != bundle.manifest.profile_digest:
        raise BundleError(f"{bundle_path}: refused: the manifest's profile_digest does not match its files")
    return bundle


def signers_file(unit: Unit, given: Path | None = None) -> Path | None:
    """The allowed-signers file to check against: None only when the unit has none at all.

    One that exists in any broken form (a folder, a dangling link, unreadable, no key in it) must not
    quietly turn the check off: every bundle is refused until it is fixed.
    """
    path = given or unit.allowed_signers
    if given is None and not os.path.lexists(path):
        return None
    problem = ""
    if path.is_symlink() and not path.exists():
        problem = "is a link to nothing"
    elif not path.exists():
        problem = "does not exist"
    elif not path.is_file():
        problem = "is not a file"
    else:
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError as error:
            problem = f"cannot be read ({error.strerror})"
        else:
            if not [line for line in lines if line.strip() and not line.lstrip().startswith("#")]:
                problem = "holds no key"
    if problem:
        raise BundleError(f"{path} {problem}: every bundle is refused until it lists the installers' keys")
    return path


def install(
    bundle_path: Path,
    unit: Unit,
    allowed_signers: Path | None = None,
    timeout: float = 30.0,
    say: Say = _quiet,
    keep: int = 5,
    allow_unsigned: bool = False,
    allow_downgrade: bool = False,
) -> Path:
    """Verify, unpack beside the current profile, switch, confirm with the daemon; returns the new folder.

    A version older than the active one is refused unless `allow_downgrade` (a deliberate local act,
    like `rollback`); the same version again changes nothing and succeeds. Afterwards only the `keep`
    newest versions stay (the active and the previous one always do).
    """
    bundle = verify(bundle_path, unit, allowed_signers, say, allow_unsigned)
    manifest = bundle.manifest
    with _locked(unit):
        _clear_leftovers(unit)
        current = unit.target_of(unit.active)
        before = unit.target_of(unit.previous)
        _check_version(bundle_path, manifest, current, allow_downgrade, say)
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


def _check_version(path: Path, manifest: Manifest, current: Path | None, allow_downgrade: bool, say: Say) -> None:
    """Versions only go up: an older signed bundle could bring back a bug a newer one fixed."""
    try:
        active = Manifest.from_bytes((current / MANIFEST).read_bytes(), str(current)) if current else None
    except (OSError, BundleError):
        active = None  # no readable manifest: a profile put there by hand, nothing to compare with
    if active is None:
        return
    order = compare_versions(manifest.version, active.version)
    if order == 0 and manifest.profile_digest != active.profile_digest:
        raise BundleError(
            f"{path}: refused: version {manifest.version} is already installed with other files "
            f"({active.name}); build the new files as a new version"
        )
    if order < 0:
        if not allow_downgrade:
            raise BundleError(
                f"{path}: refused: {manifest.name} {manifest.version} is older than the active "
                f"{active.name} {active.version}; to go back on purpose, run `carvoice bundle rollback` "
                "or install with --allow-downgrade on the unit"
            )
        say(f"downgrading from {active.name} {active.version} to {manifest.version} (--allow-downgrade)")


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
    except Exception as error:  # whatever else stops the loader stops the daemon too
        raise BundleError(f"the profile would not load on this unit: {type(error).__name__}: {error}") from None
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
