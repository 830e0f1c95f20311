"""Sending planned frames on a python-can bus (SocketCAN on the car, `virtual` in tests)."""

from __future__ import annotations

import errno
from typing import Any

import can

from carvoice.act import ActionFailed, PlannedAction
from carvoice.act.plan import CanFrame
from carvoice.events import Can, Event
from carvoice.lifetime import Closing

# python-can's transports that put the car's bus on a network: refused from a profile and the command line.
NETWORK_CAN_INTERFACES = frozenset({"udp_multicast", "socketcand", "remote"})


def network_bus_problem(interface: str) -> str | None:
    """Why a bus may not be used, when it is carried over the network (the daemon opens no network socket)."""
    if interface in NETWORK_CAN_INTERFACES:
        return f"{interface!r} carries CAN over the network; carvoice only opens a bus on this machine"
    return None


def parse_bus_spec(spec: str) -> tuple[str, str]:
    """`INTERFACE:CHANNEL` as given on the command line, e.g. socketcan:vcan0; a network bus is refused."""
    interface, sep, channel = spec.partition(":")
    if not sep or not interface or not channel:
        raise ValueError(f"{spec!r}: write the bus as INTERFACE:CHANNEL, e.g. socketcan:can0 or virtual:test")
    problem = network_bus_problem(interface)
    if problem is not None:
        raise ValueError(problem)
    return interface, channel


def open_bus(interface: str, channel: str, bitrate: int | None = None, **options: Any) -> can.BusABC:
    kwargs: dict[str, Any] = {"interface": interface, "channel": channel, **options}
    if bitrate and interface not in ("virtual", "socketcan"):
        kwargs["bitrate"] = bitrate  # SocketCAN takes its bitrate from `ip link`, not from us
    try:
        return can.Bus(**kwargs)
    except (can.CanError, OSError, ValueError, ImportError) as error:
        hint = _socketcan_hint(channel, error)
        raise ActionFailed(f"cannot open CAN bus {interface}:{channel}: {error}{hint}") from error


def _socketcan_hint(channel: str, error: Exception) -> str:
    """Where to get SocketCAN when this machine lacks it (a container, a laptop without vcan)."""
    code = getattr(error, "errno", None)
    if code == errno.EAFNOSUPPORT:
        return (
            "; this kernel has no SocketCAN: run carvoice inside scripts/vcan-uml (user-mode Linux with a real"
            " vcan0), or use python-can's in-process bus (virtual:NAME)"
        )
    if code == errno.ENODEV:
        return f"; there is no {channel}: scripts/can-up creates vcan0 (as root), or use scripts/vcan-uml"
    return ""


class CanSink(Closing):
    """Sends command frames on a bus it does not own: whoever opened the bus (the VehicleLink) shuts it down."""

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
        pass  # nothing of its own: the bus is the link's
