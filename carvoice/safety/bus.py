"""The one way from the agent to the car's bus: every frame passes the profile's frame policy here.

Commands (CanSink), OBD-II requests and ISO-TP flow control (CanObd) all send through a
`GuardedBus`, a python-can bus wrapped around the real one, so no part of the agent can put a
frame on the bus that the profile does not define; a refused frame raises `RefusedFrame`, a
`can.CanError`, which each sender already reports as a failed send. It also writes each frame
it sent to the session log, so that `--can-log` needs neither the kernel's echo nor its
acceptance filters switched off.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import can

from carvoice.act.plan import CanFrame
from carvoice.errors import CarvoiceError
from carvoice.safety.gate import FramePolicy


class RefusedFrame(CarvoiceError, can.CanOperationError):
    """A frame the profile's policy does not allow; it never reached the bus."""


class GuardedBus(can.BusABC):
    """A python-can bus that sends only what `policy` allows; reading and filters pass straight through."""

    def __init__(
        self, bus: can.BusABC, policy: FramePolicy, on_sent: Callable[[can.Message], None] | None = None
    ) -> None:
        self.inner = bus
        self.policy = policy  # replaced as a whole when the profile is reloaded
        self.on_sent = on_sent
        self.refused = 0
        self.channel_info = bus.channel_info
        super().__init__(channel=getattr(bus, "channel", ""))

    def send(self, msg: can.Message, timeout: float | None = None) -> None:
        if not self.policy.allows_message(msg):
            self.refused += 1
            text = CanFrame(msg.arbitration_id, bytes(msg.data), msg.is_extended_id).text
            raise RefusedFrame(f"refused by the profile's frame policy: {text} is not a frame it defines")
        self.inner.send(msg, timeout)
        if self.on_sent is not None:
            sent = can.Message(
                timestamp=msg.timestamp or time.time(),
                arbitration_id=msg.arbitration_id,
                is_extended_id=msg.is_extended_id,
                data=msg.data,
                is_rx=False,
                channel=msg.channel,
            )
            self.on_sent(sent)

    def recv(self, timeout: float | None = None) -> can.Message | None:
        return self.inner.recv(timeout)

    def set_filters(self, filters: Any = None) -> None:
        self._filters = filters or None
        self.inner.set_filters(filters)

    def flush_tx_buffer(self) -> None:
        self.inner.flush_tx_buffer()

    def fileno(self) -> int:
        return self.inner.fileno()

    def shutdown(self) -> None:
        if self._is_shutdown:  # the link shuts it down, and a test's cleanup may again
            return
        super().shutdown()
        self.inner.shutdown()

