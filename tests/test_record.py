"""carvoice record through a virtual microphone, and carvoice eval on what it wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from carvoice.audio import SAMPLE_RATE
from carvoice.audio.synth import silence, speech, with_noise_floor
from carvoice.audio.wavfile import read_wav
from carvoice.check import load_profile
from carvoice.cli import main
from carvoice.cli.record import prompts_of
from carvoice.evaluation.manifest import read_manifest
from tests.conftest import FILES, needs

CAMPER = FILES / "profiles" / "camper"


def test_the_prompts_are_the_profiles_examples_with_their_meaning():
    prompts = prompts_of(load_profile(CAMPER), ["heater_setpoint", "water"], repeat=2)
    assert [(p.text, p.intent, p.slots) for p in prompts[::2]] == [
        ("set the heater to twenty one and a half degrees", "heater_setpoint", {"degrees": 21.5}),
        ("heat the van to eighteen point five", "heater_setpoint", {"degrees": 18.5}),
        ("how much water is left", "water", {}),
    ]
    assert prompts[0] == prompts[1]
    with pytest.raises(ValueError, match="no intent heatr in Camper van"):
        prompts_of(load_profile(CAMPER), ["heatr"])


@needs("pulseaudio", "pactl", "flite")
def test_recorded_takes_and_cabin_noise_evaluate(tmp_path, capsys):
    from tests.pulse import VirtualCabin

    (tmp_path / "cabin").mkdir()
    cabin = VirtualCabin(tmp_path / "cabin")
    takes = tmp_path / "takes"
    command = [sys.executable, "-m", "carvoice", "record", str(takes), "--profile", str(CAMPER)]
    options = ["--input-device", "pulse", "--only", "heater_setpoint", "--only", "water", "--noise-seconds", "2"]
    recorder = subprocess.Popen(
        [*command, *options],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **cabin.environment},
    )
    said = []
    try:
        assert recorder.stdout is not None and recorder.stdin is not None
        for line in recorder.stdout:
            if line.startswith("Cabin noise:"):
                cabin.say(with_noise_floor(silence(3.0), seed=2))
            elif "Press Enter, then say:" in line:
                sentence = line.split('say: "', 1)[1].rstrip().rstrip('"')
                said.append(sentence)
                cabin.say(with_noise_floor(np.concatenate([silence(0.5), speech(sentence, "flite:slt"), silence(1.5)])))
            else:
                if line.startswith("Recorded ") and "command(s)" in line:
                    break
                continue
            recorder.stdin.write("\n")
            recorder.stdin.flush()
        assert recorder.wait(timeout=30) == 0
    finally:
        if recorder.poll() is None:
            recorder.kill()
        cabin.close()

    assert said == [
        "set the heater to twenty one and a half degrees",
        "heat the van to eighteen point five",
        "how much water is left",
    ]
    items = read_manifest(takes / "manifest.jsonl")
    assert [(i.audio.name, i.intent, i.slots) for i in items] == [
        ("noise.wav", None, {}),
        ("001.wav", "heater_setpoint", {"degrees": 21.5}),
        ("002.wav", "heater_setpoint", {"degrees": 18.5}),
        ("003.wav", "water", {}),
    ]
    assert abs(len(read_wav(items[0].audio)) / SAMPLE_RATE - 2.0) < 0.05
    for item, sentence in zip(items[1:], said, strict=True):
        # Cut to the speech with a short margin: longer than the words, shorter than the padded take.
        seconds = len(read_wav(item.audio)) / SAMPLE_RATE
        spoken = len(speech(sentence, "flite:slt")) / SAMPLE_RATE
        assert spoken - 0.2 < seconds < spoken + 1.4, (item.audio.name, seconds, spoken)

    capsys.readouterr()
    assert main(["eval", str(takes / "manifest.jsonl"), "--profile", str(CAMPER), "--jobs", "1"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert (metrics["commands"], metrics["non_commands"], metrics["errors"]) == (3, 1, 0)
    assert metrics["false_action_rate"] == 0.0
    assert metrics["command_accuracy"] == 1.0, metrics


def test_a_microphone_that_stops_ends_the_session_with_its_name(tmp_path):
    """A source that runs dry (a device gone quiet for good) is an error naming it, not a take that waits for ever."""
    import io
    import threading

    from carvoice.audio import AudioSourceError, SampleSource
    from carvoice.cli.record import Session, Tap

    profile = load_profile(CAMPER)
    tap = Tap(SampleSource(np.zeros(SAMPLE_RATE, dtype=np.int16), description="the test microphone"))
    session = Session(profile, tap, tmp_path, io.StringIO("\n\n"), io.StringIO())
    failed: list[BaseException] = []

    def record() -> None:
        try:
            session.record(prompts_of(profile, ["water"]), 5.0, False)
        except AudioSourceError as error:
            failed.append(error)

    recording = threading.Thread(target=record, daemon=True)
    recording.start()
    recording.join(timeout=60)  # guards the test against the hang; the error comes at once
    tap.close()
    assert not recording.is_alive() and [str(e) for e in failed] == ["the test microphone stopped delivering audio"]
