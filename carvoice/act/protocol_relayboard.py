"""relayboard:// - an in-process stand-in for a serial relay board, as a pyserial URL.

It speaks the protocol of the boards the demo profile targets: a line
`<NAME> ON|OFF` switches a relay and is answered `OK`; anything else is
answered `ERR`. The demo and the tests use it where a car has the real board.
"""

from __future__ import annotations

import re

from serial.urlhandler.protocol_loop import Serial as LoopSerial

_COMMAND = re.compile(rb"\s*([A-Za-z0-9_]+)\s+(ON|OFF)\s*", re.IGNORECASE)


class Serial(LoopSerial):
    def open(self) -> None:
        self._pending = b""
        self.relays: dict[str, bool] = {}
        super().open()

    def from_url(self, url: str) -> None:
        # Nothing to configure; accept relayboard:// with no options.
        return None

    def write(self, data: bytes) -> int:
        self._pending += bytes(data)
        *lines, self._pending = self._pending.replace(b"\r", b"\n").split(b"\n")
        for line in filter(None, lines):
            match = _COMMAND.fullmatch(line)
            if match:
                self.relays[match.group(1).decode().upper()] = match.group(2).upper() == b"ON"
            super().write(b"OK\r\n" if match else b"ERR\r\n")
        return len(data)
