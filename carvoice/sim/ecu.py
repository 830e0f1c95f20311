"""The simulated car's ECUs on a python-can bus: status broadcasts at the DBC's cycle times, commands
applied, OBD-II answered."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import can

from carvoice.profile.model import Profile
from carvoice.sim.car import Change, SimCar, car_for, command_messages, status_periods
from carvoice.vehicle import obd
from carvoice.vehicle.integrity import CHECKSUMS, SequenceRules, checksum_byte
from carvoice.vehicle.state import sequence_rules

TICK_SECONDS = 0.005
# OBD-II on CAN (ISO 15765-4, 11-bit): requests to all ECUs or to the engine ECU, its answers.
OBD_FUNCTIONAL, OBD_ENGINE_REQUEST, OBD_ENGINE_REPLY = 0x7DF, 0x7E0, 0x7E8
SIM_VIN = "1CARVOICE0SIM0001"


class SimEcu:
    """Everything on the bus that is not the head unit."""

    def __init__(
        self,
        bus: can.BusABC,
        profile: Profile,
        car: SimCar | None = None,
        on_change: Callable[[list[Change]], None] | None = None,
    ) -> None:
        self.bus = bus
        self.car = car or car_for(profile)
        self.on_change = on_change
        self.commands = {(m.frame_id, m.is_extended_frame): m for m in command_messages(profile)}
        self.periods = status_periods(profile)
        self.statuses = [profile.dbc.get_message_by_name(name) for name in self.periods]
        # The counter and checksum byte the profile names per message: the head unit distrusts it without them.
        self.sequences = {d.name: _Sequence.of(d, rules) for d, _, rules, _ in sequence_rules(profile).values()}
        self.broadcasting = True  # False makes the bus go quiet: the head unit's values age out
        self.encode_errors = 0  # status frames that could not be encoded from the values held
        # The longest wait between two frames of one status message, in its cycle times (about 1 when
        # punctual): a busy machine that delays the simulated car is told apart from a fault under test.
        self.longest_gap_cycles = 0.0
        self._counters: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._broadcast, name="sim-broadcast", daemon=True)
        self._notifier: can.Notifier | None = None
        self._isotp_rest: bytes = b""  # a multi-frame OBD answer waiting for the tester's flow control

    def start(self) -> SimEcu:
        # Only commands and OBD-II requests concern the car; the kernel (or python-can) drops the rest.
        wanted = [*self.commands, (OBD_FUNCTIONAL, False), (OBD_ENGINE_REQUEST, False)]
        self.bus.set_filters(
            [
                {"can_id": frame_id, "can_mask": 0x1FFFFFFF if extended else 0x7FF, "extended": extended}
                for frame_id, extended in wanted
            ]
        )
        self._notifier = can.Notifier(self.bus, [_Ears(self.on_frame)], timeout=0.05)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        if self._notifier is not None:
            self._notifier.stop()

    def __enter__(self) -> SimEcu:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def on_frame(self, msg: can.Message) -> None:
        if msg.arbitration_id in (OBD_FUNCTIONAL, OBD_ENGINE_REQUEST) and not msg.is_extended_id:
            self._answer_obd(bytes(msg.data))
            return
        definition = self.commands.get((msg.arbitration_id, msg.is_extended_id))
        if definition is None or msg.is_error_frame or msg.is_remote_frame:
            return
        try:
            if len(msg.data) != definition.length:
                raise ValueError(f"{len(msg.data)} bytes, the DBC says {definition.length}")
            signals = definition.decode(bytes(msg.data), decode_choices=True)
        except Exception:  # cantools raises several kinds; a frame that does not fit the DBC changes nothing
            return
        changes = self.car.apply(signals)
        if changes and self.on_change is not None:
            self.on_change(changes)

    def _answer_obd(self, data: bytes) -> None:
        """The engine ECU's side of ISO-TP: single frames, or a first frame then the rest after flow control."""
        if not data:
            return
        kind = data[0] >> 4
        if kind == 3 and self._isotp_rest:  # flow control: clear to send
            separation = min(data[2], 127) / 1000 if len(data) > 2 else 0.0
            rest, self._isotp_rest = self._isotp_rest, b""
            for index in range(0, len(rest), 7):
                self._send_obd(bytes([0x20 | ((index // 7 + 1) & 0x0F)]) + rest[index : index + 7])
                time.sleep(separation)
            return
        length = data[0] & 0x0F
        if kind != 0 or not 1 <= length <= len(data) - 1:
            return
        answer = obd.ecu_response(data[1 : 1 + length], self.car.obd_values(), SIM_VIN)
        if answer is None:
            return
        if len(answer) <= 7:
            self._send_obd(bytes([len(answer)]) + answer)
        else:
            self._isotp_rest = answer[6:]
            self._send_obd(bytes([0x10 | (len(answer) >> 8), len(answer) & 0xFF]) + answer[:6])

    def _send_obd(self, data: bytes) -> None:
        frame = can.Message(arbitration_id=OBD_ENGINE_REPLY, data=data.ljust(8, b"\xaa"), is_extended_id=False)
        with contextlib.suppress(can.CanError):  # a full or downed bus: the head unit asks again
            self.bus.send(frame, timeout=0.05)

    def status_frame(self, definition: Any, values: dict[str, Any]) -> can.Message:
        """The next frame of a status message, its rolling counter one up and its checksum filled in."""
        sequence = self.sequences.get(definition.name, _Sequence())
        count = self._counters.get(definition.name, 0)
        signals = {}
        for signal in definition.signals:
            if signal.name == sequence.counter or signal.name.endswith("Counter"):
                self._counters[definition.name] = count + 1
                signals[signal.name] = count % (1 << signal.length)
            else:
                signals[signal.name] = values.get(signal.name, 0)
        data = bytearray(definition.encode(signals, strict=False))
        if sequence.checksum is not None:
            at, checksum = sequence.checksum
            data[at] = checksum(bytes(data[:at] + data[at + 1 :]))
        return can.Message(
            arbitration_id=definition.frame_id, data=bytes(data), is_extended_id=definition.is_extended_frame
        )

    def _broadcast(self) -> None:
        start = last = time.monotonic()
        due = dict.fromkeys((m.name for m in self.statuses), start)
        sent: dict[str, float] = {}
        while not self._stop.wait(TICK_SECONDS):
            now = time.monotonic()
            self.car.advance(now - last)
            last = now
            if not self.broadcasting:
                sent.clear()  # a silence asked for is no lateness
                continue
            values = self.car.snapshot()
            for definition in self.statuses:
                if now < due[definition.name]:
                    continue
                period = self.periods[definition.name]
                if definition.name in sent:
                    self.longest_gap_cycles = max(self.longest_gap_cycles, (now - sent[definition.name]) / period)
                sent[definition.name] = now
                due[definition.name] = max(due[definition.name] + period, now)
                try:
                    frame = self.status_frame(definition, values)
                except Exception:  # cantools raises several kinds; one message must not silence the car
                    self.encode_errors += 1
                    continue
                with contextlib.suppress(can.CanError):  # the next period sends fresh values anyway
                    self.bus.send(frame, timeout=0.05)


@dataclass(frozen=True)
class _Sequence:
    """What the simulated sender of one status message keeps in order: its counter signal, and the
    checksum byte with the function that fills it."""

    counter: str | None = None
    checksum: tuple[int, Callable[[bytes], int]] | None = None

    @classmethod
    def of(cls, definition: Any, rules: SequenceRules) -> _Sequence:
        at = checksum_byte(definition, rules.checksum) if rules.checksum else None
        checksum = (at, CHECKSUMS[rules.checksum_type]) if at is not None and rules.checksum_type else None
        return cls(rules.counter, checksum)


class _Ears(can.Listener):
    """The simulated car outlives a bus that goes down (`ip link set vcan0 down`), as ECUs do."""

    def __init__(self, hear: Callable[[can.Message], None]) -> None:
        self.hear = hear

    def on_message_received(self, msg: can.Message) -> None:
        self.hear(msg)

    def on_error(self, exc: Exception) -> None:
        time.sleep(0.1)
