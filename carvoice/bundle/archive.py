"""The bundle file: a gzipped tar of manifest.json, its optional signature, and profile/.

Reading never uses tarfile's extraction: every member is checked (regular files only, no
absolute paths, no `..`, nothing beside the manifest that it does not list) and read into
memory, and each file's hash is compared with the manifest before anything touches the disk.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from carvoice.bundle import BundleError
from carvoice.bundle.manifest import Manifest, sha256

MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.sig"
PROFILE = "profile"
MAX_BYTES = 64 * 1024 * 1024  # far above any profile; stops a crafted archive from filling the unit's disk


@dataclass(frozen=True)
class Bundle:
    manifest: Manifest
    manifest_bytes: bytes  # exactly as signed
    signature: bytes | None
    files: dict[str, bytes]  # path inside the profile folder -> contents, every hash verified


def profile_files(folder: Path) -> dict[str, bytes]:
    """Every file of a profile folder, as the daemon's digest sees them; links and devices are refused."""
    files = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise BundleError(f"{path}: only plain files and folders can go into a bundle (this is a link or device)")
        if path.is_file():
            files[relative] = path.read_bytes()
    return files


def pack(out: Path, manifest: Manifest, files: dict[str, bytes], signature: bytes | None = None) -> None:
    """Write the bundle file next to its final name, then rename, so a half-written bundle never exists."""
    members = [(MANIFEST, manifest.to_bytes())]
    if signature is not None:
        members.append((SIGNATURE, signature))
    members += [(f"{PROFILE}/{name}", data) for name, data in sorted(files.items())]
    temporary = out.with_name(f".{out.name}.tmp")
    with tarfile.open(temporary, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    temporary.replace(out)


def read(path: Path) -> Bundle:
    """The bundle's manifest, signature and files, or BundleError naming the file and what is wrong."""
    try:
        with tarfile.open(path, "r:*") as tar:
            contents = _members(path, tar)
    except (OSError, tarfile.TarError, EOFError) as error:
        raise BundleError(f"{path}: not a readable bundle: {error}") from None
    if MANIFEST not in contents:
        raise BundleError(f"{path}: no {MANIFEST} in the bundle")
    manifest_bytes = contents.pop(MANIFEST)
    signature = contents.pop(SIGNATURE, None)
    manifest = Manifest.from_bytes(manifest_bytes, str(path))
    files = {name.removeprefix(f"{PROFILE}/"): data for name, data in contents.items()}
    _check_against_manifest(path, manifest, files)
    return Bundle(manifest, manifest_bytes, signature, files)


def _members(path: Path, tar: tarfile.TarFile) -> dict[str, bytes]:
    contents: dict[str, bytes] = {}
    total = 0
    for member in tar:
        name = member.name
        parts = PurePosixPath(name).parts
        if name.startswith("/") or ".." in parts or "\\" in name:
            raise BundleError(f"{path}: refused: {name!r} would be written outside the profile folder")
        if member.isdir():
            continue
        if not member.isfile():
            raise BundleError(f"{path}: refused: {name!r} is a link or device; bundles hold plain files only")
        if name not in (MANIFEST, SIGNATURE) and (len(parts) < 2 or parts[0] != PROFILE):
            raise BundleError(f"{path}: refused: {name!r} is not part of a bundle (only {MANIFEST} and {PROFILE}/)")
        normal = "/".join(parts)
        if normal in contents:
            raise BundleError(f"{path}: refused: {name!r} appears twice")
        total += member.size
        if total > MAX_BYTES:
            raise BundleError(f"{path}: refused: more than {MAX_BYTES // 2**20} MiB unpacked")
        extracted = tar.extractfile(member)
        contents[normal] = extracted.read() if extracted else b""
    return contents


def _check_against_manifest(path: Path, manifest: Manifest, files: dict[str, bytes]) -> None:
    problems = []
    for name in sorted(set(manifest.files) - set(files)):
        problems.append(f"{PROFILE}/{name} is listed in the manifest but missing")
    for name in sorted(set(files) - set(manifest.files)):
        problems.append(f"{PROFILE}/{name} is not listed in the manifest")
    for name in sorted(set(files) & set(manifest.files)):
        if sha256(files[name]) != manifest.files[name]:
            problems.append(f"{PROFILE}/{name} does not match its sha256 in the manifest")
    if problems:
        raise BundleError(f"{path}: refused, the bundle was changed after it was built: " + "; ".join(problems))
