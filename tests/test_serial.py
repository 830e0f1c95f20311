"""Serial actions against real peers: a pty with a board on the other end, loop://, relayboard://."""

import contextlib
import os
import select
import threading
import time

import pytest

from carvoice.act import ActionFailed
from carvoice.act.plan import SerialWrite
from carvoice.act.serial import SerialSink
from carvoice.profile.model import SerialPortSettings
from tests.conftest import until


class PtyBoard:
    """A relay board on the master side of a pty: answers each line after `delay`, or never."""

    def __init__(self, answer: bytes | None, delay: float = 0.0) -> None:
        self.master, slave = os.openpty()
        self.path = os.ttyname(slave)
        self.slave = slave
        self.answer = answer
        self.delay = delay
        self.received = b""
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        # Polls rather than blocks, so that close() can stop it before the descriptors go: a thread
        # left reading a closed number would read the next pty that the kernel gives that number.
        while not self._stopped.is_set():
            try:
                ready, _, _ = select.select([self.master], [], [], 0.02)
                if not ready:
                    continue
                chunk = os.read(self.master, 256)
            except (OSError, ValueError):
                return
            self.received += chunk
            if b"\n" in chunk and self.answer is not None:
                time.sleep(self.delay)
                try:
                    os.write(self.master, self.answer)
                except OSError:
                    return

    def settle(self) -> bytes:
        """What the board read, once all written to the port before now has arrived: a marker line written
        behind it on the pty's own slave end comes through the same queue, after it."""
        marker = b"#settled\n"
        os.write(self.slave, marker)
        assert until(lambda: self.received.endswith(marker)) is not None, self.received
        return self.received.removesuffix(marker)

    def close(self) -> None:
        """Like unplugging it; closing twice is harmless."""
        self._stopped.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


@pytest.fixture
def board_ok():
    board = PtyBoard(b"noise\r\nOK relay 1\r\n")
    yield board
    board.close()


def test_writes_to_a_pty_and_waits_for_the_expected_line(board_ok):
    sink = SerialSink({"relay": SerialPortSettings("relay", board_ok.path, 9600)})
    event = sink.perform(SerialWrite("relay", b"LIGHTBAR on\r\n", expect="OK", timeout=1.0), 1.5)
    assert event.to_dict() == {
        "t": 1.5,
        "event": "serial",
        "port": "relay",
        "data": "LIGHTBAR on\r\n",
        "reply": "OK relay 1",
    }
    assert board_ok.received == b"LIGHTBAR on\r\n"
    sink.close()


def test_silence_from_the_device_is_a_failure_with_a_reason():
    board = PtyBoard(None)
    sink = SerialSink({"relay": SerialPortSettings("relay", board.path, 9600)})
    with pytest.raises(ActionFailed, match=r"expected 'OK' within 0.3 s, no answer"):
        sink.perform(SerialWrite("relay", b"X ON\n", expect="OK", timeout=0.3), 0.0)
    board.close()


def test_wrong_answer_is_quoted_in_the_failure():
    board = PtyBoard(b"ERR\r\n")
    sink = SerialSink({"relay": SerialPortSettings("relay", board.path, 9600)})
    with pytest.raises(ActionFailed, match=r"it answered 'ERR'"):
        sink.perform(SerialWrite("relay", b"X ON\n", expect="OK", timeout=0.3), 0.0)
    board.close()


def test_a_missing_device_is_named_and_a_later_one_works(tmp_path):
    path = tmp_path / "ttyRELAY"
    sink = SerialSink({"relay": SerialPortSettings("relay", str(path), 9600)})
    with pytest.raises(ActionFailed, match=r"serial port relay \(.*ttyRELAY\)"):
        sink.perform(SerialWrite("relay", b"A ON\n"), 0.0)
    board = PtyBoard(b"OK\r\n")
    os.symlink(board.path, path)  # the device comes back (udev would make this link)
    assert sink.perform(SerialWrite("relay", b"A ON\n", expect="OK"), 0.0).reply == "OK"
    board.close()


def test_loop_and_relayboard_urls():
    sink = SerialSink(
        {"loop": SerialPortSettings("loop", "loop://"), "board": SerialPortSettings("board", "relayboard://")}
    )
    assert sink.perform(SerialWrite("loop", b"PING\n", expect="PING"), 0.0).reply == "PING"
    assert sink.perform(SerialWrite("board", b"BEACON off\n", expect="OK"), 0.0).reply == "OK"
    with pytest.raises(ActionFailed, match="ERR"):
        sink.perform(SerialWrite("board", b"nonsense\n", expect="OK", timeout=0.2), 0.0)


def test_the_stand_in_relay_board_speaks_the_words_its_url_gives():
    """A camper's board that takes PUMP=1 and answers ACK or NAK (config/README.md)."""
    url = "relayboard://?separator==&on=1&off=0&ok=ACK&error=NAK"
    sink = SerialSink({"board": SerialPortSettings("board", url)})
    assert sink.perform(SerialWrite("board", b"PUMP=1\r\n", expect="ACK"), 0.0).reply == "ACK"
    assert sink.perform(SerialWrite("board", b"pump = 0\n", expect="ACK"), 0.0).reply == "ACK"
    with pytest.raises(ActionFailed, match="NAK"):
        sink.perform(SerialWrite("board", b"PUMP ON\n", expect="ACK", timeout=0.2), 0.0)
    assert sink._open["board"].relays == {"PUMP": False}
    with pytest.raises(ActionFailed, match="relayboard:// has no option 'baud'"):
        SerialSink({"board": SerialPortSettings("board", "relayboard://?baud=9600")}).perform(
            SerialWrite("board", b"PUMP=1\n"), 0.0
        )
