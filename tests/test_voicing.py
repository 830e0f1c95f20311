"""Voicing: the vocal folds' beat under a word, which a clatter and a ringing glass do not have."""

from __future__ import annotations

import numpy as np
import pytest

from carvoice.audio import SAMPLE_RATE
from carvoice.audio.noise import with_floor
from carvoice.audio.synth import utterance
from carvoice.audio.voicing import VOICED_APERIODICITY, aperiodicity, longest_run
from tests.conftest import needs

SECOND = np.arange(SAMPLE_RATE) / SAMPLE_RATE


def voiced_run(audio: np.ndarray) -> int:
    return longest_run(aperiodicity(audio, 0, len(audio) // 160) < VOICED_APERIODICITY)


@needs("espeak-ng", "flite")
@pytest.mark.parametrize("word, voice", [("yes", "en-us"), ("yep", "flite:slt"), ("sure", "en-us+f3")])
def test_a_spoken_word_is_voiced_and_the_pauses_around_it_are_not(word, voice):
    audio = utterance(word, voice, lead=0.5, trail=0.8)
    judged = aperiodicity(audio, 0, len(audio) // 160)
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
    assert (aperiodicity(audio, SAMPLE_RATE // 160 - 2, 5) == 1.0).all()
    assert len(aperiodicity(audio, 3, 0)) == 0


def test_longest_run():
    assert longest_run(np.array([True, False, True, True, True, False, True])) == 3
    assert longest_run(np.array([], dtype=bool)) == 0
