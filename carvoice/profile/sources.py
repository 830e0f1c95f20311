"""A profile's TOML files: read, merged, and each problem placed at its file and line."""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from carvoice.profile.model import (
    Problem,
)
from carvoice.profile.positions import Positions
from carvoice.profile.stages import Stages
from carvoice.profile.suggest import known_names

MAIN_FILE = "profile.toml"
_SINGLE_TABLES = ("profile", "wake", "audio", "can", "obd", "recognition", "replies")
_MERGED_TABLES = ("serial", "vehicle", "state", "pronunciations", "rules", "slots", "intents")
# One TOML file of a profile: the demo car's largest is 4 KB; the TOML reader holds many times this.
MAX_TOML_BYTES = 4 * 2**20


class Sources:
    """The files read so far and the problems found in them; every part of the loader reports through here."""

    def __init__(self, root: Path, stages: Stages) -> None:
        self.root = root
        self.stages = stages
        self.problems: list[Problem] = []
        self.sources: dict[Path, Positions] = {}
        self.owner: dict[str, Path] = {}
        # Keys that are defined but unusable (a slot with a bad range, a DBC that does not load):
        # they are reported once, and whatever names them is not reported again.
        self.broken: set[str] = set()

    def problem(self, file: Path | None, key: str, message: str, *needles: str) -> None:
        """A problem at the line where `key` is written in `file` (a needle picks a line within a long value)."""
        line = None
        if file is not None and file in self.sources:
            line = self.sources[file].line_of(key, *needles)
        self.problems.append(Problem(file, line, key, message))

    def _file_of(self, key: str) -> Path | None:
        parts = key.split(".")
        for size in range(len(parts), 0, -1):
            owner = self.owner.get(".".join(parts[:size]).split("[", 1)[0])
            if owner is not None:
                return owner
        return None

    def report(self, key: str, message: str, *needles: str) -> None:
        self.problem(self._file_of(key), key, message, *needles)

    def _broken_names(self, table: str) -> set[str]:
        return {key.split(".", 1)[1] for key in self.broken if key.startswith(table + ".")}

    def _read_files(self) -> dict[str, Any] | None:
        if not self.root.is_dir():
            self.problem(self.root, "", "no such profile folder")
            return None
        main = self.root / MAIN_FILE
        if not main.is_file():
            self.problem(main, "", f"a profile needs {MAIN_FILE} (wake phrase, CAN bus, ...)")
            return None
        files = [main, *sorted(p for p in self.root.glob("*.toml") if p.name != MAIN_FILE)]
        merged: dict[str, Any] = {}
        for path in files:
            if not path.is_file():  # a pipe would block the loader (and a reload) for ever
                self.problem(path, "", "not a plain file (a pipe, device or folder named .toml)")
                continue
            try:
                with path.open("rb") as stream:
                    raw = stream.read(MAX_TOML_BYTES + 1)
            except OSError as error:
                self.problem(path, "", f"cannot read: {error}")
                continue
            if len(raw) > MAX_TOML_BYTES:
                self.problem(path, "", f"more than {MAX_TOML_BYTES // 2**20} MiB: not a profile file")
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                # An editor in another encoding or a half-written file: say which line to look at.
                line = raw[: error.start].count(b"\n") + 1
                self.problems.append(
                    Problem(path, line, "", f"not UTF-8 text: byte {raw[error.start]:#04x} is not valid")
                )
                continue
            try:
                data = tomllib.loads(text)
            except RecursionError:  # Python's TOML reader recurses once per level of nested arrays and tables
                line = _too_deep_line(text)
                self.problems.append(Problem(path, line, "", "not valid TOML here: arrays or tables nested too deeply"))
                continue
            except tomllib.TOMLDecodeError as error:
                match = re.search(r"\(at line (\d+), column (\d+)\)", str(error))
                line = int(match.group(1)) if match else len(text.splitlines())  # "(at end of document)"
                message = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", str(error))
                self.problems.append(Problem(path, line, "", f"not valid TOML: {message}"))
                continue
            self.sources[path] = Positions(text)
            self._merge(path, data, merged)
        return merged

    def _merge(self, path: Path, data: dict[str, Any], merged: dict[str, Any]) -> None:
        for table, value in data.items():
            if table not in _SINGLE_TABLES and table not in _MERGED_TABLES:
                self.problem(path, table, "unknown section " + known_names(table, _SINGLE_TABLES + _MERGED_TABLES))
                continue
            if not isinstance(value, dict):
                self.problem(path, table, "must be a table, written [" + table + "]")
                continue
            if table in _SINGLE_TABLES:
                if table in merged:
                    self.problem(path, table, f"already given in {self.owner[table].name}")
                    continue
                merged[table] = value
                self.owner[table] = path
                continue
            target = merged.setdefault(table, {})
            for name, entry in value.items():
                key = f"{table}.{name}"
                if name in target:
                    self.problem(path, key, f"already defined in {self.owner[key].name}")
                    continue
                target[name] = entry
                self.owner[key] = path


def profile_digest(root: Path | str) -> str:
    """One hash over every file of a profile folder: which profile is running, exactly."""
    root = Path(root)
    return files_digest({p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()})


def files_digest(files: Mapping[str, bytes]) -> str:
    """profile_digest of a folder given as {relative path: contents}; a bundle computes it before unpacking."""
    digest = hashlib.sha256()
    for name in sorted(files, key=PurePosixPath):
        digest.update(name.encode() + b"\0" + files[name] + b"\0")
    return digest.hexdigest()


def default_profile_dir() -> Path:
    """The demo car's profile beside the package, for a checkout or an editable install."""
    return Path(__file__).resolve().parents[2] / "config" / "demo_car"


def _too_deep_line(text: str, depth: int = 100) -> int:
    """The line where [ and { (outside strings and comments) first nest `depth` deep; the last line if never."""
    level, quote, line = 0, "", 1
    for index, char in enumerate(text):
        if char == "\n":
            line += 1
            if quote in ("#", '"', "'"):
                quote = ""
        elif quote:
            if char == quote and text[index - 1] != "\\":
                quote = ""
        elif char in "\"'#":
            quote = char
        elif char in "[{":
            level += 1
            if level >= depth:
                return line
        elif char in "]}":
            level -= 1
    return line
