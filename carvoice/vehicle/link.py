"""The agent's connection to the car: one guarded bus for sending and for hearing state, and a log of both."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import can

from carvoice.act.can import open_bus
from carvoice.lifetime import Closing
from carvoice.profile.model import Profile
from carvoice.safety.bus import GuardedBus
from carvoice.safety.gate import FramePolicy
from carvoice.vehicle.obd_can import FIRST_REPLY_ID, frames_sent
from carvoice.vehicle.obd_poll import ErrorCallback, obd_sources, start_obd_poller
from carvoice.vehicle.state import StateListener, VehicleState


class SessionLog(can.Listener):
    """What the agent sent and the frames it listens to, in candump's log format (replay with canplayer).

    The kernel's acceptance filters stay on while logging, so this is not a capture of the whole
    bus: for that, run candump beside the agent.
    """

    def __init__(self, path: str | Path, channel: str) -> None:
        self._writer = can.CanutilsLogWriter(path, channel=channel)
        self._lock = threading.Lock()

    def on_message_received(self, msg: can.Message) -> None:
        with self._lock:
            self._writer.on_message_received(msg)

    def stop(self) -> None:
        """The Notifier says it stops reading; the link still drains the bus into the log, then closes it."""

    def close(self) -> None:
        with self._lock:
            self._writer.stop()


def watched_frames(profile: Profile) -> list[can.typechecking.CanFilter]:
    """Acceptance filters: the status messages the profile's state names, and OBD-II answers."""
    filters: list[can.typechecking.CanFilter] = [{"can_id": FIRST_REPLY_ID, "can_mask": 0x7F8}]
    for source in profile.state.values():
        if source.message is not None and profile.dbc is not None:
            message = profile.dbc.get_message_by_name(source.message)
            mask = 0x1FFFFFFF if message.is_extended_frame else 0x7FF
            filters.append({"can_id": message.frame_id, "can_mask": mask, "extended": message.is_extended_frame})
    return filters


class VehicleLink(Closing):
    """Opens the bus and listens to it on a Notifier thread, so that the audio loop never waits for CAN.

    `bus` is the guarded one (carvoice.safety.bus): whatever sends through the link, commands or
    OBD-II polling, sends only what the profile's frame policy allows.
    """

    def __init__(
        self,
        profile: Profile,
        interface: str,
        channel: str,
        log_path: str | Path | None = None,
        report: ErrorCallback | None = None,
    ) -> None:
        """`report` hears, on the listening and polling threads, when the bus or OBD-II fails and recovers."""
        raw = open_bus(interface, channel, profile.can.bitrate)
        with contextlib.ExitStack() as undo:  # a later step that fails (a --can-log path) closes what is open
            undo.callback(raw.shutdown)
            self.name = f"{interface}:{channel}"
            self.state = VehicleState(profile)
            self.log = SessionLog(log_path, channel) if log_path is not None else None
            if self.log is not None:
                undo.callback(self.log.close)
            self.bus = GuardedBus(raw, frame_policy(profile), self.log.on_message_received if self.log else None)
            # The kernel drops what we do not watch, so a flood of other traffic never reaches Python.
            self.bus.set_filters(watched_frames(profile))
            listeners: list[can.Listener] = [StateListener(self.state, report)]
            if self.log is not None:
                listeners.append(self.log)
            self.notifier = can.Notifier(self.bus, listeners, timeout=0.1)
            undo.callback(self.notifier.stop)
            # OBD-II values the profile names are asked for on a thread of their own, on this bus or an ELM327.
            self.obd = start_obd_poller(profile, self.state, self.bus, self.notifier, self.name, report)
            undo.pop_all()

    def replace_profile(self, profile: Profile) -> None:
        """A reloaded profile may watch other signals and send other frames; values heard so far are kept
        where they still apply."""
        self.state.replace_profile(profile)
        self.bus.policy = frame_policy(profile)
        self.bus.set_filters(watched_frames(profile))

    def close(self) -> None:
        """The Notifier stops before the bus shuts down, so that it never reads a closed socket; the link
        opened the bus, so the link shuts it down."""
        if self.obd is not None:
            self.obd.close()
        self.notifier.stop()
        if self.log is not None:
            # What arrived after the Notifier's last read still goes in the log.
            with contextlib.suppress(can.CanError, OSError):
                while (message := self.bus.recv(0)) is not None:
                    self.log.on_message_received(message)
            self.log.close()
        self.bus.shutdown()


def frame_policy(profile: Profile) -> FramePolicy:
    """The profile's commands, and the OBD-II requests and flow control its [obd] polling sends on this bus."""
    polled = list(obd_sources(profile).values()) if profile.obd is not None and profile.obd.source == "can" else []
    return FramePolicy(profile, frames_sent(polled) if polled else ())
