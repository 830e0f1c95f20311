"""Sending planned frames on a python-can bus (SocketCAN on the car, `virtual` in tests)."""

from __future__ import annotations

from typing import Any

import can

from carvoice.act import ActionFailed, PlannedAction
from carvoice.act.plan import CanFrame
from carvoice.events import Can, Event


def parse_bus_spec(spec: str) -> tuple[str, str]:
    """`INTERFACE:CHANNEL` as given on the command line, e.g. socketcan:vcan0."""
    interface, sep, channel = spec.partition(":")
    if not sep or not interface or not channel:
        raise ValueError(f"{spec!r}: write the bus as INTERFACE:CHANNEL, e.g. socketcan:can0 or virtual:test")
    return interface, channel


def open_bus(interface: str, channel: str, bitrate: int | None = None, **options: Any) -> can.BusABC:
    kwargs: dict[str, Any] = {"interface": interface, "channel": channel, **options}
    if bitrate and interface not in ("virtual", "socketcan"):
        kwargs["bitrate"] = bitrate  # SocketCAN takes its bitrate from `ip link`, not from us
    try:
        return can.Bus(**kwargs)
    except (can.CanError, OSError, ValueError, ImportError) as error:
        raise ActionFailed(f"cannot open CAN bus {interface}:{channel}: {error}") from error


class CanSink:
    def __init__(self, bus: can.BusABC, channel_name: str = "") -> None:
        self.bus = bus
        self.channel_name = channel_name or str(getattr(bus, "channel_info", ""))

    def accepts(self, action: PlannedAction) -> bool:
        return isinstance(action, CanFrame)

    def perform(self, action: PlannedAction, t: float) -> Event:
        assert isinstance(action, CanFrame)
        message = can.Message(
            arbitration_id=action.arbitration_id,
            data=action.data,
            is_extended_id=action.extended,
        )
        try:
            self.bus.send(message, timeout=0.2)
        except (can.CanError, OSError) as error:
            raise ActionFailed(f"CAN send of {action.text} failed on {self.channel_name}: {error}") from error
        return Can(
            t, frame=action.text, message=action.message, signals=dict(action.signals), channel=self.channel_name
        )

    def close(self) -> None:
        self.bus.shutdown()
