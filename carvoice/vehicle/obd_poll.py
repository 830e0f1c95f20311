"""Polls the profile's OBD-II values into the vehicle state on a thread of its own.

A car answers OBD-II only when asked, so unlike bus signals these values are fetched: every
poll_seconds, each `[state.NAME] obd = "PID"` is asked for once. A failed request makes the
value unknown at once (a rule that needs it refuses rather than trusting an old reading) and is
reported, but the thread goes on: the adapter may come back, the ECU may wake up.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

import can

from carvoice.profile.model import ObdSettings, Profile
from carvoice.vehicle.obd import LinkError, ObdError, ObdLink, pid_info, read
from carvoice.vehicle.state import VehicleState

ErrorCallback = Callable[[str], None]


def obd_sources(profile: Profile) -> dict[str, int]:
    """The state values the profile reads by OBD-II, name -> PID."""
    return {name: s.obd_pid for name, s in profile.state.items() if s.obd_pid is not None}


def open_obd_link(
    settings: ObdSettings, bus: can.BusABC | None = None, notifier: can.Notifier | None = None, bus_name: str = "can"
) -> ObdLink:
    """The link `[obd] source` names: "can" for the agent's own bus, else an ELM327's pyserial URL."""
    if settings.source == "can":
        from carvoice.vehicle.obd_can import CanObd

        if bus is None or notifier is None:
            raise ObdError('[obd] source = "can" needs the CAN bus, and there is none')
        return CanObd(bus, notifier, name=bus_name)
    from carvoice.vehicle.elm327 import Elm327

    return Elm327(settings.source, settings.baudrate)


def start_obd_poller(
    profile: Profile,
    state: VehicleState,
    bus: can.BusABC | None = None,
    notifier: can.Notifier | None = None,
    bus_name: str = "can",
    on_error: ErrorCallback | None = None,
) -> ObdPoller | None:
    """A running poller when the profile reads anything by OBD-II, else None."""
    if profile.obd is None or not obd_sources(profile):
        return None
    link = open_obd_link(profile.obd, bus, notifier, bus_name)
    return ObdPoller(link, state, profile.obd.poll_seconds, on_error).start()


class ObdPoller:
    """Asks for each OBD-II value in turn, every poll_seconds, until closed."""

    def __init__(
        self, link: ObdLink, state: VehicleState, poll_seconds: float, on_error: ErrorCallback | None = None
    ) -> None:
        self.link = link
        self.state = state
        self.poll_seconds = poll_seconds
        self.on_error = on_error
        self.polls = 0  # cycles done, whether they worked or not
        self._reported: dict[str, str] = {}  # what was last reported per value ("" key: the link)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="carvoice-obd", daemon=True)

    def start(self) -> ObdPoller:
        self._thread.start()
        return self

    def _run(self) -> None:
        next_poll = time.monotonic()
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception as error:  # a bug here must not end OBD polling for the whole drive
                self._report("", f"OBD-II polling failed: {type(error).__name__}: {error}")
            self.polls += 1
            next_poll = max(next_poll + self.poll_seconds, time.monotonic())
            self._stop.wait(next_poll - time.monotonic())

    def poll_once(self) -> None:
        """One request per value. When the link itself is down, the rest of the cycle is skipped
        (each would only wait for the same dead adapter) and every value becomes unknown."""
        sources = obd_sources(self.state.profile)
        for position, (name, pid) in enumerate(sources.items()):
            if self._stop.is_set():
                return
            try:
                value = read(self.link, pid)
            except LinkError as error:
                for other in list(sources)[position:]:
                    self.state.update(other, None)
                self._report("", str(error))
                return
            except ObdError as error:
                self.state.update(name, None)
                self._report(name, f"{name} ({pid_info(pid).name}, PID {pid:02X}): {error}")
                continue
            self.state.update(name, value)
            self._reported.pop(name, None)
            self._reported.pop("", None)

    def _report(self, key: str, message: str) -> None:
        """Each failure once, not once a poll: the same message again is not news."""
        if self._reported.get(key) == message:
            return
        self._reported[key] = message
        if self.on_error is not None:
            try:
                self.on_error(message)
            except Exception as error:  # a broken reporter must not end polling either
                print(f"carvoice: OBD-II: {message} (and reporting it failed: {error!r})", file=sys.stderr)

    def close(self) -> None:
        """Stops within one request: the link is closed under a request in progress."""
        self._stop.set()
        self.link.close()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)
