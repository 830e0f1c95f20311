"""Push-to-talk: a button that starts listening as the wake phrase does, whatever it is wired to.

A button only says whether it is down now (or that it cannot tell); `PushToTalk` turns that into
presses, so the agent neither knows nor cares whether the button is a CAN signal or a switch on a
serial port's modem lines.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Protocol

import serial

from carvoice.act.plan import StateReader
from carvoice.act.serial import PORT_ERRORS
from carvoice.lifetime import Closing
from carvoice.profile.model import Profile, SerialButton, SerialPortSettings

# A press counts only after the button was seen released for this long (seconds of audio). Contacts
# bounce for a few milliseconds; the agent looks once per audio frame (30 ms), so a bounce shows as one
# released look between two pressed ones, while a driver who presses again lets go for longer.
RELEASED_SECONDS = 0.1
# How often a serial button that is missing or vanished is opened again.
REOPEN_SECONDS = 1.0

# Opens a pyserial port: serial.serial_for_url, or a test's opener that keeps the port it returns.
PortOpener = Callable[..., serial.Serial]


class Button(Protocol):
    """A push-to-talk button as wired in this car."""

    def is_down(self, now: float) -> bool | None:
        """Whether it is pressed at `now` (seconds of audio), or None when that cannot be told."""
        ...

    def close(self) -> None: ...


class StateButton(Closing):
    """A [state] value from a CAN signal: released while 0, unknown while the car does not send it."""

    def __init__(self, state: StateReader, name: str) -> None:
        self.state = state
        self.name = name

    def is_down(self, now: float) -> bool | None:
        value = self.state.value(self.name)
        return None if value is None else bool(value)

    def close(self) -> None:
        """The bus belongs to the vehicle link."""


class SerialLineButton(Closing):
    """A switch from an output the agent holds asserted (RTS or DTR) to a modem status input (CTS, DSR, CD, RI).

    The port is opened on first use, as the serial action sink opens its ports, so that a missing
    adapter never stops the agent: it is reported once, the wake phrase keeps working, and the port
    is opened again every REOPEN_SECONDS until it is back (reported too).
    """

    def __init__(
        self,
        settings: SerialPortSettings,
        wiring: SerialButton,
        report: Callable[[str], None],
        open_port: PortOpener = serial.serial_for_url,
    ) -> None:
        self.settings = settings
        self.wiring = wiring
        self.report = report
        self.open_port = open_port
        self.port: serial.Serial | None = None
        self._next_open = 0.0
        self._away = False  # reported missing; its return is news

    @property
    def description(self) -> str:
        return f"push-to-talk button ({self.wiring.line} on serial port {self.settings.name}, {self.settings.url})"

    def is_down(self, now: float) -> bool | None:
        if self.port is None and not self._open(now):
            return None
        assert self.port is not None
        try:
            return bool(getattr(self.port, self.wiring.line.lower()))
        except PORT_ERRORS as error:
            self._lost(now, f"{self.description} vanished: {error}")
            return None

    def _open(self, now: float) -> bool:
        if now < self._next_open:
            return False
        try:
            port = self.open_port(self.settings.url, baudrate=self.settings.baudrate, timeout=0)
            setattr(port, self.wiring.feed.lower(), True)
        except PORT_ERRORS as error:
            self._lost(now, f"{self.description} cannot be opened: {error}")
            return False
        self.port = port
        if self._away:
            self._away = False
            self.report(f"{self.description} is back")
        return True

    def _lost(self, now: float, message: str) -> None:
        """Once per outage: the same failure every second is not news."""
        self.close()
        self._next_open = now + REOPEN_SECONDS
        if not self._away:
            self._away = True
            self.report(f"{message}; the wake phrase still works; trying again every {REOPEN_SECONDS:g} s")

    def close(self) -> None:
        port, self.port = self.port, None
        if port is not None:
            with contextlib.suppress(*PORT_ERRORS):
                port.close()


def button_for(
    profile: Profile,
    state: StateReader | None,
    report: Callable[[str], None],
    open_port: PortOpener = serial.serial_for_url,
) -> Button | None:
    """The profile's push-to-talk button; None without one, or for a CAN button with no bus to read it from."""
    wiring = profile.wake.button
    if isinstance(wiring, SerialButton):
        return SerialLineButton(profile.serial[wiring.port], wiring, report, open_port)
    if wiring is None or state is None:
        return None
    return StateButton(state, wiring)


class PushToTalk(Closing):
    """Presses of the profile's button: a look once per audio frame, True when it has just gone down.

    A button seen held when first looked at (at start, after a reload, when its port comes back) has
    not been pressed: a press needs the button seen released first, for RELEASED_SECONDS.
    """

    def __init__(self, make: Callable[[Profile], Button | None], profile: Profile) -> None:
        self.make = make
        self.button = make(profile)
        self._released_since: float | None = None

    def replace_profile(self, profile: Profile) -> None:
        self.close()
        self.button = self.make(profile)

    def pressed(self, now: float) -> bool:
        down = self.button.is_down(now) if self.button is not None else None
        if down is None:
            self._released_since = None
            return False
        if not down:
            if self._released_since is None:
                self._released_since = now
            return False
        released, self._released_since = self._released_since, None
        return released is not None and now - released >= RELEASED_SECONDS

    def close(self) -> None:
        button, self.button, self._released_since = self.button, None, None
        if button is not None:
            button.close()
