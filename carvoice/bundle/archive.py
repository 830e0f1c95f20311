"""The bundle file: a signed envelope around a gzipped tar of manifest.json and profile/.

    carvoice-bundle/2\\n
    signature N\\n            N bytes of `ssh-keygen -Y sign` output follow (0: unsigned)
    <signature>
    <payload>                a .tar.gz; the signature is over exactly these bytes

The signature is checked over the payload's bytes before any of it is decompressed or parsed,
so a hostile bundle from someone without a key never reaches the tar reader. That reader is
our own, streaming, and refuses as it goes what no bundle needs: headers (pax records, GNU long
names) over MAX_HEADER_BYTES, names over MAX_NAME_BYTES, more than MAX_ENTRIES entries
(folders too), more than MAX_BYTES of files; folders that claim data, links, devices, absolute
paths, `..` and control characters in names. Every
file's hash is compared with the manifest before anything touches the disk.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol

from carvoice.bundle import BundleError
from carvoice.bundle.manifest import Manifest, sha256

MAGIC = b"carvoice-bundle/2\n"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.sig"  # where an installed version keeps the signature it came with
PROFILE = "profile"
MAX_SIGNATURE_BYTES = 16 * 1024  # an SSH signature is under 1 KiB
MAX_PAYLOAD_BYTES = 64 * 1024 * 1024  # compressed
MAX_BYTES = 64 * 1024 * 1024  # of files, unpacked: far above any profile, and the unit's disk is small
MAX_ENTRIES = 1000  # files and folders
MAX_NAME_BYTES = 512
MAX_HEADER_BYTES = 64 * 1024  # one pax header or GNU long name
_BLOCK = 512


@dataclass(frozen=True)
class Bundle:
    manifest: Manifest
    manifest_bytes: bytes
    signature: bytes | None
    files: dict[str, bytes]  # path inside the profile folder -> contents, every hash verified


@dataclass(frozen=True)
class Envelope:
    """The bundle file before its payload is read: who signed it, and where the signed bytes are."""

    path: Path
    signature: bytes | None
    offset: int  # where the payload starts

    def payload(self) -> BinaryIO:
        """The payload as a file positioned at its first byte (a child process can read it as stdin)."""
        stream = self.path.open("rb")
        stream.seek(self.offset)
        return stream


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


def payload_of(manifest: Manifest, files: dict[str, bytes]) -> bytes:
    """The gzipped tar that is signed: manifest.json, then profile/ in name order."""
    members = [(MANIFEST, manifest.to_bytes())] + [(f"{PROFILE}/{n}", d) for n, d in sorted(files.items())]
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped, tarfile.open(
        fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT
    ) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def pack(out: Path, payload: bytes, signature: bytes | None = None) -> None:
    """Write the bundle file next to its final name, then rename, so a half-written bundle never exists."""
    signature = signature or b""
    temporary = out.with_name(f".{out.name}.tmp")
    temporary.write_bytes(MAGIC + f"signature {len(signature)}\n".encode() + signature + payload)
    temporary.replace(out)


def open_envelope(path: Path) -> Envelope:
    """The envelope of a bundle file, read with bounded reads only; BundleError when it is not one."""
    try:
        size = path.stat().st_size
        with path.open("rb") as stream:
            magic = stream.read(len(MAGIC))
            line = stream.readline(64)
            if magic != MAGIC or not line.startswith(b"signature ") or not line.endswith(b"\n"):
                raise BundleError(f"{path}: not a carvoice bundle (carvoice bundle build makes them)")
            try:
                length = int(line[len(b"signature ") : -1])
            except ValueError:
                raise BundleError(f"{path}: not a carvoice bundle: bad signature length") from None
            if not 0 <= length <= MAX_SIGNATURE_BYTES:
                raise BundleError(f"{path}: refused: a signature of {length} bytes (at most {MAX_SIGNATURE_BYTES})")
            signature = stream.read(length)
            offset = stream.tell()
    except OSError as error:
        raise BundleError(f"{path}: cannot read the bundle: {error}") from None
    if len(signature) != length:
        raise BundleError(f"{path}: the bundle is cut short (in its signature)")
    if size - offset > MAX_PAYLOAD_BYTES:
        raise BundleError(f"{path}: refused: {size - offset} bytes, more than {MAX_PAYLOAD_BYTES // 2**20} MiB")
    return Envelope(path, signature or None, offset)


def read(envelope: Envelope) -> Bundle:
    """The bundle's manifest and files, unpacked in memory within the limits, or BundleError saying why."""
    path = envelope.path
    try:
        with envelope.payload() as raw, gzip.GzipFile(fileobj=raw, mode="rb") as stream:
            contents = dict(_entries(path, stream))
    except (OSError, EOFError, zlib.error) as error:
        raise BundleError(f"{path}: not a readable bundle: {error}") from None
    if MANIFEST not in contents:
        raise BundleError(f"{path}: no {MANIFEST} in the bundle")
    manifest_bytes = contents.pop(MANIFEST)
    manifest = Manifest.from_bytes(manifest_bytes, str(path))
    files = {name.removeprefix(f"{PROFILE}/"): data for name, data in contents.items()}
    _check_against_manifest(path, manifest, files)
    return Bundle(manifest, manifest_bytes, envelope.signature, files)


class _Readable(Protocol):
    """A file opened for reading bytes: the bundle's payload, or the gzip stream over it."""

    def read(self, size: int = -1, /) -> bytes: ...


def _entries(path: Path, stream: _Readable) -> Iterator[tuple[str, bytes]]:
    """(name, contents) of each file in a tar stream, checked and bounded as it is read."""
    entries = total = 0
    pending_name: str | None = None  # from a pax header or GNU long name, for the next entry
    seen: set[str] = set()
    while True:
        header = _exactly(path, stream, _BLOCK)
        if header == bytes(_BLOCK):
            return  # the end-of-archive marker
        entries += 1
        if entries > MAX_ENTRIES:
            raise BundleError(f"{path}: refused: more than {MAX_ENTRIES} entries")
        _check_header_sum(path, header)
        kind, size = header[156:157], _size(path, header)
        name = pending_name or _header_name(header)
        pending_name = None
        if kind in (b"x", b"g", b"L"):
            if size > MAX_HEADER_BYTES:
                raise BundleError(f"{path}: refused: a {size}-byte tar header (at most {MAX_HEADER_BYTES})")
            data = _read_data(path, stream, size)
            if kind == b"x":
                pending_name = _pax_path(path, data)
            elif kind == b"L":
                pending_name = data.split(b"\0", 1)[0].decode("utf-8", "replace")
            continue
        if len(name.encode()) > MAX_NAME_BYTES:
            raise BundleError(f"{path}: refused: a name of more than {MAX_NAME_BYTES} bytes")
        if any(ord(char) < 0x20 or char == "\x7f" for char in name):  # a NUL cannot even be a file name
            raise BundleError(f"{path}: refused: {name!r} has a control character in its name")
        parts = PurePosixPath(name).parts
        if name.startswith("/") or ".." in parts or "\\" in name:
            raise BundleError(f"{path}: refused: {name!r} would be written outside the profile folder")
        if kind == b"5":
            if size:  # tar never writes data for a folder: unread, it would be held in memory whole
                raise BundleError(f"{path}: refused: the folder entry {name!r} claims {size} bytes of data")
            continue
        if kind not in (b"0", b"\0"):
            raise BundleError(f"{path}: refused: {name!r} is a link or device; bundles hold plain files only")
        if name != MANIFEST and (len(parts) < 2 or parts[0] != PROFILE):
            raise BundleError(f"{path}: refused: {name!r} is not part of a bundle (only {MANIFEST} and {PROFILE}/)")
        normal = "/".join(parts)
        if normal in seen:
            raise BundleError(f"{path}: refused: {name!r} appears twice")
        seen.add(normal)
        total += size
        if total > MAX_BYTES:
            raise BundleError(f"{path}: refused: more than {MAX_BYTES // 2**20} MiB unpacked")
        yield normal, _read_data(path, stream, size)


def _exactly(path: Path, stream: _Readable, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise BundleError(f"{path}: the bundle is cut short")
    return data


def _read_data(path: Path, stream: _Readable, size: int) -> bytes:
    """An entry's data and the padding to the next 512-byte block."""
    data = _exactly(path, stream, size)
    _exactly(path, stream, -size % _BLOCK)
    return data


def _size(path: Path, header: bytes) -> int:
    field = header[124:136]
    if field[0] & 0x80:  # base-256: only for sizes far beyond any limit here
        raise BundleError(f"{path}: refused: a tar entry of more than 8 GiB")
    try:
        return int(field.split(b"\0", 1)[0].strip() or b"0", 8)
    except ValueError:
        raise BundleError(f"{path}: not a readable bundle: a tar header with a bad size") from None


def _header_name(header: bytes) -> str:
    name = header[0:100].split(b"\0", 1)[0]
    prefix = header[345:500].split(b"\0", 1)[0] if header[257:262] == b"ustar" else b""
    return (prefix + b"/" + name if prefix else name).decode("utf-8", "replace")


def _check_header_sum(path: Path, header: bytes) -> None:
    stored = header[148:156].split(b"\0", 1)[0].strip()
    computed = sum(header[:148]) + 8 * 32 + sum(header[156:])
    try:
        intact = int(stored, 8) == computed
    except ValueError:  # empty, or not octal
        intact = False
    if not intact:
        raise BundleError(f"{path}: not a readable bundle: a damaged tar header")


def _pax_path(path: Path, data: bytes) -> str | None:
    """The `path` record of a pax header ("LENGTH path=NAME\\n" records), if it has one."""
    position = 0
    found = None
    while position < len(data):
        space = data.find(b" ", position)
        try:
            length = int(data[position:space])
        except ValueError:
            raise BundleError(f"{path}: not a readable bundle: a damaged pax header") from None
        if length <= 0 or space < 0:
            raise BundleError(f"{path}: not a readable bundle: a damaged pax header")
        key, _, value = data[space + 1 : position + length - 1].partition(b"=")
        if key == b"path":
            found = value.decode("utf-8", "replace")
        position += length
    return found


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

