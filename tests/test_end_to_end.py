"""From audio to frames: recordings and a (virtual) microphone through the whole agent."""

import os
import uuid

import can
import numpy as np
import pytest

from carvoice import events as ev
from carvoice.agent import ASK_AGAIN_CONFIDENCE
from carvoice.audio.synth import silence, speech, with_noise_floor
from carvoice.audio.wavfile import write_wav
from carvoice.cli import main
from tests.conftest import needs

pytestmark = needs("espeak-ng", "flite")


def read_wav_any(path):
    """Samples and rate as written, without conversion."""
    import wave

    with wave.open(path, "rb") as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16), wav.getframerate()


def drive(parts: list[tuple[str, str]], pause: float = 2.0) -> np.ndarray:
    audio = [silence(1.0)]
    for text, voice in parts:
        audio += [speech(text, voice, 150), silence(pause)]
    return with_noise_floor(np.concatenate(audio), seed=5)


def run_recording(path, capsys, tmp_path, *extra):
    channel = f"test-{uuid.uuid4().hex}"
    with can.Bus(interface="virtual", channel=channel) as reader:
        status = main(
            [
                "run",
                "--audio",
                str(path),
                "--can",
                f"virtual:{channel}",
                "--events",
                "json",
                "--speech-dir",
                str(tmp_path / "speech"),
                *extra,
            ]
        )
        frames = []
        while (message := reader.recv(timeout=0.05)) is not None:
            frames.append(message)
    assert status == 0
    return [ev.from_json_line(line) for line in capsys.readouterr().out.splitlines()], frames


def test_a_recorded_drive_gives_wakes_intents_frames_and_replies(tmp_path, capsys):
    recording = tmp_path / "drive.wav"
    write_wav(
        recording,
        drive(
            [
                ("okay nabu, open the driver window", "flite:slt"),
                ("I think we should stop for lunch soon", "flite:kal16"),
                ("okay nabu, set the fan to three", "flite:rms"),
                ("okay nabu, play some jazz on the radio", "flite:awb"),
                ("okay nabu, turn on the light bar", "flite:slt"),
            ]
        ),
    )
    events, frames = run_recording(recording, capsys, tmp_path)
    names = [e.name for e in events]
    assert names[0] == "ready"
    assert names.count("wake") == 4, names
    intents = [(e.intent, e.slots) for e in events if isinstance(e, ev.Intent)]
    assert intents == [
        ("window", {"window": "driver", "action": "open"}),
        ("fan", {"level": 3}),
        ("light_bar", {"state": "on"}),
    ]
    assert [e.frame for e in events if isinstance(e, ev.Can)] == ["2F1#0100", "3A0#000300"]
    assert [(f.arbitration_id, f.data.hex()) for f in frames] == [(0x2F1, "0100"), (0x3A0, "000300")]
    assert [e.data for e in events if isinstance(e, ev.Serial)] == ["LIGHTBAR on\r\n"]
    [rejected] = [e for e in events if isinstance(e, ev.Rejected)]
    assert rejected.t > 9.0  # the radio request, not the small talk (which had no wake phrase)
    # The radio is nothing this car's commands are like (the fit says so): no "Sorry?" for it.
    assert rejected.confidence < ASK_AGAIN_CONFIDENCE
    says = [e for e in events if isinstance(e, ev.Say)]
    assert [s.text for s in says] == ["Opening the driver window.", "Fan speed 3.", "Light bar on."]
    assert all(s.file is not None and os.path.getsize(s.file) > 10000 for s in says)
    # Every wake is answered by the tone, through the same output as speech, before anything is said.
    tones = [e for e in events if isinstance(e, ev.Tone)]
    assert len(tones) == 4 and all(e.file not in {s.file for s in says} for e in tones)
    for tone in tones:
        samples, rate = read_wav_any(tone.file)
        assert 0.1 < len(samples) / rate < 0.3 and np.abs(samples).max() > 5000
    assert [e.name for e in events if e.name in ("wake", "tone")] == ["wake", "tone"] * 4
    times = [e.t for e in events]
    assert times == sorted(times)


def test_the_built_in_demo_sends_no_frame_for_out_of_grammar_speech(tmp_path, capsys):
    channel = f"test-{uuid.uuid4().hex}"
    with can.Bus(interface="virtual", channel=channel) as reader:
        assert main(["run", "--demo", "--can", f"virtual:{channel}", "--events", "json", "--no-speech"]) == 0
        frames = []
        while (message := reader.recv(timeout=0.05)) is not None:
            frames.append(message)
    events = [ev.from_json_line(line) for line in capsys.readouterr().out.splitlines()]
    can_events = [e for e in events if isinstance(e, ev.Can)]
    assert len(frames) == len(can_events)
    # the demo's radio request and small talk must never reach the bus
    heard = [e for e in events if isinstance(e, ev.Intent)]
    assert all(e.intent != "light_bar" or e.slots == {"state": "on"} for e in heard)
    assert all(f.arbitration_id in (0x2F1, 0x2F2, 0x2F3, 0x3A0) for f in frames)
    assert sum(isinstance(e, ev.Wake) for e in events) == 5


def test_garbage_audio_is_heard_as_nothing(tmp_path, capsys):
    rng = np.random.default_rng(0)
    recording = tmp_path / "noise.wav"
    write_wav(recording, np.clip(rng.normal(0, 8000, 16000 * 10), -32768, 32767).astype(np.int16))
    events, frames = run_recording(recording, capsys, tmp_path)
    assert frames == []
    assert not [e for e in events if isinstance(e, ev.Intent | ev.Can)]


def test_a_missing_recording_is_named(capsys):
    assert main(["run", "--audio", "/nonexistent/drive.wav", "--no-speech"]) == 1
    assert "/nonexistent/drive.wav: no such file" in capsys.readouterr().err


@needs("pulseaudio", "pactl")
def test_the_microphone_path_through_pyaudio(tmp_path, monkeypatch):
    """PyAudio reads a virtual PulseAudio microphone fed in real time; the agent acts on what it hears."""
    from carvoice.act.can import CanSink
    from carvoice.agent import Agent
    from carvoice.audio.microphone import MicrophoneSource
    from carvoice.check import load_profile
    from carvoice.profile.loader import default_profile_dir
    from tests.pulse import VirtualCabin

    cabin = VirtualCabin(tmp_path)
    for key, value in cabin.environment.items():
        monkeypatch.setenv(key, value)
    microphone = None
    try:
        command = speech("okay nabu, lock the doors", "flite:slt")
        channel = f"test-{uuid.uuid4().hex}"
        heard = []
        reader, sending = (can.Bus(interface="virtual", channel=channel) for _ in range(2))
        with reader, sending:
            with Agent(load_profile(default_profile_dir()), heard.append, [CanSink(sending)]) as agent:
                microphone = MicrophoneSource("pulse")
                assert "microphone" in microphone.description
                said = with_noise_floor(np.concatenate([silence(0.5), command, silence(1.5)]))
                agent.listen(FirstSeconds(microphone, 5.5, cabin, said))
            message = reader.recv(timeout=0.5)
        assert [e.name for e in heard if e.name in ("wake", "intent", "can")] == ["wake", "intent", "can"]
        assert message is not None and (message.arbitration_id, message.data.hex()) == (0x2F2, "01")
    finally:
        if microphone is not None:
            microphone.close()
        cabin.close()


@needs("pulseaudio", "pactl")
@pytest.mark.parametrize("guarded", [True, False])
def test_the_agent_does_not_hear_itself(tmp_path, monkeypatch, guarded):
    """A reply that contains the wake phrase and a command comes back through the cabin microphone.

    With the guard the agent acts once; without it (the control) it wakes on its own voice.
    """
    import shutil

    from carvoice.agent import Agent
    from carvoice.profile.loader import default_profile_dir

    shutil.copytree(default_profile_dir(), tmp_path / "p")
    body = tmp_path / "p" / "body.toml"
    body.write_text(body.read_text().replace('reply = "Doors {action}ed."', 'reply = "okay nabu, unlock the car."'))
    if not guarded:
        monkeypatch.setattr(Agent, "_hearing_itself", lambda self: False)
    for attempt in range(3):
        heard, window = drive_through_an_echoing_cabin(tmp_path / f"cabin{attempt}", tmp_path / "p", monkeypatch)
        if window.reached:
            break
    assert window.reached, f"the virtual cabin's loopback passed no speech in 3 tries (loudest {window.loudest})"
    wakes = [e for e in heard if e.name == "wake"]
    if guarded:
        assert len(wakes) == 1, [(e.name, e.t) for e in heard]
        assert [e.frame for e in heard if e.name == "can"] == ["2F2#01"]
    else:
        assert len(wakes) >= 2, "control: without the guard the agent should wake on its own reply"


def drive_through_an_echoing_cabin(directory, profile_dir, monkeypatch):
    """The driver says "okay nabu, lock the doors" in a cabin whose microphone also hears the speaker.

    Returns the events and the microphone window, which tells whether the words reached the agent at
    all: CI once saw an agent hear nothing in 9 s, a failure of PulseAudio's loopback under load
    rather than of the agent, and a window without the words is tried again on a fresh cabin.
    """
    from carvoice.act.can import CanSink
    from carvoice.agent import Agent
    from carvoice.audio.microphone import MicrophoneSource
    from carvoice.check import load_profile
    from carvoice.speak.output import SpeakerOutput
    from carvoice.speak.speaker import Speaker
    from carvoice.speak.tts import Synthesizer
    from tests.pulse import VirtualCabin

    directory.mkdir()
    cabin = VirtualCabin(directory, echo=True)
    for key, value in cabin.environment.items():
        monkeypatch.setenv(key, value)
    microphone = speaker = None
    try:
        speaker = Speaker(Synthesizer(), SpeakerOutput("pulse"))
        heard = []
        channel = f"test-{uuid.uuid4().hex}"
        command = speech("okay nabu, lock the doors", "flite:slt")
        with Agent(
            load_profile(profile_dir),
            heard.append,
            [CanSink(can.Bus(interface="virtual", channel=channel))],
            speaker,
        ) as agent:
            microphone = MicrophoneSource("pulse")
            said = with_noise_floor(np.concatenate([silence(0.5), command, silence(6.0)]))
            window = FirstSeconds(microphone, 9.0, cabin, said)
            agent.listen(window)
        return heard, window
    finally:
        if speaker is not None:
            speaker.close()
        if microphone is not None:
            microphone.close()
        cabin.close()


class FirstSeconds:
    """The first seconds of a microphone (which never ends by itself), the cabin saying `said` as the
    agent reads its first frame.

    Queued any earlier, the words wait in the microphone's buffer while the agent is being built, and
    on a slow machine they fell outside the window: the agent heard nothing (CI, twice).
    """

    realtime = True

    def __init__(self, source, seconds: float, cabin, said: np.ndarray) -> None:
        self.source = source
        self.description = source.description
        self.samples = int(seconds * 16000)
        self.cabin = cabin
        self.said = said
        self.loudest = 0

    @property
    def reached(self) -> bool:
        """Whether anything as loud as the words came through: the noise floor between them is faint."""
        return self.loudest >= int(np.abs(self.said.astype(np.int32)).max()) // 4

    def frames(self):
        heard = 0
        self.loudest = 0
        for frame in self.source.frames():
            if heard == 0:
                self.cabin.say(self.said)
            if heard >= self.samples:
                return
            heard += len(frame)
            self.loudest = max(self.loudest, int(np.abs(frame.astype(np.int32)).max()))
            yield frame

    def close(self) -> None:
        self.source.close()


def test_realtime_paces_a_recording_like_a_microphone(tmp_path, capsys):
    import time

    recording = tmp_path / "short.wav"
    write_wav(recording, with_noise_floor(silence(1.5)))
    started = time.monotonic()
    events, _ = run_recording(recording, capsys, tmp_path, "--realtime")
    assert time.monotonic() - started >= 1.4
    assert [e.name for e in events] == ["ready"]
