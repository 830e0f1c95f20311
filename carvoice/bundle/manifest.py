"""What a bundle holds: the profile's name and version, and the sha256 of every file in it."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from carvoice.bundle import BundleError

FORMAT = "carvoice-bundle/1"
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~-]{0,63}")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def sha256(data: bytes) -> str:
    """The hash the manifest lists for each file."""
    return hashlib.sha256(data).hexdigest()


def check_version(version: str) -> str:
    """Versions become part of a directory name on the unit, so only a safe alphabet is allowed."""
    if not _VERSION.fullmatch(version):
        raise BundleError(f"version {version!r}: use letters, digits and . _ + ~ - (at most 64), e.g. 1.4.2")
    return version


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as version `a` is older than, the same as, or newer than `b`.

    Debian's rules, which installers know from packages: runs of digits compare as numbers, other
    characters by letter before symbol, and `~` before anything, even the end ("1.4~rc1" < "1.4").
    """
    while a or b:
        text_a, a = _split(a, str.isdigit, want=False)
        text_b, b = _split(b, str.isdigit, want=False)
        for left, right in zip(text_a.ljust(len(text_b), "\0"), text_b.ljust(len(text_a), "\0"), strict=True):
            if _weight(left) != _weight(right):
                return -1 if _weight(left) < _weight(right) else 1
        digits_a, a = _split(a, str.isdigit, want=True)
        digits_b, b = _split(b, str.isdigit, want=True)
        if int(digits_a or 0) != int(digits_b or 0):
            return -1 if int(digits_a or 0) < int(digits_b or 0) else 1
    return 0


def _split(text: str, test, want: bool) -> tuple[str, str]:
    """The leading run of characters for which test(c) == want, and the rest."""
    end = 0
    while end < len(text) and test(text[end]) == want:
        end += 1
    return text[:end], text[end:]


def _weight(char: str) -> int:
    if char == "~":
        return -1
    if char == "\0":  # the end of the shorter part
        return 0
    return ord(char) if char.isalpha() else ord(char) + 256


def default_version(now: datetime | None = None) -> str:
    """A sortable version from the build time, for installers who do not number their profiles."""
    return (now or datetime.now(UTC)).strftime("%Y%m%d.%H%M%S")


def slug(name: str) -> str:
    """A profile name as a directory name: "Demo car" -> "demo-car"."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:48] or "profile"


@dataclass(frozen=True)
class Manifest:
    """Signed instead of the files themselves: its hashes pin every byte of the profile."""

    name: str
    version: str
    created: str
    profile_digest: str  # carvoice.profile.loader.profile_digest of the profile folder, as the daemon reports it
    files: dict[str, str]  # path inside the profile folder -> sha256

    @property
    def install_name(self) -> str:
        """The version's directory on the unit: readable, and unique per content."""
        return f"{slug(self.name)}-{self.version}-{self.profile_digest[:12]}"

    def to_bytes(self) -> bytes:
        data = {
            "format": FORMAT,
            "name": self.name,
            "version": self.version,
            "created": self.created,
            "profile_digest": self.profile_digest,
            "files": dict(sorted(self.files.items())),
        }
        return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes, source: str) -> Manifest:
        try:
            raw = json.loads(data)
        except (ValueError, UnicodeDecodeError) as error:
            raise BundleError(f"{source}: manifest.json is not JSON: {error}") from None
        found = raw.get("format") if isinstance(raw, dict) else None
        if found != FORMAT:
            raise BundleError(f"{source}: not a {FORMAT} manifest (format {found!r})")
        text_fields = ("name", "version", "created", "profile_digest")
        if not all(isinstance(raw.get(key), str) for key in text_fields):
            raise BundleError(f"{source}: manifest.json needs text fields {', '.join(text_fields)}")
        files = raw.get("files")
        if not isinstance(files, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and _HEX64.fullmatch(v) for k, v in files.items()
        ):
            raise BundleError(f"{source}: manifest.json 'files' must map each file to its sha256")
        if not _HEX64.fullmatch(raw["profile_digest"]):
            raise BundleError(f"{source}: manifest.json 'profile_digest' is not a sha256")
        try:
            check_version(raw["version"])
        except BundleError as error:
            raise BundleError(f"{source}: {error}") from None
        return cls(raw["name"], raw["version"], raw["created"], raw["profile_digest"], dict(files))
