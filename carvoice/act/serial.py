"""Writing planned lines to serial devices, and waiting for the device's answer."""

from __future__ import annotations

import contextlib
import termios
import time

import serial

from carvoice.act import ActionFailed, PlannedAction
from carvoice.act.plan import SerialWrite
from carvoice.events import Event, Serial
from carvoice.lifetime import Closing
from carvoice.profile.model import SerialPortSettings

# What a serial device that vanishes mid-write raises: pyserial's own errors, the OS's, and
# termios.error from tcdrain (which is not an OSError).
PORT_ERRORS = (serial.SerialException, OSError, termios.error)

# Makes relayboard:// (carvoice's stand-in for a relay board) a pyserial URL.
if "carvoice.act" not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append("carvoice.act")


class SerialSink(Closing):
    """Opens each port on first use and again after it has vanished."""

    def __init__(self, ports: dict[str, SerialPortSettings]) -> None:
        self.ports = ports
        self._open: dict[str, serial.Serial] = {}

    def accepts(self, action: PlannedAction) -> bool:
        return isinstance(action, SerialWrite)

    def perform(self, action: PlannedAction, t: float) -> Event:
        assert isinstance(action, SerialWrite)
        settings = self.ports[action.port]
        try:
            port = self._port(settings)
            port.reset_input_buffer()
            port.write(action.data)
            port.flush()
            reply = self._reply(port, action) if action.expect is not None else None
        except PORT_ERRORS as error:
            self._forget(action.port)
            raise ActionFailed(f"serial port {action.port} ({settings.url}): {error}") from error
        return Serial(t, port=action.port, data=action.data.decode("utf-8", "replace"), reply=reply)

    def _port(self, settings: SerialPortSettings) -> serial.Serial:
        port = self._open.get(settings.name)
        if port is None or not port.is_open:
            port = serial.serial_for_url(settings.url, baudrate=settings.baudrate, timeout=0.05)
            self._open[settings.name] = port
        return port

    def _reply(self, port: serial.Serial, action: SerialWrite) -> str:
        """Lines from the device until one holds the expected text, or the timeout."""
        deadline = time.monotonic() + action.timeout
        heard: list[str] = []
        buffer = b""
        while time.monotonic() < deadline:
            buffer += port.read(port.in_waiting or 1)
            *lines, buffer = buffer.replace(b"\r", b"\n").split(b"\n")
            for line in filter(None, (raw.decode("utf-8", "replace").strip() for raw in lines)):
                if action.expect and action.expect in line:
                    return line
                heard.append(line)
        answer = f"it answered {' / '.join(heard)!r}" if heard else "no answer"
        raise ActionFailed(
            f"serial port {action.port}: expected {action.expect!r} within {action.timeout:g} s, {answer}"
        )

    def _forget(self, name: str) -> None:
        port = self._open.pop(name, None)
        if port is not None:
            with contextlib.suppress(*PORT_ERRORS):
                port.close()

    def close(self) -> None:
        for name in list(self._open):
            self._forget(name)
