"""OBD-II: the PID table both ways, ISO-TP on a python-can virtual bus, and the poller in VehicleLink."""

from __future__ import annotations

import itertools
import shutil
import threading
import time
from pathlib import Path

import can
import pytest

from carvoice.check import load_profile
from carvoice.vehicle import obd
from carvoice.vehicle.obd_can import CanObd
from carvoice.vehicle.obd_poll import ObdPoller
from carvoice.vehicle.state import VehicleState
from tests import obd_reading
from tests.conftest import until

FILES = Path(__file__).parent / "files"
VIN = "WDB1234567A890123"
_channels = itertools.count()


# --- the table ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pid", "data", "value"),
    [
        (0x0D, b"\x32", 50.0),  # A
        (0x05, b"\x7b", 83.0),  # A - 40
        (0x05, b"\x00", -40.0),
        (0x46, b"\x3c", 20.0),
        (0x2F, b"\xff", 100.0),  # 100A / 255
        (0x2F, b"\x80", round(128 * 100 / 255, 6)),
        (0x0C, b"\x1a\xf8", 1726.0),  # (256A + B) / 4
        (0x42, b"\x31\x2d", 12.589),  # (256A + B) / 1000
    ],
)
def test_decode_follows_j1979(pid, data, value):
    assert obd.decode(pid, data) == pytest.approx(value)
    assert obd.encode(pid, value) == data


def test_encode_rounds_to_the_nearest_step_and_saturates_like_a_sensor():
    assert obd.encode(0x0C, 800.1) == (3200).to_bytes(2, "big")
    assert obd.decode(0x2F, obd.encode(0x2F, 42.0)) == pytest.approx(42.0, abs=100 / 255 / 2)
    assert obd.encode(0x0D, 300) == b"\xff"
    assert obd.encode(0x05, -60) == b"\x00"
    assert obd.encode(0x42, 14.2) == (14200).to_bytes(2, "big")


def test_short_data_and_unknown_pids_are_clear_errors():
    with pytest.raises(obd.ObdError, match=r"PID 0C \(engine speed\) needs 2 data bytes"):
        obd.decode(0x0C, b"\x10")
    with pytest.raises(obd.ObdError, match="PID 99 is not one carvoice knows"):
        obd.encode(0x99, 1)


def test_supported_pids_mask_both_ways():
    # BE 1F A8 13: bit 7 of A is PID 01, bit 0 of D is PID 20.
    listed = obd_reading.decode_supported(0x00, bytes.fromhex("BE1FA813"))
    expected = [0x01, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x13, 0x15, 0x1C, 0x1F, 0x20]
    assert sorted(listed) == expected
    assert obd.encode_supported(0x00, listed) == bytes.fromhex("BE1FA813")
    assert obd_reading.decode_supported(0x40, obd.encode_supported(0x40, [0x42, 0x46, 0x60])) == {0x42, 0x46, 0x60}


def test_an_ecu_answers_from_the_table_and_stays_silent_otherwise():
    values = {0x0D: 50, 0x05: 90, 0x42: 14.1}
    assert obd.ecu_response(b"\x01\x0d", values) == bytes.fromhex("410D32")
    assert obd.ecu_response(b"\x01\x42", values) == bytes.fromhex("41423714")
    assert obd.ecu_response(b"\x01\x2f", values) is None
    assert obd.ecu_response(b"\x03", values) is None
    # 00 lists 05, 0D and 20 (more follow); 20 lists 40; 40 lists 42; 60 is not there.
    assert obd_reading.decode_supported(0x00, obd.ecu_response(b"\x01\x00", values)[2:]) == {0x05, 0x0D, 0x20}
    assert obd_reading.decode_supported(0x20, obd.ecu_response(b"\x01\x20", values)[2:]) == {0x40}
    assert obd_reading.decode_supported(0x40, obd.ecu_response(b"\x01\x40", values)[2:]) == {0x42}
    assert obd.ecu_response(b"\x01\x60", values) is None
    assert obd.ecu_response(b"\x09\x02", values, VIN) == b"\x49\x02\x01" + VIN.encode()
    assert obd.ecu_response(b"\x09\x02", values) is None


def test_responses_are_matched_to_their_request():
    assert obd.response_data(1, 0x0D, obd.response(1, 0x0D, b"\x32")) == b"\x32"
    assert obd.response_data(1, 0x0D, obd.response(1, 0x05, b"\x32")) is None
    with pytest.raises(obd.NegativeResponse) as refused:
        obd.response_data(1, 0x0D, obd_reading.negative_response(1, 0x12))
    assert refused.value.code == 0x12


# --- ISO-TP on a virtual bus --------------------------------------------------------------


class Ecu(threading.Thread):
    """A hand-written ISO 15765-4 ECU on its own virtual bus: answers functional requests on
    0x7DF from 0x7E8 + n, and sends multi-frame replies only after a flow control on 0x7E0 + n."""

    def __init__(self, channel: str, answers: dict[tuple[int, int], bytes], index: int = 0, delay: float = 0.0):
        super().__init__(daemon=True)
        self.bus = can.Bus(interface="virtual", channel=channel)
        self.answers, self.delay = answers, delay
        self.reply_id, self.request_id = 0x7E8 + index, 0x7E0 + index
        self.requests: list[bytes] = []
        self.flow_controls: list[can.Message] = []
        self.pending_first: bytes | None = None  # for (service, pid) answered 7F 01 78 first
        self._halt = threading.Event()

    def send(self, data: bytes) -> None:
        self.bus.send(can.Message(arbitration_id=self.reply_id, data=data.ljust(8, b"\xaa"), is_extended_id=False))

    def reply(self, payload: bytes) -> None:
        if len(payload) <= 7:
            self.send(bytes((len(payload),)) + payload)
            return
        self.send(bytes((0x10 | len(payload) >> 8, len(payload) & 0xFF)) + payload[:6])
        flow = self.bus.recv(timeout=1.0)
        while flow is not None and flow.arbitration_id != self.request_id:
            flow = self.bus.recv(timeout=1.0)
        if flow is None or flow.data[0] != 0x30:
            return  # no flow control: a real ECU gives up too
        self.flow_controls.append(flow)
        rest = payload[6:]
        for seq, start in enumerate(range(0, len(rest), 7), start=1):
            self.send(bytes((0x20 | seq % 16,)) + rest[start : start + 7])

    def run(self) -> None:
        while not self._halt.is_set():
            msg = self.bus.recv(timeout=0.02)
            if msg is None or msg.arbitration_id != 0x7DF:
                continue
            request = bytes(msg.data[1 : 1 + msg.data[0]])
            self.requests.append(request)
            answer = self.answers.get((request[0], request[1]))
            if answer is None:
                continue  # J1979: an ECU stays silent on a PID it does not support
            if self.pending_first == request:
                self.send(b"\x03" + obd_reading.negative_response(request[0], obd.RESPONSE_PENDING))
                time.sleep(0.15)
            elif self.delay:
                time.sleep(self.delay)
            self.reply(answer)

    def stop(self) -> None:
        self._halt.set()
        self.join(2)
        self.bus.shutdown()


def answers_for(values: dict[int, float], vin: str | None = None) -> dict[tuple[int, int], bytes]:
    requests = [(1, pid) for pid in [*values, *obd.SUPPORTED_PIDS_BASES]] + [(9, 2)]
    answers = {request: obd.ecu_response(bytes(request), values, vin) for request in requests}
    return {request: answer for request, answer in answers.items() if answer is not None}


@pytest.fixture
def channel() -> str:
    return f"obd-test-{next(_channels)}"


@pytest.fixture
def agent_bus(channel):
    """The agent's side: one bus, already read by a Notifier (as VehicleLink has it)."""
    bus = can.Bus(interface="virtual", channel=channel)
    heard: list[can.Message] = []
    notifier = can.Notifier(bus, [heard.append], timeout=0.05)
    yield bus, notifier, heard
    notifier.stop()
    bus.shutdown()


@pytest.fixture
def ecus(channel):
    started: list[Ecu] = []

    def start(answers, index=0, delay=0.0) -> Ecu:
        ecu = Ecu(channel, answers, index, delay)
        ecu.start()
        started.append(ecu)
        return ecu

    yield start
    for ecu in started:
        ecu.stop()


def test_single_frame_values_over_isotp_share_the_notifier(agent_bus, ecus):
    bus, notifier, heard = agent_bus
    ecm = ecus(answers_for({0x0D: 88, 0x05: 90, 0x2F: 40, 0x46: 12, 0x42: 13.9, 0x0C: 2210.5}))
    link = CanObd(bus, notifier, name="virtual:test")
    try:
        assert obd.read(link, 0x0D) == 88.0
        assert obd.read(link, 0x05) == 90.0
        assert obd.read(link, 0x2F) == pytest.approx(40.0, abs=0.2)
        assert obd.read(link, 0x46) == 12.0
        assert obd.read(link, 0x42) == pytest.approx(13.9)
        assert obd.read(link, 0x0C) == 2210.5
        assert obd_reading.decode_supported(0, link.query(1, 0)) == {0x05, 0x0C, 0x0D, 0x20}  # 20: more follow
    finally:
        link.close()
    assert ecm.requests[0] == b"\x01\x0d"
    # The Notifier's other listeners still hear everything, replies included.
    assert any(m.arbitration_id == 0x7E8 for m in heard)


def test_a_multi_frame_reply_gets_flow_control_at_the_ecus_physical_address(agent_bus, ecus):
    bus, notifier, _ = agent_bus
    ecm = ecus(answers_for({0x0D: 1}, vin=VIN))
    link = CanObd(bus, notifier)
    try:
        assert obd_reading.read_vin(link) == VIN
    finally:
        link.close()
    [flow] = ecm.flow_controls
    assert flow.arbitration_id == 0x7E0 and flow.data[0] == 0x30


def test_the_first_answering_ecu_wins_and_others_do_not_confuse_the_next_request(agent_bus, ecus):
    bus, notifier, _ = agent_bus
    ecus(answers_for({0x0D: 50}), index=1)  # a gearbox controller on 0x7E9 also knows the speed
    ecus(answers_for({0x0D: 50, 0x05: 70}), index=0, delay=0.01)
    link = CanObd(bus, notifier)
    try:
        assert obd.read(link, 0x0D) == 50.0
        assert obd.read(link, 0x05) == 70.0  # the ECM's late speed answer was not taken for this
    finally:
        link.close()


def test_no_answer_is_a_clean_timeout_after_p2(agent_bus, ecus):
    bus, notifier, _ = agent_bus
    ecus(answers_for({0x0D: 50}))
    link = CanObd(bus, notifier, name="virtual:test", p2=0.05)
    try:
        started = time.monotonic()
        with pytest.raises(obd.NoReply, match="virtual:test: no ECU answered OBD-II service 01 PID 2F within 50 ms"):
            obd.read(link, 0x2F)
        assert 0.04 < time.monotonic() - started < 0.5
        assert obd.read(link, 0x0D) == 50.0  # and the link still works
    finally:
        link.close()


def test_response_pending_extends_the_wait(agent_bus, ecus):
    bus, notifier, _ = agent_bus
    ecm = ecus(answers_for({0x05: 95}))
    ecm.pending_first = b"\x01\x05"
    link = CanObd(bus, notifier, p2=0.05)
    try:
        assert obd.read(link, 0x05) == 95.0  # came 150 ms later, after a 7F 01 78
    finally:
        link.close()


# --- the poller, through VehicleLink -------------------------------------------------------


def obd_profile(tmp_path: Path, source: str, channel: str = "minimal", poll_seconds: float = 0.1):
    root = tmp_path / "p"
    shutil.copytree(FILES / "profiles" / "minimal", root)
    profile_toml = root / "profile.toml"
    profile_toml.write_text(profile_toml.read_text().replace('channel = "minimal"', f'channel = "{channel}"'))
    (root / "obd.toml").write_text(
        f'[obd]\nsource = "{source}"\npoll_seconds = {poll_seconds}\n\n'
        '[state.speed]\nobd = "0D"\n\n[state.coolant]\nobd = "05"\n\n[state.fuel]\nobd = "2F"\n'
    )
    return load_profile(root)


def test_the_check_plans_with_an_obd_value_at_both_ends_of_its_range(tmp_path):
    """Coolant runs -40..215 and speed 0..255 (SAE J1979), not the 0..100 of a percentage."""
    from carvoice.act.plan import extreme_states

    low, high = extreme_states(obd_profile(tmp_path, "can"))
    assert [(low.value(n), high.value(n)) for n in ("coolant", "speed", "fuel")] == [(-40, 215), (0, 255), (0, 100)]


def test_vehicle_link_polls_obd_values_on_its_own_bus(tmp_path, channel, ecus):
    from carvoice.vehicle.link import VehicleLink

    profile = obd_profile(tmp_path, "can", channel)
    ecm = ecus(answers_for({0x0D: 42, 0x05: 88}))  # no fuel level on this car
    errors: list[str] = []
    link = VehicleLink(profile, "virtual", channel, report=errors.append)
    try:
        assert until(lambda: link.state.value("speed") == 42.0 and link.state.value("coolant") == 88.0, 3.0) is not None
        assert link.state.value("fuel") is None
        polls = link.obd.polls
        assert until(lambda: link.obd.polls >= polls + 3, 3.0) is not None
        assert errors == [
            "fuel (fuel level, PID 2F): virtual:" + channel + ": no ECU answered OBD-II service 01 PID 2F within 50 ms"
        ]  # once, not once a poll
        ecm.answers[(1, 0x0D)] = obd.response(1, 0x0D, obd.encode(0x0D, 43))
        assert until(lambda: link.state.value("speed") == 43.0, 3.0) is not None
    finally:
        started = time.monotonic()
        link.close()
        link.bus.shutdown()
    assert time.monotonic() - started < 1.0
    assert not link.obd._thread.is_alive()


def test_a_failing_link_makes_values_unknown_and_the_thread_goes_on(tmp_path, channel):
    profile = obd_profile(tmp_path, "can", channel)
    state = VehicleState(profile)

    class Flaky:
        name = "flaky"
        calls = 0

        def query(self, service, pid):
            Flaky.calls += 1
            if Flaky.calls == 1:
                raise obd.LinkError("flaky: adapter gone")
            if Flaky.calls == 2:
                raise RuntimeError("a bug")
            return obd.encode(pid, 10)

        def close(self):
            pass

    state.update("speed", 99.0)
    errors: list[str] = []
    poller = ObdPoller(Flaky(), state, 0.05, errors.append)
    poller.poll_once()
    assert state.value("speed") is None and state.value("fuel") is None  # not stale-but-trusted
    poller.start()
    try:
        assert until(lambda: state.value("fuel") == pytest.approx(10, abs=0.2), 3.0) is not None
    finally:
        poller.close()
    assert errors == ["flaky: adapter gone", "OBD-II polling failed: RuntimeError: a bug"]


def test_a_pid_carvoice_cannot_decode_is_a_profile_problem(tmp_path):
    from carvoice.profile.model import ProfileError

    root = obd_profile(tmp_path, "can").root
    (root / "obd.toml").write_text('[obd]\nsource = "can"\n\n[state.timing]\nobd = "0E"\n')
    with pytest.raises(ProfileError, match=r"state.timing.obd: carvoice does not know PID 0E \(it knows 05 coolant"):
        load_profile(root)


# --- through the bus's frame policy ---------------------------------------------------------


def test_polling_sends_only_what_the_frame_policy_allows(tmp_path, channel, ecus):
    """OBD-II requests go through the same guarded bus as commands: the polled PIDs pass, nothing else."""
    from carvoice.vehicle.link import VehicleLink

    profile = obd_profile(tmp_path, "can", channel)
    ecm = ecus(answers_for({0x0D: 42, 0x05: 88, 0x0C: 900}))
    link = VehicleLink(profile, "virtual", channel)
    try:
        assert until(lambda: link.obd.polls >= 2, 3.0) is not None
        probe = CanObd(link.bus, link.notifier, name="probe")
        with pytest.raises(obd.LinkError, match="refused by the profile's frame policy: 7DF#02010C5555555555"):
            obd.read(probe, 0x0C)  # engine speed: not a value this profile polls
        probe.close()
    finally:
        link.close()
        link.bus.shutdown()
    assert set(ecm.requests) == {b"\x01\x0d", b"\x01\x05", b"\x01\x2f"}
    assert link.bus.refused == 1


@pytest.mark.parametrize("with_flow_control", [True, False])
def test_iso_tp_flow_control_passes_the_gate_only_when_the_policy_has_it(agent_bus, ecus, with_flow_control):
    from carvoice.profile.loader import default_profile_dir
    from carvoice.safety.bus import GuardedBus
    from carvoice.safety.gate import FramePolicy
    from carvoice.vehicle.obd_can import frames_sent, single_frame

    bus, notifier, _ = agent_bus
    ecm = ecus(answers_for({0x0D: 1}, vin=VIN))
    allowed = {(0x7DF, single_frame(9, 2), False)} | (frames_sent([]) if with_flow_control else set())
    guarded = GuardedBus(bus, FramePolicy(load_profile(default_profile_dir()), allowed))
    link = CanObd(guarded, notifier)
    try:
        if with_flow_control:
            assert obd_reading.read_vin(link) == VIN
        else:
            with pytest.raises(obd.LinkError, match="refused by the profile's frame policy: 7E0#3000005555555555"):
                obd_reading.read_vin(link)
    finally:
        link.close()
    assert len(ecm.flow_controls) == int(with_flow_control)
