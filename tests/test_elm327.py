"""The ELM327 path against ELM327-emulator (a third-party implementation of the adapter), run as
a real process on a loopback TCP port and on a pseudo-terminal."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from carvoice.vehicle import obd
from carvoice.vehicle.elm327 import Elm327
from tests import obd_reading
from tests.conftest import until
from tests.test_obd import obd_profile

# Part of the test extra, so a missing emulator is a failure (scripts/setup --test), not a skip.
EMULATOR = shutil.which("elm", path=str(Path(sys.executable).parent)) or shutil.which("elm")

# The emulator's "car" scenario answers from fixed lists, starting again on each start:
# speed 0A (10 km/h), coolant 5F (55 °C), fuel AA (66.7 %), VIN WP0ZZZ99ZTS390000.
FIRST_SPEED, FIRST_COOLANT, FUEL = 10.0, 55.0, 170 * 100 / 255


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Emulator:
    """ELM327-emulator in batch mode (no console), serving one TCP port or a pty."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port, self.workdir = port, workdir
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def start(self) -> Emulator:
        assert EMULATOR is not None, "ELM327-emulator is not installed: run scripts/setup --test"
        batch = self.workdir / "elm-batch.txt"
        batch.unlink(missing_ok=True)
        command = [EMULATOR, "-s", "car", "-b", str(batch)] + (["-n", str(self.port)] if self.port else [])
        self.process = subprocess.Popen(
            command, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        ready = self._listening if self.port else lambda: batch.exists() and batch.read_text().startswith("/dev/")
        assert until(ready, 10.0) is not None, "ELM327-emulator did not start"
        return self

    def _listening(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    @property
    def device(self) -> str:
        return (self.workdir / "elm-batch.txt").read_text().splitlines()[0].strip()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # (it ignored this when an earlier test left SIGTERM ignored: conftest)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def emulator(tmp_path):
    started = Emulator(tmp_path, free_port()).start()
    yield started
    started.stop()


def test_speed_coolant_fuel_and_vin_from_the_emulator(emulator):
    elm = Elm327(emulator.url)
    try:
        assert obd.read(elm, 0x0D) == FIRST_SPEED  # the first answer comes after SEARCHING...
        assert obd.read(elm, 0x05) == FIRST_COOLANT
        assert obd.read(elm, 0x2F) == pytest.approx(FUEL, abs=1e-3)
        assert obd_reading.read_vin(elm) == "WP0ZZZ99ZTS390000"  # three lines from 7E8, reassembled
        assert elm.identity.startswith("ELM327")
    finally:
        elm.close()


def test_echo_and_spaces_are_understood_too(emulator):
    """An adapter that keeps echoing and spacing (a clone ignoring ATE0/ATS0) still reads right."""
    elm = Elm327(emulator.url)
    try:
        obd.read(elm, 0x0D)
        with elm._lock:
            assert elm._command("ATE1", 1.0) == ["OK"]
            assert elm._command("ATS1", 1.0) == ["OK"]
            assert elm._command("012F", 1.0) == ["7E8 03 41 2F AA"]  # echo removed, spaces kept
        assert obd.read(elm, 0x2F) == pytest.approx(FUEL, abs=1e-3)
        assert obd_reading.read_vin(elm) == "WP0ZZZ99ZTS390000"
    finally:
        elm.close()


def test_no_data_is_a_missing_value_not_a_broken_link(emulator):
    elm = Elm327(emulator.url)
    try:
        obd.read(elm, 0x0D)
        port = elm._port
        with pytest.raises(obd.NoReply, match=rf"ELM327 at {emulator.url}: NO DATA for 01FF"):
            elm.query(1, 0xFF)
        assert elm._port is port  # not reopened and reinitialised for a PID the car lacks
        assert obd.read(elm, 0x05) == FIRST_COOLANT
    finally:
        elm.close()


def test_the_emulator_stopped_and_restarted(emulator):
    """The key proof: a query while the adapter is gone fails cleanly, the next one works."""
    elm = Elm327(emulator.url)
    try:
        assert obd.read(elm, 0x0D) == FIRST_SPEED
        emulator.stop()
        with pytest.raises(obd.LinkError, match=rf"ELM327 at {emulator.url}: "):
            obd.read(elm, 0x05)
        with pytest.raises(obd.LinkError, match="cannot open the port"):
            obd.read(elm, 0x05)
        emulator.start()
        assert obd.read(elm, 0x05) == FIRST_COOLANT  # reopened and initialised again
        assert obd.read(elm, 0x2F) == pytest.approx(FUEL, abs=1e-3)
    finally:
        elm.close()


def test_the_agent_polls_the_emulator_and_survives_its_restart(tmp_path, emulator):
    from carvoice.vehicle.link import VehicleLink

    profile = obd_profile(tmp_path, emulator.url, channel="elm-test", poll_seconds=0.1)
    errors: list[str] = []
    link = VehicleLink(profile, "virtual", "elm-test", report=errors.append)
    state = link.state
    try:
        assert until(lambda: None not in state.snapshot().values(), 5.0) is not None
        assert state.value("coolant") in {55.0, 28.0, 36.0, 60.0, 45.0, 51.0, 32.0, 29.0, 46.0, 40.0, 44.0, 26.0, 62.0}
        assert state.value("fuel") == pytest.approx(FUEL, abs=1e-3)
        assert errors == []
        emulator.stop()
        all_unknown = {"speed": None, "coolant": None, "fuel": None}
        assert until(lambda: errors and state.snapshot() == all_unknown, 3.0) is not None
        assert errors[0].startswith(f"ELM327 at {emulator.url}: ")
        failures, polls = len(errors), link.obd.polls
        assert until(lambda: link.obd.polls >= polls + 3, 5.0) is not None  # a few more failed polls ...
        assert len(errors) <= failures + 1  # ... are not reported again (at most: "went away", then "cannot open")
        emulator.start()
        assert until(lambda: state.value("fuel") == pytest.approx(FUEL, abs=1e-3), 5.0) is not None
        assert state.value("speed") is not None
    finally:
        started = time.monotonic()
        link.close()
        link.bus.shutdown()
    assert time.monotonic() - started < 1.0


def test_a_pseudo_terminal_like_a_usb_adapter(tmp_path):
    emulator = Emulator(tmp_path).start()
    try:
        elm = Elm327(emulator.device, baudrate=38400)
        try:
            assert obd.read(elm, 0x05) == FIRST_COOLANT
        finally:
            elm.close()
    finally:
        emulator.stop()


def test_a_silent_port_times_out_with_its_name(tmp_path):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"socket://127.0.0.1:{server.getsockname()[1]}"
        elm = Elm327(url, timeout=0.2, reset_timeout=0.3)
        started = time.monotonic()
        with pytest.raises(obd.LinkError, match=rf"ELM327 at {url}: no prompt within 0.3 s"):
            obd.read(elm, 0x0D)
        assert time.monotonic() - started < 2.0
        assert elm._port is None  # the next query starts afresh


def test_not_an_elm327(tmp_path):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"socket://127.0.0.1:{server.getsockname()[1]}"

        def modem() -> None:
            peer, _ = server.accept()
            with peer:
                while data := peer.recv(100):
                    peer.sendall(b"ERROR\r>" if b"ATZ" in data else b">")

        threading.Thread(target=modem, daemon=True).start()
        elm = Elm327(url)
        with pytest.raises(obd.LinkError, match=rf"ELM327 at {url}: not an ELM327 \(ATZ answered ERROR\)"):
            obd.read(elm, 0x0D)
        elm.close()


@pytest.mark.parametrize(
    ("lines", "error", "message"),
    [
        (["SEARCHING...", "UNABLE TO CONNECT"], obd.LinkError, "answered 010D: UNABLE TO CONNECT"),
        (["CAN ERROR"], obd.LinkError, "answered 010D: CAN ERROR"),
        (["STOPPED"], obd.LinkError, "answered 010D: STOPPED"),
        (["?"], obd.LinkError, "did not understand 010D"),
        (["BUS INIT: ...ERROR"], obd.LinkError, "BUS INIT: ...ERROR"),
        (["SEARCHING...", "NO DATA"], obd.NoReply, "NO DATA for 010D"),
        (["7E8037F0112"], obd.NoReply, None),
        (["garbage!"], obd.LinkError, "unexpected reply"),
    ],
)
def test_adapter_messages(lines, error, message):
    elm = Elm327("socket://adapter:35000")
    with pytest.raises(error, match=message):
        payloads = elm._payloads("010D", lines)
        for payload in payloads:
            obd.response_data(1, 0x0D, payload)


def test_headers_of_other_protocols():
    elm = Elm327("socket://adapter:35000")
    elm._detected_protocol = "7"  # ISO 15765-4 CAN, 29-bit: 18DAF1xx headers
    assert elm._payloads("010D", ["18DAF110 03 41 0D 32"]) == [bytes.fromhex("410D32")]
    elm._detected_protocol = "3"  # ISO 9141-2: three header bytes, data, checksum
    assert elm._payloads("010D", ["48 6B 10 41 0D 32 F5"]) == [bytes.fromhex("410D32")]
    elm._detected_protocol = "A"  # SAE J1939, also 29-bit
    assert elm._payloads("010D", ["18DAF110 03 41 0D 32"]) == [bytes.fromhex("410D32")]
    with pytest.raises(obd.ObdError, match="garbled reply to 0902: 7E81014490201575030 / 7E82147503030523"):
        elm._payloads("0902", ["7E81014490201575030", "7E82147503030523"])  # a digit lost
    elm._detected_protocol = None
    # Two ECUs answering on 11-bit CAN, one of them in three frames.
    two = elm._payloads("0902", ["7E9037F0912", "7E81014490201575030", "7E8215A5A5A39395A54", "7E82253333930303030"])
    assert two == [bytes.fromhex("7F0912"), bytes.fromhex("490201") + b"WP0ZZZ99ZTS390000"]
    # A consecutive frame missing: no value rather than a wrong one.
    assert elm._payloads("0902", ["7E81014490201575030", "7E82253333930303030"]) == []
