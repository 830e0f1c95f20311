"""A hostile node on the bus spoofs "0 km/h, P" while the car drives at 50 km/h in D: the trunk stays shut.

Each attack runs 20 trials against the simulated car (the real sender of VEHICLE_DYNAMICS), on
python-can's virtual bus here and on a real vcan0 inside user-mode Linux (scripts/vcan-test). In
every trial the attacker starts at a random moment before "open the trunk" is decided; meanwhile
the agent's speed is sampled and must never read as the spoofed 0.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator

import can
import pytest

from tests.conftest import open_test_bus, until
from tests.faults import Cabin, record

TRIALS = 20
SPOOF = {"VehicleSpeed": 0, "Gear": 0, "ParkingBrake": 1, "Ignition": 2}  # parked: what opens the trunk


@pytest.fixture
def cabin(bus_spec: str, demo_profile) -> Iterator[Cabin]:
    cabin = Cabin(demo_profile, bus_spec)
    yield cabin
    cabin.close()


class Attacker:
    """A second node sending VEHICLE_DYNAMICS on its own thread, in one of several ways."""

    def __init__(self, spec: str, dbc, how: str) -> None:
        self.bus = open_test_bus(spec)
        self.message = dbc.get_message_by_name("VEHICLE_DYNAMICS")
        self.how = how
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=getattr(self, f"_{how}"), daemon=True)

    def frame(self, counter: int) -> can.Message:
        data = self.message.encode({**SPOOF, "DynCounter": counter % 16})
        return can.Message(arbitration_id=self.message.frame_id, data=data, is_extended_id=False)

    def _send(self, frame: can.Message) -> None:
        try:
            self.bus.send(frame, timeout=0.01)
            self.sent += 1
        except can.CanError:
            pass

    def _own_counter_1khz(self) -> None:
        """Counts correctly on its own, as fast as it can (1 kHz)."""
        counter = 0
        while not self._stop.wait(0.001):
            self._send(self.frame(counter))
            counter += 1

    def _copied_counter(self) -> None:
        """Hears the car's frame and sends the next counter value half a cycle later, just before the car does."""
        self.bus.set_filters([{"can_id": self.message.frame_id, "can_mask": 0x7FF, "extended": False}])
        while not self._stop.is_set():
            heard = self.bus.recv(0.05)
            if heard is None or len(heard.data) != self.message.length:
                continue
            counter = self.message.decode(bytes(heard.data), decode_choices=False)["DynCounter"]
            time.sleep(0.011)
            self._send(self.frame(counter + 1))

    def _frozen_counter(self) -> None:
        """One recorded "parked" frame replayed at the car's own 50 Hz, counter stuck."""
        frame = self.frame(7)
        while not self._stop.wait(0.02):
            self._send(frame)

    def __enter__(self) -> Attacker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.bus.shutdown()


def sample_while(seconds: float, read: Callable[[], object]) -> list[object]:
    values, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        values.append(read())
        time.sleep(0.003)
    return values


@pytest.mark.parametrize("how", ["own_counter_1khz", "copied_counter", "frozen_counter"])
def test_a_spoofed_standstill_never_opens_the_trunk(car, cabin, bus_spec, demo_profile, how):
    car.car.set("speed", 50)
    car.car.set("gear", "D")
    state = cabin.link.state
    assert until(lambda: state.value("speed") == 50 and state.value("gear") == "D", 3.0) is not None
    rng = random.Random(how)
    read: list[object] = []
    reasons: list[str] = []
    for _ in range(TRIALS):
        cabin.events.clear()
        with Attacker(bus_spec, demo_profile.dbc, how):
            read += sample_while(rng.uniform(0.0, 0.15), lambda: (state.value("speed"), state.value("gear")))
            cabin.agent.decide("trunk", {"action": "open"})
            read += sample_while(0.05, lambda: (state.value("speed"), state.value("gear")))
        assert cabin.kinds() == ["Refused", "Say"], cabin.events
        reasons.append(cabin.events[0].reason)
        # The car's own frames alone, in order again: trusted after the hold.
        assert until(lambda: state.value("speed") == 50, 5.0) is not None, cabin.reports
    assert cabin.settle() == []  # not one 2F2#04 reached the bus
    assert car.car.snapshot()["TrunkOpen"] == 0
    spoofed = [r for r in read if r[0] == 0 or r[1] == "P"]
    assert spoofed == [], f"{len(spoofed)} of {len(read)} reads believed the spoof"
    assert any("counter" in report for report in cabin.reports), cabin.reports
    untrusted = sum("not trusted" in reason for reason in reasons)
    record(
        f"second sender on 0x1A0 ({how.replace('_', ' ')}), car at 50 km/h D",
        f"trunk refused {TRIALS}/{TRIALS} ({untrusted} as untrusted, the rest by the real 50 km/h); "
        f"{len(read)} reads of speed/gear, 0 spoofed",
        None,
        bus_spec.split(":")[0],
    )
