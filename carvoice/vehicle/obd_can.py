"""OBD-II on the agent's own CAN bus: ISO 15765-4 with 11-bit identifiers.

The request goes out functionally on 0x7DF, so every emission-related ECU may answer; ECU n
answers on 0x7E8+n and takes flow control on 0x7E0+n. Replies longer than one frame (the VIN)
are reassembled by can-isotp, one protocol engine per ECU so that two ECUs answering at once
cannot mix their frames.

The bus already has a python-can Notifier reading it for the vehicle state, and a bus can have
only one reader. So instead of can-isotp's own reader threads (NotifierBasedCanStack would add
two threads per ECU and hand every frame on the bus to each), one listener on that Notifier
passes on only the frames from 0x7E8-0x7EF, and the polling thread drives can-isotp's protocol
logic itself while it waits for an answer.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import can

from carvoice.vehicle.obd import (
    RESPONSE_PENDING,
    SHOW_CURRENT_DATA,
    LinkError,
    NegativeResponse,
    NoReply,
    request,
    response_data,
)

if TYPE_CHECKING:  # imported where it is used: only a profile that polls OBD-II over CAN needs it (0.4 MB)
    import isotp

FUNCTIONAL_REQUEST_ID = 0x7DF
FIRST_REPLY_ID = 0x7E8  # ECU n answers on 0x7E8 + n ...
PHYSICAL_OFFSET = 8  # ... and is addressed (flow control) on 0x7E0 + n
ECU_COUNT = 8
PADDING = 0x55  # ISO 15765-4 frames are always 8 bytes long; the filler is free
# The tester's flow control: continue to send (0) or overflow (2), block size 0, no separation time.
FLOW_CONTROL_STATUSES = (0, 2)


def single_frame(service: int, pid: int) -> bytes:
    """The request as it goes on the bus: an ISO-TP single frame, padded to 8 bytes."""
    payload = request(service, pid)
    return (bytes((len(payload),)) + payload).ljust(8, bytes((PADDING,)))


def frames_sent(pids: list[int]) -> set[tuple[int, bytes, bool]]:
    """Every frame polling these service 01 PIDs can put on the bus (for the bus's frame policy):
    the functional requests, and flow control to each ECU that may answer in several frames."""
    frames = {(FUNCTIONAL_REQUEST_ID, single_frame(SHOW_CURRENT_DATA, pid), False) for pid in pids}
    for n in range(ECU_COUNT):
        for status in FLOW_CONTROL_STATUSES:
            control = bytes((0x30 | status, 0, 0)).ljust(8, bytes((PADDING,)))
            frames.add((FIRST_REPLY_ID + n - PHYSICAL_OFFSET, control, False))
    return frames


class _ReplyRouter(can.Listener):
    """Runs on the Notifier thread: keeps the frames of the reply identifiers, wakes the poller."""

    def __init__(self, reply_ids: list[int]) -> None:
        self.queues: dict[int, queue.SimpleQueue[can.Message]] = {i: queue.SimpleQueue() for i in reply_ids}
        self.arrived = threading.Event()

    def on_message_received(self, msg: can.Message) -> None:
        if msg.is_extended_id or msg.is_error_frame or msg.is_remote_frame:
            return
        frames = self.queues.get(msg.arbitration_id)
        if frames is not None:
            frames.put(msg)
            self.arrived.set()

    def on_error(self, exc: Exception) -> None:
        """Bus read errors belong to the state listener; the poller just sees no reply."""

    def receiver(self, reply_id: int) -> Callable[[float], isotp.CanMessage | None]:
        """can-isotp's rxfn for one ECU; never blocks, the poller waits on `arrived` instead."""
        import isotp

        frames = self.queues[reply_id]

        def rxfn(timeout: float) -> isotp.CanMessage | None:
            try:
                msg = frames.get_nowait()
            except queue.Empty:
                return None
            return isotp.CanMessage(arbitration_id=msg.arbitration_id, dlc=msg.dlc, data=bytes(msg.data))

        return rxfn

    def drain(self) -> None:
        for frames in self.queues.values():
            while not frames.empty():
                frames.get_nowait()
        self.arrived.clear()


class CanObd:
    """Asks the ECUs on the bus, one request at a time (the poller's thread is the only caller)."""

    def __init__(
        self,
        bus: can.BusABC,
        notifier: can.Notifier,
        name: str = "can",
        p2: float = 0.05,
        p2_extended: float = 5.0,
        consecutive_frame_timeout: float = 0.15,
    ) -> None:
        """p2: how long an ECU has to start answering (P2CAN, 50 ms); p2_extended: how long after it
        said "response pending" (P2*CAN, 5 s); consecutive_frame_timeout: the gap allowed inside
        a multi-frame reply (N_Cr)."""
        import isotp

        self.bus = bus
        self.notifier = notifier
        self.name = name
        self.p2, self.p2_extended = p2, p2_extended
        reply_ids = [FIRST_REPLY_ID + n for n in range(ECU_COUNT)]
        self._router = _ReplyRouter(reply_ids)
        self._errors: list[str] = []
        params = {
            "tx_padding": PADDING,
            "blocksize": 0,  # ISO 15765-4: the tester lets the ECU send the whole reply ...
            "stmin": 0,  # ... as fast as it can
            "rx_consecutive_frame_timeout": max(1, round(consecutive_frame_timeout * 1000)),
        }
        self._ecus = [
            isotp.TransportLayerLogic(
                rxfn=self._router.receiver(reply_id),
                txfn=self._send_flow_control,
                address=isotp.Address(
                    isotp.AddressingMode.Normal_11bits, txid=reply_id - PHYSICAL_OFFSET, rxid=reply_id
                ),
                error_handler=lambda error: self._errors.append(str(error)),
                params=params,
            )
            for reply_id in reply_ids
        ]
        self._lock = threading.Lock()
        notifier.add_listener(self._router)

    def _send(self, arbitration_id: int, data: bytes) -> None:
        try:
            self.bus.send(can.Message(arbitration_id=arbitration_id, data=data, is_extended_id=False))
        except (can.CanError, OSError) as error:
            raise LinkError(f"{self.name}: could not send an OBD-II frame on {arbitration_id:03X}: {error}") from error

    def _send_flow_control(self, msg: isotp.CanMessage) -> None:
        self._send(msg.arbitration_id, bytes(msg.data))

    def query(self, service: int, pid: int) -> bytes:
        """Sends the request once and returns the first positive answer from any ECU."""
        with self._lock:
            self._router.drain()
            self._errors.clear()
            for ecu in self._ecus:
                ecu.reset()
            self._send(FUNCTIONAL_REQUEST_ID, single_frame(service, pid))
            deadline = time.monotonic() + self.p2
            refusal: NegativeResponse | None = None
            while True:
                self._router.arrived.clear()
                for ecu in self._ecus:
                    ecu.process()
                    while (reply := ecu.recv()) is not None:
                        try:
                            data = response_data(service, pid, bytes(reply))
                        except NegativeResponse as negative:
                            if negative.code == RESPONSE_PENDING:
                                deadline = max(deadline, time.monotonic() + self.p2_extended)
                            else:
                                refusal = negative
                            continue
                        if data is not None:
                            return data
                receiving = any(ecu.is_rx_active() for ecu in self._ecus)  # can-isotp times out N_Cr
                remaining = deadline - time.monotonic()
                if remaining <= 0 and not receiving:
                    break
                self._router.arrived.wait(0.005 if receiving else remaining)
        what = f"service {service:02X} PID {pid:02X}"
        if refusal is not None:
            raise NoReply(f"{self.name}: {refusal}")
        detail = f" ({'; '.join(self._errors)})" if self._errors else ""
        raise NoReply(f"{self.name}: no ECU answered OBD-II {what} within {self.p2 * 1000:.0f} ms{detail}")

    def close(self) -> None:
        with contextlib.suppress(ValueError):  # the notifier has already let go of it
            self.notifier.remove_listener(self._router)
