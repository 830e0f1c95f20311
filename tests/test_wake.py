"""The wake engines behind one interface: microWakeWord and PocketSphinx on synthetic and real
speech, their models as profile settings, and a daemon that will not run on a broken model."""

import json
import math
import re
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

from carvoice.audio.synth import silence, speech, with_noise_floor
from carvoice.audio.wavfile import read_wav
from carvoice.check import load_profile
from carvoice.profile.loader import default_profile_dir
from carvoice.profile.model import ProfileError
from carvoice.recognise.engine import engine_for
from carvoice.wake.detector import WakeDetector
from carvoice.wake.micro import MicroSpotter, builtin_models, load_model, models_dir
from carvoice.wake.spotter import spotter_for
from tests.bundles import start_daemon, status_of, wait_for
from tests.conftest import needs


def spotted(spotter, audio):
    """Every wake in the audio, restarting after each as the agent does."""
    spotter.restart(0)
    ends = []
    for start in range(0, len(audio), 480):
        end = spotter.feed(audio[start : start + 480])
        if end is not None:
            ends.append(end)
            spotter.restart(start + 480)
    return ends


@pytest.fixture(scope="module")
def micro(demo_profile, engine):
    return spotter_for(demo_profile, engine)


def test_the_demo_car_wakes_with_the_neural_engine(micro, demo_profile):
    assert demo_profile.wake.engine == "micro" and demo_profile.wake.phrase == "okay nabu"
    assert isinstance(micro, MicroSpotter) and micro.model.wake_word == "Okay Nabu"
    assert micro.cutoff == demo_profile.wake.threshold


@needs("espeak-ng", "flite")
@pytest.mark.parametrize("voice", ["en-us", "en-us+m3", "en-gb", "en-us+m7", "flite:slt", "flite:kal16", "flite:rms"])
def test_synthetic_voices_wake_the_demo_car_where_the_phrase_ends(micro, voice):
    phrase = speech("okay nabu", voice)
    audio = with_noise_floor(np.concatenate([silence(1.0), speech("okay nabu, open the trunk", voice), silence(1)]))
    [end] = spotted(micro, audio)
    phrase_end = 1.0 + np.nonzero(np.abs(phrase) > 0.01)[0][-1] / 16000
    assert -0.4 < end / 16000 - phrase_end < 0.2  # never far into the command


@needs("espeak-ng", "flite")
def test_ordinary_talk_does_not_wake_the_neural_engine(micro):
    talk = "okay, we should stop for lunch soon, the traffic is terrible and did you remember the keys"
    audio = with_noise_floor(np.concatenate([silence(0.5), speech(talk, "en-us"), speech(talk, "flite:slt")]))
    assert spotted(micro, audio) == []


def test_real_wake_words_wake_their_own_model_and_not_another(shared_data):
    """Real crowd-sourced "alexa" clips: the shipped alexa model hears most; okay_nabu none."""
    clips = [read_wav(path) for path in sorted((shared_data / "wake" / "alexa").glob("*.wav"))[:12]]
    audio = with_noise_floor(np.concatenate([np.concatenate([clip, np.zeros(16000)]) for clip in clips]) / 32768)
    alexa = MicroSpotter(load_model(models_dir() / "alexa.json"))
    nabu = MicroSpotter(load_model(models_dir() / "okay_nabu.json"))
    assert len(spotted(alexa, audio)) >= 8
    assert spotted(nabu, audio) == []


def test_real_wake_words_pass_the_keyphrase_spotters_second_stage(demo_profile, shared_data):
    """Real "computer" clips wake PocketSphinx (with its check); the same speakers' "jarvis" do not."""
    engine = engine_for(demo_profile, wake_phrase="computer", wake_threshold=1e20)

    def wakes(folder):
        clips = [read_wav(path) for path in sorted((shared_data / "wake" / folder).glob("*.wav"))[:12]]
        joined = np.concatenate([np.concatenate([clip, np.zeros(16000)]) for clip in clips]) / 32768
        return len(spotted(WakeDetector(engine), with_noise_floor(joined)))

    assert wakes("computer") >= 9
    assert wakes("jarvis") <= 1


def test_every_shipped_model_loads_and_a_damaged_one_is_named(tmp_path):
    assert {"alexa", "hey_jarvis", "hey_mycroft", "okay_nabu"} <= set(builtin_models())
    for name in builtin_models():
        assert load_model(models_dir() / f"{name}.json").cutoff > 0
    mine = make_model(tmp_path, damage=True)
    with pytest.raises(ValueError, match=r"mine\.tflite is not a TensorFlow Lite model"):
        load_model(mine)


def make_model(folder, damage=False):
    """An installer's own model: a copy of a shipped one, or one whose network file is damaged."""
    folder.mkdir(parents=True, exist_ok=True)
    config = json.loads((models_dir() / "okay_nabu.json").read_text())
    network = (models_dir() / config["model"]).read_bytes()
    (folder / "mine.tflite").write_bytes(network[: len(network) // 3] if damage else network)
    (folder / "mine.json").write_text(json.dumps(config | {"model": "mine.tflite"}))
    return folder / "mine.json"


def profile_with(tmp_path, wake_lines):
    root = tmp_path / "car"
    shutil.copytree(default_profile_dir(), root)
    main = root / "profile.toml"
    text = main.read_text()
    start, end = text.index("[wake]"), text.index("[audio]")
    main.write_text(text[:start] + "[wake]\n" + wake_lines + "\n\n" + text[end:])
    return root


@pytest.mark.parametrize(
    ("wake", "message"),
    [
        ('phrase = "okay nabu"\nengine = "micro"\nmodel = "models/mine.json"', r"no such file: .*models/mine\.json"),
        ('phrase = "okay nabu"\nengine = "micro"\nmodel = "hey_siri"', r"'hey_siri': name a shipped model"),
        ('phrase = "okay nabu"\nengine = "micro"\nmodel = "../../etc/mine.json"', "inside the profile folder"),
        ('phrase = "okay nabu"\nengine = "micro"', "the micro engine needs a model"),
        ('phrase = "okay nabu"\nengine = "micro"\nmodel = "okay_nabu"\nthreshold = 5', "a probability"),
        ('phrase = "okay nabu"\nengine = "neural"', "'neural': one of pocketsphinx, micro"),
        ('phrase = "okay nabu"\nmodel = "okay_nabu"', 'only the "micro" engine takes a model'),
        ('phrase = "okay nabu"\nbutton = "gear"', "VEHICLE_DYNAMICS.Gear has named values"),
        ('phrase = "okay nabu"\nbutton = "horn"', "'horn' must name a CAN signal under \\[state\\]"),
    ],
)
def test_a_bad_wake_setting_is_a_located_profile_error(tmp_path, wake, message):
    root = profile_with(tmp_path, wake)
    with pytest.raises(ProfileError) as error:
        load_profile(root)
    [problem] = error.value.problems
    assert problem.file == root / "profile.toml" and problem.key.startswith("wake.")
    line = (root / "profile.toml").read_text().splitlines()[problem.line - 1]
    assert line.startswith(problem.key.split(".")[1]) or (line == "[wake]" and "needs a model" in problem.message)
    assert re.search(message, problem.message), problem.message


def test_an_installers_own_model_inside_the_profile_folder(tmp_path):
    root = profile_with(tmp_path, 'phrase = "okay nabu"\nengine = "micro"\nmodel = "models/mine.json"')
    make_model(root / "models")
    profile = load_profile(root)
    assert profile.wake.model.config == (root / "models" / "mine.json").resolve()
    assert profile.wake.threshold == 0.85 and profile.wake.model.wake_word == "Okay Nabu"


def test_the_daemon_refuses_a_damaged_model_and_keeps_the_old_profile_on_reload(tmp_path):
    root = profile_with(tmp_path, 'phrase = "okay nabu"\nengine = "micro"\nmodel = "models/mine.json"')
    make_model(root / "models", damage=True)
    refused = subprocess.run(
        [sys.executable, "-m", "carvoice", "run", "--profile", str(root), "--demo", "--no-speech"],
        capture_output=True,
        text=True,
    )
    line = next(
        n for n, text in enumerate((root / "profile.toml").read_text().splitlines(), 1) if text.startswith("model")
    )
    assert refused.returncode == 2
    assert f"{root / 'profile.toml'}:{line}: wake.model: mine.tflite is not a TensorFlow Lite model" in refused.stderr

    make_model(root / "models")  # repaired: the daemon starts
    runtime = tmp_path / "run"
    daemon = start_daemon(tmp_path, root, runtime, 30, wait=False, stdout=subprocess.PIPE)
    try:
        digest = wait_for(lambda: (s := status_of(runtime)) and s["profile_digest"])
        make_model(root / "models", damage=True)  # damaged on disk, then a reload is asked for
        daemon.send_signal(signal.SIGHUP)
        status = wait_for(lambda: (s := status_of(runtime)) and s["reload_error"] and s)
        assert "mine.tflite is not a TensorFlow Lite model" in status["reload_error"]
        assert status["profile_digest"] == digest  # the old profile, with its good model, still runs
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=10) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()


def test_sorry_only_where_a_command_was_plainly_tried(demo_profile):
    """After a wake, "Sorry?" for a command heard but doubted; nothing for talk that is no command."""
    from carvoice.agent import ASK_AGAIN_CONFIDENCE, Agent
    from carvoice.recognise.command import Recognition, calibration
    from carvoice.recognise.engine import Segment

    limits = calibration()

    def fit_for(confidence: float) -> float:  # the logistic of confidence_of, inverted
        return limits.confidence_centre - limits.confidence_scale * math.log(1 / confidence - 1)

    said = []
    agent = Agent(demo_profile, said.append, [])
    words = ("turn", "on", "the", "light", "bar")
    held = Segment("bar", 0, 150, -1.0)
    for recognition, sorry in [
        (Recognition(words, fit_for(0.9), rival="turn off the light bar", rival_margin=-1.0), True),  # a slot unclear
        (Recognition(words, fit_for(ASK_AGAIN_CONFIDENCE + 0.05)), True),  # unsure, but command-like
        (Recognition(words, fit_for(ASK_AGAIN_CONFIDENCE - 0.05)), False),  # fits no better than chance
        (Recognition(words, fit_for(0.9), drawn_out=held), False),  # a word stretched over other sounds
        (Recognition((), float("-inf")), False),  # nothing recognisable
    ]:
        said.clear()
        agent.handle_recognition(recognition)
        assert [e.name for e in said] == (["rejected", "say"] if sorry else ["rejected"]), recognition
    said.clear()
    agent.handle_words(("play", "some", "jazz"))  # typed: always meant, always answered
    assert [e.name for e in said] == ["rejected", "say"]


def test_the_wake_tone_sits_above_what_the_recogniser_hears():
    """The tone may overlap a command said in one breath: its energy is above the en-us front end's 6.8 kHz."""
    from carvoice.speak.tone import TONE_RATE, wake_tone

    tone = wake_tone().astype(np.float64)
    power = np.abs(np.fft.rfft(tone)) ** 2
    frequencies = np.fft.rfftfreq(len(tone), 1 / TONE_RATE)
    assert power[frequencies < 6800].sum() < 0.01 * power.sum()
    assert 0.1 < len(tone) / TONE_RATE < 0.3
