"""Voicing: the vocal folds' beat under a word, which a clatter and a ringing glass do not have."""

from __future__ import annotations

import numpy as np
import pytest

from carvoice.audio import SAMPLE_RATE
from carvoice.audio.noise import with_floor
from carvoice.audio.synth import utterance
from carvoice.audio.voicing import (
    VOICE_HARMONICS,
    VOICED_APERIODICITY,
    harmonics,
    longest_run,
    noise_spectrum_db,
    pitch,
)
from tests.conftest import needs

SECOND = np.arange(SAMPLE_RATE) / SAMPLE_RATE


def voiced_run(audio: np.ndarray) -> int:
    return longest_run(pitch(audio, 0, len(audio) // 160).aperiodicity < VOICED_APERIODICITY)


@needs("espeak-ng", "flite")
@pytest.mark.parametrize("word, voice", [("yes", "en-us"), ("yep", "flite:slt"), ("sure", "en-us+f3")])
def test_a_spoken_word_is_voiced_and_the_pauses_around_it_are_not(word, voice):
    audio = utterance(word, voice, lead=0.5, trail=0.8)
    judged = pitch(audio, 0, len(audio) // 160).aperiodicity
    assert longest_run(judged < VOICED_APERIODICITY) >= 15  # a vowel: 150 ms of one pitch
    assert not (judged[:40] < VOICED_APERIODICITY).any()  # the faint floor before it, 0.4 s


@pytest.mark.parametrize(
    "sound",
    [
        pytest.param(with_floor(np.random.default_rng(1).normal(0, 1000, SAMPLE_RATE), -65), id="hiss"),
        pytest.param(with_floor(8000 * np.sin(2 * np.pi * 3000 * SECOND) * np.exp(-4 * SECOND), -65), id="a glass"),
        pytest.param(with_floor(np.where(np.arange(SAMPLE_RATE) % 4000 < 40, 20000.0, 0.0), -65, seed=2), id="clicks"),
        pytest.param(np.zeros(SAMPLE_RATE, dtype=np.int16), id="digital silence"),
    ],
)
def test_noise_a_ringing_glass_clicks_and_silence_are_not_voiced(sound):
    """A ring above 1 kHz repeats exactly, but above the voice band the check listens in."""
    assert voiced_run(sound) <= 2


def test_an_engine_hum_is_voiced_which_is_why_loudness_over_the_pauses_is_asked_too():
    """An engine's firing orders repeat as a voice does (a four-cylinder engine at 3000 rpm fires at
    100 Hz): `voiced_under` counts only frames louder than the pauses, which a steady hum fills."""
    hum = sum(level * np.sin(2 * np.pi * 100 * order * SECOND) for order, level in ((1, 2000), (2, 1000), (3, 500)))
    assert voiced_run(with_floor(hum, -65)) >= 90


def test_frames_the_audio_does_not_reach_are_unvoiced():
    audio = with_floor(np.zeros(SAMPLE_RATE), -65)
    unmeasured = pitch(audio, SAMPLE_RATE // 160 - 2, 5)
    assert (unmeasured.aperiodicity == 1.0).all() and (unmeasured.period == 0).all()
    assert len(pitch(audio, 3, 0).aperiodicity) == 0


@pytest.mark.parametrize("fundamental", [65.0, 123.4, 200.0, 390.0])
def test_the_period_of_a_voice_like_sound_is_its_fundamentals_not_a_multiple(fundamental):
    """Harmonics falling off as a voice's do; YIN's first dip, refined between lags, is the period."""
    judged = pitch(with_floor(pulse(fundamental), -65), 10, 50)
    assert (judged.aperiodicity < VOICED_APERIODICITY).all()
    assert np.allclose(SAMPLE_RATE / judged.period, fundamental, rtol=0.005)


def test_a_pitch_above_the_range_is_read_an_octave_down_not_at_the_ranges_top():
    """A 420 Hz voice dips before the shortest period looked for: read there, it would be exactly
    400 Hz, and its harmonics would be missed; an octave down, every other one is a harmonic."""
    sound = with_floor(pulse(420.0), -65)
    judged = pitch(sound, 10, 50)
    assert np.allclose(SAMPLE_RATE / judged.period, 210.0, rtol=0.005)
    assert (harmonics_heard(sound) >= VOICE_HARMONICS).all()


def pulse(fundamental: float, orders: int = 24) -> np.ndarray:
    """A voice-like sound: harmonics falling 6 dB an octave, up to the speech band's top."""
    return sum(
        4000 / k * np.sin(2 * np.pi * fundamental * k * SECOND) for k in range(1, orders + 1) if k * fundamental < 4000
    )


def harmonics_heard(audio: np.ndarray, pauses: slice = slice(0, 0)) -> np.ndarray:
    """The harmonics counted in each voiced frame that has a spectrum, over the noise of the frames in `pauses`."""
    judged = pitch(audio, 0, (len(audio) - 1024) // 160)
    voiced = np.flatnonzero(judged.aperiodicity < VOICED_APERIODICITY)
    noise = noise_spectrum_db(audio, np.arange(len(judged.period))[pauses])
    counted = harmonics(audio, voiced, judged.period[voiced], noise)
    return counted[counted >= 0]


TONES = [
    pytest.param((400, 450), id="a UK ring"),
    pytest.param((350, 440), id="a dial tone"),
    pytest.param((1000,), id="a beep"),
    pytest.param((440, 495), id="two tones a fifth apart"),
]


@pytest.mark.parametrize("tones", TONES)
def test_a_tone_is_voiced_but_holds_one_or_two_harmonics(tones):
    """A phone's ring (400 + 450 Hz) was taken for a clear "confirm" after a question: it is as
    voiced as a vowel. Its pitch has no harmonics beyond the tones themselves."""
    sound = with_floor(sum(4000 * np.sin(2 * np.pi * tone * SECOND) for tone in tones), -65)
    counted = harmonics_heard(sound)
    assert len(counted) >= 40 and (counted < VOICE_HARMONICS).mean() > 0.9


@pytest.mark.parametrize("tones", TONES)
def test_noise_under_a_tone_lends_it_no_harmonics(tones):
    """Broadband noise 10 dB under a tone has chance peaks wherever harmonics would be: only those
    that stand over the pauses' own spectrum count (here the first half second, noise alone)."""
    rng = np.random.default_rng(3)
    tone = np.concatenate([np.zeros(SAMPLE_RATE // 2), sum(4000 * np.sin(2 * np.pi * t * SECOND) for t in tones)])
    noise = rng.normal(0, 1, len(tone))
    noisy = tone + noise * np.sqrt(np.mean(tone[SAMPLE_RATE // 2 :] ** 2) / 10)
    counted = harmonics_heard(noisy, slice(0, 40))
    assert len(counted) >= 40 and (counted < VOICE_HARMONICS).mean() > 0.9
    assert (harmonics_heard(noisy) < VOICE_HARMONICS).mean() < 0.9  # without the pauses, the noise's peaks count


def test_a_voice_like_pulse_is_rich_in_harmonics_and_its_period_is_found():
    """Harmonics falling off as a voice's do, its pitch gliding down 10 % a second."""
    glide = 140 * (1 - 0.1 * SECOND)
    phase = 2 * np.pi * np.cumsum(glide) / SAMPLE_RATE
    sound = with_floor(sum(4000 / order * np.sin(order * phase) for order in range(1, 25)), -65)
    judged = pitch(sound, 10, 50)
    assert (judged.aperiodicity < VOICED_APERIODICITY).all()
    assert np.allclose(SAMPLE_RATE / judged.period, glide[(10 + np.arange(50)) * 160], rtol=0.01)
    assert (harmonics_heard(sound) >= VOICE_HARMONICS).all()


@needs("espeak-ng", "flite")
@pytest.mark.parametrize("word, voice", [("yes", "en-us"), ("yeah", "flite:slt"), ("sure", "en-us+f3")])
def test_a_spoken_word_is_rich_in_harmonics(word, voice):
    audio = utterance(word, voice, lead=0.5, trail=0.8)
    assert (harmonics_heard(audio, slice(0, 30)) >= VOICE_HARMONICS).mean() > 0.5


def test_frames_too_near_either_end_for_a_spectrum_are_not_counted():
    """A frame's spectrum is centred where YIN judged it: 139 samples before it begins, 885 after."""
    audio = with_floor(np.zeros(SAMPLE_RATE), -65)
    counted = harmonics(audio, np.array([0, 10, 95]), np.array([80.0, 80.0, 80.0]), np.full(513, -np.inf))
    assert list(counted[[0, 2]]) == [-1, -1] and counted[1] >= 0


def test_longest_run():
    assert longest_run(np.array([True, False, True, True, True, False, True])) == 3
    assert longest_run(np.array([], dtype=bool)) == 0
