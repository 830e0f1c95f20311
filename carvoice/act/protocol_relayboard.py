"""relayboard:// - an in-process stand-in for a serial relay board, as a pyserial URL.

It answers the way simple ASCII relay boards do (config/README.md, "The stand-in relay
board"): a line `<NAME> ON` or `<NAME> OFF` (any case, ending in CR, LF or both) switches
relay NAME and is answered `OK`; any other line is answered `ERR`, and nothing switches.
A board that speaks other words is written as URL options, e.g. the board of a camper
that takes `PUMP=1` and answers `ACK`/`NAK`:

    relayboard://?separator==&on=1&off=0&ok=ACK&error=NAK

The demo and the tests use it where a car has the real board.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING

from serial import SerialException
from serial.urlhandler.protocol_loop import Serial as LoopSerial

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

_DEFAULTS = {"separator": " ", "on": "ON", "off": "OFF", "ok": "OK", "error": "ERR"}


@dataclass(frozen=True)
class Protocol:
    command: re.Pattern[str]  # a whole line: relay name, then the on or off word
    on: str
    ok: bytes
    error: bytes


def protocol(url: str) -> Protocol:
    """The words a relayboard:// URL's board speaks; ValueError names what is wrong with the URL.

    The profile loader calls this too, so a bad option is a located problem, not a failed command.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "relayboard" or parts.netloc or parts.path not in ("", "/"):
        raise ValueError(f"write relayboard:// with options after ?, not {url!r}")
    words = dict(_DEFAULTS)
    for option, values in urllib.parse.parse_qs(parts.query, keep_blank_values=True).items():
        if option not in _DEFAULTS:
            raise ValueError(f"relayboard:// has no option {option!r} (options: {', '.join(_DEFAULTS)})")
        words[option] = values[-1]
    if not all(words[name].strip() for name in ("on", "off", "ok", "error")) or words["on"] == words["off"]:
        raise ValueError("relayboard:// needs on, off, ok and error words, with on and off different")
    separator = r"\s+" if words["separator"].isspace() else r"\s*" + re.escape(words["separator"]) + r"\s*"
    states = "|".join(re.escape(words[state]) for state in ("on", "off"))
    return Protocol(
        re.compile(rf"\s*([A-Za-z0-9_]+){separator}({states})\s*", re.IGNORECASE),
        words["on"].lower(),
        f"{words['ok']}\r\n".encode(),
        f"{words['error']}\r\n".encode(),
    )


class Serial(LoopSerial):
    def open(self) -> None:
        self._pending = b""
        self.relays: dict[str, bool] = {}
        super().open()

    def from_url(self, url: str) -> None:
        try:
            self._protocol = protocol(url)
        except ValueError as error:
            raise SerialException(str(error)) from None

    def write(self, data: ReadableBuffer) -> int:
        chunk = bytes(data)
        self._pending += chunk
        *lines, self._pending = self._pending.replace(b"\r", b"\n").split(b"\n")
        for line in filter(None, lines):
            match = self._protocol.command.fullmatch(line.decode("utf-8", "replace"))
            if match:
                self.relays[match.group(1).upper()] = match.group(2).lower() == self._protocol.on
            super().write(self._protocol.ok if match else self._protocol.error)
        return len(chunk)
