"""Where each key and value of a TOML file is written, so a problem points at its own line.

tomllib gives values without positions. Searching the text for `name =` finds the
first key of that name anywhere in the file (a bad `timeout` in the fifth action was
reported at the first action's), so this module reads the structure itself: every
table header, key and array element gets the lines it spans, under the same path
the loader names it by (`intents.lights.actions[2].when`, `slots.state.values[1]`).
It runs only on text tomllib has already accepted, so it need not diagnose anything.
"""

from __future__ import annotations

import bisect
import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

Segment = str | int
TomlPath = tuple[Segment, ...]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_KEY_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_SCALAR = re.compile(r"[^,\]}\n#]*")  # a number, boolean or date runs up to what ends a value
_BLANK = re.compile(r"(?:[ \t]|#[^\n]*)*")
_BLANK_LINES = re.compile(r"(?:[ \t\r\n]|#[^\n]*)*")


@dataclass(frozen=True)
class Span:
    first: int  # lines, from 1
    last: int


class Positions:
    """The lines of everything written in one TOML text."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        scanner = _Scanner(text)
        # TOML this reader does not follow keeps the lines of what was read before it.
        with contextlib.suppress(_Unexpected, IndexError):
            scanner.document()
        self.spans = scanner.spans
        self.strings = scanner.strings
        self._children: dict[TomlPath, list[TomlPath]] = {}
        for path in self.spans:
            if path:
                self._children.setdefault(path[:-1], []).append(path)

    def line_of(self, key: str | Sequence[Segment], *needles: str) -> int | None:
        """The line of the most specific part of `key` that is written in the file.

        A needle (a word of a long template, say) picks the line within a value that spans
        several lines.
        """
        segments = split_key(key) if isinstance(key, str) else list(key)
        path = self._deepest(segments)
        if not path:
            return None
        span = self.spans[path]
        for needle in filter(None, needles):
            for number in range(span.first, span.last + 1):
                if needle in self.lines[number - 1]:
                    return number
        return span.first

    def _deepest(self, segments: list[Segment]) -> TomlPath:
        """Follow the segments down the written structure; a name may itself hold dots ("a.b")."""
        path: TomlPath = ()
        index = 0
        while index < len(segments):
            step = self._step(path, segments, index)
            if step is None:
                break
            path, index = step
        return path

    def _step(self, path: TomlPath, segments: list[Segment], index: int) -> tuple[TomlPath, int] | None:
        children = self._children.get(path, [])
        segment = segments[index]
        if isinstance(segment, int):
            child = (*path, segment)
            return (child, index + 1) if child in self.spans else None
        for end in range(len(segments), index, -1):
            parts = segments[index:end]
            if all(isinstance(p, str) for p in parts) and (*path, ".".join(map(str, parts))) in children:
                return (*path, ".".join(map(str, parts))), end
        # `values = ["on", "off"]`: the loader names the value, the file has it at an index.
        for child in children:
            if isinstance(child[-1], int) and self.strings.get(child) == segment:
                return child, index + 1
        return None


def split_key(key: str) -> list[Segment]:
    """`intents.x.actions[2].when` -> ["intents", "x", "actions", 2, "when"]."""
    return [int(index) if index else name for name, index in _KEY_PART.findall(key)]


class _Unexpected(ValueError):
    """Text this reader does not follow (tomllib accepted it, so this is a gap here, not in the file)."""


class _Scanner:
    """A reader of valid TOML that records positions instead of values."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0
        self._line_starts = [0] + [m.end() for m in re.finditer(r"\n", text)]
        self.spans: dict[TomlPath, Span] = {}
        self.strings: dict[TomlPath, str] = {}
        self._array_tables: dict[TomlPath, int] = {}

    def line(self) -> int:
        return bisect.bisect_right(self._line_starts, self.at)

    def record(self, path: TomlPath, line: int) -> None:
        if path not in self.spans:
            self.spans[path] = Span(line, line)

    def document(self) -> None:
        table: TomlPath = ()
        while self._skip_blank(newlines=True):
            if self.text.startswith("[[", self.at):
                start = self.line()
                self.at += 2
                keys = self._key()
                self._expect("]]")
                path = (*self._resolve(keys[:-1]), keys[-1])
                count = self._array_tables.get(path, 0)
                self._array_tables[path] = count + 1
                table = (*path, count)
                self._record_parents(path, start)
                self.record(table, start)
            elif self.text.startswith("[", self.at):
                start = self.line()
                self.at += 1
                table = self._resolve(self._key())
                self._expect("]")
                self._record_parents(table, start)
            else:
                self._pair(table)

    def _resolve(self, keys: list[str]) -> TomlPath:
        """A header's path, with the latest element of each array of tables it passes through."""
        path: TomlPath = ()
        for key in keys:
            path = (*path, key)
            if path in self._array_tables:
                path = (*path, self._array_tables[path] - 1)
        return path

    def _record_parents(self, path: TomlPath, line: int) -> None:
        for size in range(1, len(path) + 1):
            self.record(path[:size], line)

    def _pair(self, table: TomlPath) -> None:
        start = self.line()
        keys = self._key()
        self._skip_blank()
        self._expect("=")
        self._skip_blank()
        path = (*table, *keys)
        self._record_parents(path[:-1], start)
        self._value(path)

    def _key(self) -> list[str]:
        keys = []
        while True:
            self._skip_blank()
            if self.text[self.at] in "\"'":
                keys.append(self._string())
            else:
                match = _BARE_KEY.match(self.text, self.at)
                if match is None:
                    raise _Unexpected(f"no key at {self.at}")
                keys.append(match.group(0))
                self.at = match.end()
            self._skip_blank()
            if not self.text.startswith(".", self.at):
                return keys
            self.at += 1

    def _value(self, path: TomlPath) -> None:
        start = self.line()
        created = path not in self.spans
        if created:  # before what is inside, which records its parents
            self.spans[path] = Span(start, start)
        char = self.text[self.at]
        if char in "\"'":
            self.strings[path] = self._string()
        elif char == "[":
            self.at += 1
            index = 0
            while self._skip_blank(newlines=True) and self.text[self.at] != "]":
                before = self.at
                self._value((*path, index))
                index += 1
                self._skip_blank(newlines=True)
                if self.text[self.at] == ",":
                    self.at += 1
                elif self.at == before:
                    raise _Unexpected(f"no value at {self.at}")
            self.at += 1
        elif char == "{":
            self.at += 1
            while self._skip_blank() and self.text[self.at] != "}":
                self._pair(path)
                self._skip_blank()
                if self.text[self.at] == ",":
                    self.at += 1
            self.at += 1
        else:
            self.at = _SCALAR.match(self.text, self.at).end()  # type: ignore[union-attr]  # matches ""
        if created:
            self.spans[path] = Span(start, self.line())

    def _string(self) -> str:
        quote = self.text[self.at]
        triple = self.text.startswith(quote * 3, self.at)
        delimiter = quote * 3 if triple else quote
        self.at += len(delimiter)
        start = self.at
        while not self.text.startswith(delimiter, self.at):
            if self.at >= len(self.text):
                raise _Unexpected("a string that does not end")
            self.at += 2 if quote == '"' and self.text[self.at] == "\\" else 1
        if triple:  # a closing """ may be followed by up to two more quotes that belong to the string
            while self.text.startswith(quote, self.at + len(delimiter)):
                self.at += 1
        content = self.text[start : self.at]
        self.at += len(delimiter)
        return content

    def _skip_blank(self, newlines: bool = False) -> bool:
        """Skip spaces and comments (and line breaks when asked); False at the end of the text."""
        self.at = (_BLANK_LINES if newlines else _BLANK).match(self.text, self.at).end()  # type: ignore[union-attr]
        return self.at < len(self.text)

    def _expect(self, token: str) -> None:
        self._skip_blank()
        if not self.text.startswith(token, self.at):
            raise _Unexpected(f"no {token!r} at {self.at}")
        self.at += len(token)
