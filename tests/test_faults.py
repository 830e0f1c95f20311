"""Serial, audio, speech and process faults while the agent runs; each adds a row to the fault table.

What must hold after each: the agent stays up (or exits cleanly when told to), no frame or
write the driver did not ask for, none twice, a failure said aloud and in the event stream,
and the agent working again once the fault clears.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from carvoice import events
from carvoice.act.serial import SerialSink
from carvoice.agent import Agent
from carvoice.audio import SAMPLE_RATE, AudioSourceError
from carvoice.audio.synth import silence, speech, with_noise_floor
from carvoice.audio.wavfile import write_wav
from carvoice.check import load_profile
from carvoice.cli import main, run
from carvoice.profile.loader import default_profile_dir
from carvoice.speak.output import WavDirectoryOutput
from carvoice.speak.speaker import Speaker
from carvoice.speak.tts import Synthesizer
from tests.conftest import ArraySource, needs, new_bus_spec, open_test_bus, until
from tests.faults import record
from tests.test_serial import PtyBoard

pytestmark = needs("espeak-ng", "flite")

COMMAND = ("okay nabu, turn on the headlights", "flite:slt")


def command_audio(text: str = COMMAND[0], voice: str = COMMAND[1]) -> np.ndarray:
    return with_noise_floor(np.concatenate([silence(1.0), speech(text, voice, 150), silence(2.0)]), seed=11)


# -- serial -------------------------------------------------------------------------------------


def relay_profile(tmp_path: Path, url: str):
    """The demo car with its relay board at `url`."""
    folder = tmp_path / "profile"
    shutil.copytree(default_profile_dir(), folder)
    main_file = folder / "profile.toml"
    main_file.write_text(main_file.read_text().replace('url = "relayboard://"', f'url = "{url}"'))
    return load_profile(folder)


def light_bar(agent: Agent, emitted: list[events.Event]) -> list[str]:
    emitted.clear()
    agent.decide("light_bar", {"state": "on"})
    return [type(e).__name__ for e in emitted]


def test_the_serial_port_vanishes_and_comes_back(tmp_path):
    link = tmp_path / "relay"
    board = PtyBoard(b"OK\r\n")
    link.symlink_to(board.path)
    profile = relay_profile(tmp_path, str(link))
    emitted: list[events.Event] = []
    agent = Agent(profile, emitted.append, [SerialSink(profile.serial)])
    try:
        assert light_bar(agent, emitted) == ["Serial", "Say"]
        board.close()  # unplugged: the pty is gone, the name points nowhere
        link.unlink()
        assert light_bar(agent, emitted) == ["Error", "Say"]
        assert "relay" in emitted[0].message and emitted[1].text == "Sorry, that did not work."
        board = PtyBoard(b"OK\r\n")  # plugged in again, a new device behind the same name
        link.symlink_to(board.path)
        start = time.monotonic()
        assert light_bar(agent, emitted) == ["Serial", "Say"]
        recovery = time.monotonic() - start
        assert board.received == b"LIGHTBAR on\r\n"  # once, not replayed from before
    finally:
        agent.close()
        board.close()
    record("serial device unplugged, then back", "error event + failed reply; next command written once", recovery)


@pytest.mark.parametrize(
    ("answer", "delay", "what"),
    [(b"ERR\r\n", 0.0, "answers garbage"), (b"OK\r\n", 1.5, "answers too late"), (None, 0.0, "never answers")],
)
def test_the_relay_board_misbehaves(tmp_path, answer, delay, what):
    board = PtyBoard(answer, delay=delay)
    profile = relay_profile(tmp_path, board.path)
    emitted: list[events.Event] = []
    agent = Agent(profile, emitted.append, [SerialSink(profile.serial)])
    try:
        assert light_bar(agent, emitted) == ["Error", "Say"]
        assert emitted[1].text == "Sorry, that did not work."
        agent.close()  # nothing more can be written
        assert board.settle() == b"LIGHTBAR on\r\n"  # written once, never retried behind the driver's back
    finally:
        agent.close()
        board.close()
    record(f"relay board {what}", "error event naming the port + failed reply; written exactly once")


# -- audio --------------------------------------------------------------------------------------


def garbage(kind: str) -> tuple[np.ndarray, int, int]:
    """(samples, rate, channels) of a recording nobody should act on."""
    rng = np.random.default_rng(7)
    seconds = 4
    n = SAMPLE_RATE * seconds
    if kind == "silence":
        return np.zeros(n, np.int16), SAMPLE_RATE, 1
    if kind == "clipped":
        wave = np.sign(np.sin(np.arange(n) * 2 * np.pi * 300 / SAMPLE_RATE)) * 32767
        return wave.astype(np.int16), SAMPLE_RATE, 1
    if kind == "dc offset":
        return (12000 + rng.normal(0, 300, n)).astype(np.int16), SAMPLE_RATE, 1
    if kind == "white noise":
        return rng.integers(-32768, 32767, n).astype(np.int16), SAMPLE_RATE, 1
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["silence", "clipped", "dc offset", "white noise"])
def test_garbage_audio_then_a_command(kind, tmp_path, capsys):
    noise, rate, _ = garbage(kind)
    recording = tmp_path / "garbage.wav"
    write_wav(recording, np.concatenate([noise, command_audio()]), rate)
    spec = new_bus_spec()
    with open_test_bus(spec) as reader:
        assert main(["run", "--audio", str(recording), "--can", spec, "--events", "json", "--no-speech"]) == 0
        frames = []
        while (message := reader.recv(timeout=0.05)) is not None:
            frames.append(f"{message.arbitration_id:03X}#{message.data.hex().upper()}")
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert frames == ["2F3#0100"]  # the headlights, once; nothing for the garbage
    assert not [e for e in out if e["event"] == "error"]
    record(f"recording: {kind}, then a command", "nothing acted on for the garbage; the command sent once")


@pytest.mark.parametrize(("rate", "channels"), [(8000, 1), (44100, 2), (48000, 1)])
def test_recordings_that_are_not_16_khz_mono(rate, channels, tmp_path, capsys):
    import wave

    samples = command_audio()
    resampled = np.interp(np.arange(0, len(samples), SAMPLE_RATE / rate), np.arange(len(samples)), samples)
    interleaved = np.repeat(resampled.astype(np.int16), channels)
    recording = tmp_path / "odd.wav"
    with wave.open(str(recording), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(interleaved.tobytes())
    assert main(["run", "--audio", str(recording), "--events", "json", "--no-speech"]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    frames = [e["frame"] for e in out if e["event"] == "can"]
    if rate < SAMPLE_RATE:
        # Telephone-band audio lacks what the 16 kHz model listens for: doing nothing is right too.
        assert frames in ([], ["2F3#0100"])
        happened = "converted to 16 kHz; " + ("the command sent once" if frames else "not understood, nothing sent")
    else:
        assert frames == ["2F3#0100"]
        happened = "converted to 16 kHz mono; the command sent once"
    record(f"recording at {rate} Hz, {channels} channel(s)", happened)


class FailingSource(ArraySource):
    """A microphone that delivers some audio, then fails like an unplugged USB device."""

    def frames(self):
        yield from super().frames()
        raise AudioSourceError(
            "microphone 2: USB Audio stopped delivering audio: [Errno -9999] Unanticipated host error"
        )


def test_the_microphone_fails_and_comes_back(demo_profile, engine, monkeypatch):
    monkeypatch.setattr(run, "RETRY_SECONDS", 0.1)
    emitted: list[events.Event] = []
    spec = new_bus_spec()
    bus = open_test_bus(spec)
    from carvoice.act.can import CanSink

    agent = Agent(demo_profile, emitted.append, [CanSink(bus, spec)], engine=engine)
    attempts = []

    failed_at: list[float] = []

    def reopen():
        attempts.append(time.monotonic())
        failed_at.append(time.monotonic() - run.RETRY_SECONDS)
        if len(attempts) == 1:
            raise AudioSourceError("no microphone matching 'USB' (available: none)")
        return ArraySource(command_audio("okay nabu, turn off the fog lights"))

    failing = FailingSource(command_audio())
    with bus, agent:
        assert run.listen_until_stopped(agent, failing, reopen, tick=lambda: None) == 0
    frames = [e.frame for e in emitted if isinstance(e, events.Can)]
    assert frames == ["2F3#0100", "2F3#8000"]  # headlights on before the failure, fog lights off after
    errors = [e.message for e in emitted if isinstance(e, events.Error)]
    assert "stopped delivering audio" in errors[0] and "still no audio" in errors[1] and "audio is back" in errors[2]
    record(
        "microphone fails mid-drive, returns later",
        f"error events; looked for again every {run.RETRY_SECONDS:g} s (1 s in the daemon);"
        " the commands before and after sent once each",
        attempts[-1] - failed_at[0],
    )


def test_a_question_does_not_outlive_the_microphone(demo_profile, engine, monkeypatch):
    """Asked "lock the doors?" (heard unsure), the microphone fails before the answer: the question
    is dropped aloud, and a "yes" once the microphone is back locks nothing (found by an attacker:
    the question waited for the next source and took its first yes)."""
    from carvoice.act.dry import DryRunSink

    monkeypatch.setattr(run, "RETRY_SECONDS", 0.1)
    emitted: list[events.Event] = []
    agent = Agent(demo_profile, emitted.append, [DryRunSink()], engine=engine)
    agent.handle_words("lock the doors".split(), confidence=0.6)
    assert [e.name for e in emitted] == ["intent", "confirm", "say"]

    def reopen():
        return ArraySource(command_audio("yes", "flite:slt"))

    with agent:
        assert run.listen_until_stopped(agent, FailingSource(silence(0.5)), reopen, tick=lambda: None) == 0
    assert [e.answer for e in emitted if isinstance(e, events.Answer)] == ["none"]
    assert not [e for e in emitted if isinstance(e, events.Can)]
    assert [e.text for e in emitted if isinstance(e, events.Say)][1] == demo_profile.replies.no_answer


def test_speech_fails_but_the_action_is_done_once(demo_profile, tmp_path):
    spec = new_bus_spec()
    from carvoice.act.can import CanSink

    speech_dir = tmp_path / "speech"
    speaker = Speaker(Synthesizer(), WavDirectoryOutput(speech_dir))
    emitted: list[events.Event] = []
    with open_test_bus(spec) as reader, open_test_bus(spec) as sending:
        agent = Agent(demo_profile, emitted.append, [CanSink(sending, spec)], speaker=speaker)
        shutil.rmtree(speech_dir)
        speech_dir.write_text("not a directory")  # the card (or the disk) is gone
        agent.decide("lights", {"light": "headlights", "state": "on"})
        frames = []
        while (message := reader.recv(timeout=0.05)) is not None:
            frames.append(message)
        first = list(emitted)
        speech_dir.unlink()
        speech_dir.mkdir()
        emitted.clear()
        agent.decide("fan", {"level": 2})
        agent.close()
    assert len(frames) == 1
    assert [type(e).__name__ for e in first] == ["Can", "Error"] and first[1].source == "speech"
    assert [type(e).__name__ for e in emitted] == ["Can", "Say"]
    record("speech output fails", "error event (source speech); the frame still sent once; speech back next time")


# -- process --------------------------------------------------------------------------------------


def daemon(tmp_path: Path, recording: Path, spec: str, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, CARVOICE_RUNTIME_DIR=str(tmp_path / "run"))
    command = [sys.executable, "-m", "carvoice", "run", "--audio", str(recording), "--realtime"]
    command += ["--can", spec, "--events", "json", "--speech-dir", str(tmp_path / "speech"), *extra]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)


def read_until(process: subprocess.Popen, event: str, seconds: float = 30.0) -> list[dict]:
    seen = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(json.loads(line))
        if seen[-1]["event"] == event:
            return seen
    raise AssertionError(f"no {event} event; saw {[e['event'] for e in seen]}")


def test_sigterm_and_sighup_during_a_command(tmp_path):
    """SIGHUP with a half-written profile keeps the old one; SIGTERM mid-command ends cleanly, nothing twice."""
    recording = tmp_path / "drive.wav"
    write_wav(
        recording,
        np.concatenate([command_audio(), command_audio("okay nabu, turn on the fog lights"), silence(20.0)]),
    )
    active = tmp_path / "active"
    active.symlink_to(default_profile_dir())
    broken = tmp_path / "half-written"
    shutil.copytree(default_profile_dir(), broken)
    text = (broken / "body.toml").read_text()
    (broken / "body.toml").write_text(text[: len(text) // 2])  # the power went while copying
    spec = "virtual:unshared"  # the daemon's own process; its events say what it sent
    process = daemon(tmp_path, recording, spec, "--profile", str(active))
    try:
        read_until(process, "ready")
        first = read_until(process, "can")
        active.unlink()
        active.symlink_to(broken)
        sent = time.monotonic()
        process.send_signal(signal.SIGHUP)
        after_reload = read_until(process, "error")
        reload_seconds = time.monotonic() - sent
        assert "old profile kept" in after_reload[-1]["message"] and "body.toml" in after_reload[-1]["message"]
        second = read_until(process, "can")  # the old profile still understands commands
        process.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        rest, _ = process.communicate(timeout=10)
        stop_seconds = time.monotonic() - stopped
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    frames = [e["frame"] for e in first + after_reload + second if e["event"] == "can"]
    frames += [json.loads(line)["frame"] for line in rest.splitlines() if json.loads(line)["event"] == "can"]
    assert frames == ["2F3#0100", "2F3#4000"]
    record(
        "SIGHUP with a half-written profile",
        "reload refused naming body.toml; old profile kept working",
        reload_seconds,
    )
    record("SIGTERM while running", f"clean exit 0 in {stop_seconds:.2f} s; no command sent twice", None)


def test_a_damaged_active_profile_at_start_runs_the_previous_one(tmp_path, capsys):
    etc = tmp_path / "etc" / "carvoice"
    etc.mkdir(parents=True)
    damaged = tmp_path / "damaged"
    shutil.copytree(default_profile_dir(), damaged)
    (damaged / "lights.toml").write_bytes(b"\x00" * 512)  # a card that lost a block
    (etc / "profile").symlink_to(damaged)
    (etc / "previous").symlink_to(default_profile_dir())
    recording = tmp_path / "drive.wav"
    write_wav(recording, command_audio())
    status = main(
        ["run", "--profile", str(etc / "profile"), "--audio", str(recording), "--events", "json", "--no-speech"]
    )
    assert status == 0
    out = capsys.readouterr()
    lines = [json.loads(line) for line in out.out.splitlines()]
    assert lines[0]["event"] == "error" and "running" in lines[0]["message"]
    assert "lights.toml" in out.err
    assert [e["frame"] for e in lines if e["event"] == "can"] == ["2F3#0100"]
    record("active profile damaged on disk at start", "the previous profile runs; the damage named (file, line)")


def catches_sighup(pid: int) -> bool:
    """Whether the process has a handler for SIGHUP yet (the kernel's SigCgt mask, bit 0 for signal 1)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return bool(int(re.search(r"^SigCgt:\s*([0-9a-f]+)$", status, re.M).group(1), 16) & 1)


def test_a_storm_of_sighup_loses_no_command(tmp_path):
    """Reload signals every 20-80 ms through four spoken commands (wake phrases and commands included),
    then more at start-up and around SIGTERM: every command is carried out once, the storm costs a few
    reloads, and the daemon exits 0."""
    commands = [
        ("okay nabu, turn on the headlights", "2F3#0100"),
        ("okay nabu, turn on the fog lights", "2F3#4000"),
        ("okay nabu, turn off the headlights", "2F3#0200"),
        ("okay nabu, turn off the fog lights", "2F3#8000"),
    ]
    recording = tmp_path / "drive.wav"
    write_wav(recording, np.concatenate([*(command_audio(text) for text, _ in commands), silence(3.0)]))
    process = daemon(tmp_path, recording, "virtual:unshared", "--profile", str(default_profile_dir()))
    signals = 0
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    rng = random.Random(14)
    try:
        # Start-up included: from the moment `carvoice run` catches SIGHUP (before it loads anything).
        assert until(lambda: catches_sighup(process.pid), 20.0) is not None
        while process.poll() is None and not any('"frame": "2F3#8000"' in line for line in lines):
            process.send_signal(signal.SIGHUP)
            signals += 1
            time.sleep(rng.uniform(0.02, 0.08))
        for _ in range(20):  # SIGTERM in the middle of a storm
            process.send_signal(signal.SIGHUP)
        process.send_signal(signal.SIGTERM)
        for _ in range(50):
            if process.poll() is not None:
                break
            process.send_signal(signal.SIGHUP)
            time.sleep(0.005)
        process.wait(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(timeout=5)
    events = [json.loads(line) for line in lines]
    assert process.returncode == 0
    assert [e["frame"] for e in events if e["event"] == "can"] == [frame for _, frame in commands]
    reloads = [e for e in events if e["event"] == "ready"][1:]
    # Coalesced: fewer reloads than signals. How many fewer depends on how fast this machine loads a
    # profile (the fault table records it); a fixed ratio would fail on a faster one.
    assert 1 <= len(reloads) < signals, (len(reloads), signals)
    assert not [e for e in events if e["event"] in ("error", "rejected")], events
    record(
        "SIGHUP storm through 4 spoken commands, SIGTERM inside it",
        f"{signals} signals coalesced into {len(reloads)} reloads; 4 of 4 commands sent once; exit 0",
    )
