"""OBD-II through an ELM327 adapter (or a clone) on a serial port, Bluetooth RFCOMM or TCP.

The adapter speaks lines of ASCII: a command ends in CR, and the adapter answers lines ending
in CR and then its prompt `>`. We switch echo, linefeeds and spaces off and headers on (so that
every reply line names the ECU that sent it and carries its ISO-TP framing), and reassemble
multi-frame replies ourselves. Every failure is an ObdError naming the port; when the adapter
vanishes or stops answering, the port is closed and the next query opens and initialises it
again, so unplugging an adapter, or a Bluetooth link dropping, costs a few polls, not the agent.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time

import serial

from carvoice.act.serial import PORT_ERRORS
from carvoice.vehicle.obd import LinkError, NegativeResponse, NoReply, ObdError, request, response_data

PROMPT = b">"

# What the adapter prints instead of data. NO DATA: nothing answered (the value is unknown, the
# link is fine); the rest mean the adapter or the car's bus is in trouble.
NO_REPLY_MESSAGES = ("NO DATA",)
LINK_ERROR_MESSAGES = (
    "?",
    "UNABLE TO CONNECT",
    "CAN ERROR",
    "STOPPED",
    "BUS ERROR",
    "BUS BUSY",
    "BUFFER FULL",
    "DATA ERROR",
    "FB ERROR",
    "LV RESET",
    "ACT ALERT",
    "<RX ERROR",
)
INFORMATION = ("SEARCHING...", "BUS INIT: ...", "BUS INIT: ...OK", "OK")

# ATSP protocol numbers: 6 and 8 are ISO 15765-4 with 11-bit ids, 7 and 9 with 29-bit ones,
# A is SAE J1939 (29-bit), B and C are user-set CAN (11-bit unless changed). 1-5 are not CAN.
CAN_11BIT_PROTOCOLS = frozenset("68BC")
CAN_29BIT_PROTOCOLS = frozenset("79A")


class Elm327:
    """One ELM327 at a pyserial URL (`/dev/ttyUSB0`, `/dev/rfcomm0`, `socket://host:35000`)."""

    def __init__(
        self,
        url: str,
        baudrate: int = 38400,
        timeout: float = 2.0,
        search_timeout: float = 10.0,
        reset_timeout: float = 3.0,
        protocol: str = "0",
    ) -> None:
        """timeout: for one answer; search_timeout: for the first one after initialising, when the
        adapter may be trying every protocol in turn (`SEARCHING...`); reset_timeout: for ATZ, which
        restarts the adapter (about a second on a real one). protocol: ATSP's argument, 0 for automatic."""
        self.url, self.baudrate = url, baudrate
        self.timeout, self.search_timeout, self.reset_timeout = timeout, search_timeout, reset_timeout
        self.protocol = protocol
        self.name = f"ELM327 at {url}"
        self.identity = ""  # what ATZ answered, e.g. "ELM327 v1.5"
        self._port: serial.Serial | None = None
        self._searched = False
        self._detected_protocol: str | None = None
        self._closing = threading.Event()
        self._lock = threading.Lock()

    # --- the line discipline -------------------------------------------------------------

    def _open(self) -> serial.Serial:
        try:
            port = serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=0.05, write_timeout=1.0)
        except (*PORT_ERRORS, ValueError) as error:
            raise LinkError(f"{self.name}: cannot open the port: {error}") from error
        self._port = port
        try:
            for _attempt in range(2):  # a half-typed line left in the adapter garbles the first ATZ ("?")
                reply = self._command("ATZ", self.reset_timeout)
                self.identity = next((line for line in reply if "ELM" in line.upper()), "")
                if self.identity:
                    break
            if not self.identity:
                raise LinkError(f"{self.name}: not an ELM327 (ATZ answered {' / '.join(reply) or 'nothing'})")
            for command in ("ATE0", "ATL0", "ATS0", "ATH1", f"ATSP{self.protocol}"):
                reply = self._command(command, self.timeout)
                if "OK" not in reply:
                    raise LinkError(f"{self.name}: {command} answered {' / '.join(reply) or 'nothing'}, not OK")
        except ObdError:
            self._drop()
            raise
        self._searched = False
        self._detected_protocol = None
        return port

    def _drop(self) -> None:
        """Forget the port; the next query reopens and reinitialises it."""
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(*PORT_ERRORS):
                port.close()

    def _read_until_prompt(self, timeout: float) -> bytes:
        assert self._port is not None
        received = bytearray()
        deadline = time.monotonic() + timeout
        while not received.endswith(PROMPT):
            if self._closing.is_set():
                raise LinkError(f"{self.name}: closed")
            if time.monotonic() >= deadline:
                raise LinkError(f"{self.name}: no prompt within {timeout:g} s (got {bytes(received)!r})")
            try:
                chunk = self._port.read(self._port.in_waiting or 1)
            except PORT_ERRORS as error:
                raise LinkError(f"{self.name}: the adapter went away: {error}") from error
            received += chunk
        return bytes(received)

    def _command(self, command: str, timeout: float) -> list[str]:
        """Sends one line and returns the reply's lines, without echo, blank lines and prompt."""
        assert self._port is not None
        try:
            self._port.reset_input_buffer()
            self._port.write(command.encode("ascii") + b"\r")
        except PORT_ERRORS as error:
            raise LinkError(f"{self.name}: the adapter went away: {error}") from error
        text = self._read_until_prompt(timeout)[: -len(PROMPT)].decode("ascii", errors="replace")
        lines = [line.strip() for line in re.split(r"[\r\n]+", text)]
        squashed = command.replace(" ", "").upper()
        return [line for line in lines if line and line.replace(" ", "").upper() != squashed]

    # --- OBD-II --------------------------------------------------------------------------

    def query(self, service: int, pid: int) -> bytes:
        with self._lock:
            if self._closing.is_set():
                raise LinkError(f"{self.name}: closed")
            if self._port is None:
                self._open()
            command = request(service, pid).hex().upper()
            try:
                lines = self._command(command, self.timeout if self._searched else self.search_timeout)
                payloads = self._payloads(command, lines)
            except LinkError:
                self._drop()
                raise
            self._searched = True
        refusal: NegativeResponse | None = None
        for payload in payloads:
            try:
                data = response_data(service, pid, payload)
            except NegativeResponse as negative:
                refusal = negative
                continue
            if data is not None:
                return data
        if refusal is not None:
            raise NoReply(f"{self.name}: {refusal}")
        raise NoReply(f"{self.name}: no answer to {command} among {' / '.join(lines)}")

    def _payloads(self, command: str, lines: list[str]) -> list[bytes]:
        """The reply's lines as one ISO-TP payload per ECU, or the adapter's error as an ObdError."""
        data_lines = []
        for line in lines:
            upper = line.upper()
            if upper in INFORMATION:
                continue
            if upper in NO_REPLY_MESSAGES:
                raise NoReply(f"{self.name}: NO DATA for {command} (no ECU answered)")
            if upper in LINK_ERROR_MESSAGES or upper.startswith(("BUS INIT", "ERR")):
                meaning = "did not understand" if upper == "?" else "answered"
                raise LinkError(f"{self.name}: {meaning} {command}: {line}")
            hexdigits = line.replace(" ", "")
            if not re.fullmatch(r"[0-9A-Fa-f]+", hexdigits):
                raise LinkError(f"{self.name}: unexpected reply to {command}: {line!r}")
            data_lines.append(hexdigits.upper())
        if not data_lines:
            raise NoReply(f"{self.name}: empty reply to {command}")
        try:
            return self._frames_to_payloads(data_lines)
        except ValueError:  # lines that do not split into whole bytes
            raise ObdError(f"{self.name}: garbled reply to {command}: {' / '.join(lines)}") from None

    def _frames_to_payloads(self, lines: list[str]) -> list[bytes]:
        """With headers on, a CAN line is the identifier (3 or 8 hex digits), the ISO-TP PCI and
        data; any other protocol gives three header bytes, the data and a checksum byte."""
        if len(lines[0]) % 2:
            id_digits = 3  # 11-bit CAN: an odd number of digits, whatever the adapter says
        else:
            protocol = self._protocol()
            if protocol in CAN_11BIT_PROTOCOLS:
                id_digits = 3
            elif protocol in CAN_29BIT_PROTOCOLS:
                id_digits = 8
            else:
                return [bytes.fromhex(line)[3:-1] for line in lines]
        frames: dict[str, list[bytes]] = {}
        for line in lines:
            frames.setdefault(line[:id_digits], []).append(bytes.fromhex(line[id_digits:]))
        return [payload for payload in (_reassemble(f) for f in frames.values()) if payload is not None]

    def _protocol(self) -> str:
        """The protocol the adapter settled on (ATDPN, without the 'A' of 'automatic')."""
        if self._detected_protocol is None:
            reply = self._command("ATDPN", self.timeout)
            number = reply[0].upper() if reply else ""
            self._detected_protocol = number[1:] if len(number) == 2 and number[0] == "A" else number
        return self._detected_protocol

    def close(self) -> None:
        """Stops a query in progress within one read slice (50 ms) and closes the port."""
        self._closing.set()
        with self._lock:
            self._drop()


def _reassemble(frames: list[bytes]) -> bytes | None:
    """ISO 15765-2 framing of one ECU's lines: a single frame, or a first frame and consecutive ones."""
    first = frames[0]
    kind = first[0] >> 4 if first else -1
    if kind == 0:
        return first[1 : 1 + (first[0] & 0x0F)]
    if kind == 1 and len(first) >= 2:
        length = (first[0] & 0x0F) << 8 | first[1]
        data = bytearray(first[2:])
        for expected, frame in enumerate(frames[1:], start=1):
            if not frame or frame[0] >> 4 != 2 or frame[0] & 0x0F != expected % 16:
                return None  # a frame went missing: better no value than a wrong one
            data += frame[1:]
        return bytes(data[:length]) if len(data) >= length else None
    return None
