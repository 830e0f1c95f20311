"""Noise mixing at a speech-band SNR, and the synthetic cabin."""

import collections

import numpy as np
import pytest

from carvoice.audio import SAMPLE_RATE
from carvoice.audio.noise import (
    NoiseCondition,
    band_mean_square,
    cabin_noise,
    estimated_snr_db,
    load_noise,
    mean_square,
    mix,
    noise_gain,
    noise_span,
    percentile,
)


def snr_db(signal: np.ndarray, added: np.ndarray) -> float:
    return 10 * np.log10(band_mean_square(signal) / band_mean_square(added))


def test_band_power_is_the_power_of_what_lies_in_the_band():
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    inside = 1000 * np.sin(2 * np.pi * 440 * t)
    below = 3000 * np.sin(2 * np.pi * 50 * t)
    above = 2000 * np.sin(2 * np.pi * 6000 * t)
    assert band_mean_square(inside + below + above) == pytest.approx(mean_square(inside), rel=1e-6)
    white = np.random.default_rng(0).standard_normal(10 * SAMPLE_RATE)
    assert band_mean_square(white) / mean_square(white) == pytest.approx(3900 / 8000, abs=0.01)


def test_rumble_below_the_speech_band_does_not_count_towards_the_snr():
    rng = np.random.default_rng(2)
    speech = (3000 * rng.standard_normal(16000)).astype(np.int16)
    hiss = 300 * rng.standard_normal(16000)
    rumble = hiss + 5000 * np.sin(2 * np.pi * 40 * np.arange(16000) / SAMPLE_RATE)
    assert noise_gain(speech, rumble, 6.0) == pytest.approx(noise_gain(speech, hiss, 6.0), rel=0.01)


def test_mix_puts_the_noise_at_the_asked_snr_over_the_whole_recording():
    rng = np.random.default_rng(1)
    speech = np.concatenate([np.zeros(8000), 3000 * rng.standard_normal(16000), np.zeros(8000)]).astype(np.int16)
    noise = (500 * rng.standard_normal(5000)).astype(np.int16)  # shorter than the speech: looped
    for snr in (24.0, 6.0, -3.0):
        mixed, gain = mix(speech, noise, snr, offset=123)
        added = mixed.astype(np.float64) - speech
        assert snr_db(speech, added) == pytest.approx(snr, abs=0.02)  # int16 rounding only
        assert gain == pytest.approx(noise_gain(speech, noise_span(noise, len(speech), 123), snr))


def test_noise_span_loops_from_the_offset():
    noise = np.arange(5, dtype=np.int16)
    assert noise_span(noise, 7, 3).tolist() == [3, 4, 0, 1, 2, 3, 4]


def test_the_seed_and_index_choose_the_offset_and_nothing_else():
    speech = (1000 * np.sin(2 * np.pi * 300 * np.arange(1600) / SAMPLE_RATE)).astype(np.int16)
    noise = cabin_noise(5.0, seed=0)
    same = NoiseCondition("cabin", 6.0, seed=3)
    assert np.array_equal(same.apply(speech, noise, 7), same.apply(speech, noise, 7))
    assert not np.array_equal(same.apply(speech, noise, 7), same.apply(speech, noise, 8))
    other_seed = NoiseCondition("cabin", 6.0, seed=4)
    assert not np.array_equal(same.apply(speech, noise, 7), other_seed.apply(speech, noise, 7))
    clean = NoiseCondition().apply(speech, None, 0, tail=10)
    assert clean[:1600].tolist() == speech.tolist() and clean[1600:].tolist() == [0] * 10


def test_cabin_noise_is_mostly_low_frequency_with_engine_orders_and_some_hiss():
    noise = cabin_noise(20.0, seed=2).astype(np.float64)
    assert np.array_equal(noise, cabin_noise(20.0, seed=2)) and not np.array_equal(noise, cabin_noise(20.0, seed=3))
    power = np.abs(np.fft.rfft(noise)) ** 2
    freqs = np.fft.rfftfreq(len(noise), 1 / SAMPLE_RATE)

    def share(low: float, high: float) -> float:
        return float(power[(freqs >= low) & (freqs < high)].sum() / power.sum())

    assert share(0, 300) > 0.8  # road and engine rumble
    assert 0.04 < share(100, 4000) < 0.06  # as in a real car: 5 % of the power where speech is
    assert 0.001 < share(1000, 4000) < 0.02  # wind and fan noise reaches the consonants
    assert share(0, 15) < 1e-4  # nothing below what a microphone passes
    # The engine's firing frequency (2nd order, 2100-2700 rpm: 70-90 Hz) stands out of the road noise.
    assert share(70, 90) > 2 * share(100, 120)
    assert 20 * np.log10(np.sqrt(mean_square(noise)) / 32768) == pytest.approx(-20.8, abs=0.5)


def test_the_parts_of_a_noise_are_its_two_halves(tmp_path):
    from carvoice.audio.wavfile import write_wav

    noise = (1000 * np.random.default_rng(3).standard_normal(SAMPLE_RATE)).astype(np.int16)
    write_wav(tmp_path / "n.wav", noise)
    first, second = load_noise(tmp_path / "n.wav", part=1), load_noise(tmp_path / "n.wav", part=2)
    assert np.array_equal(np.concatenate([first, second]), load_noise(tmp_path / "n.wav"))
    assert len(first) == len(second) == SAMPLE_RATE // 2
    assert np.array_equal(NoiseCondition(str(tmp_path / "n.wav"), part=2).load(), second)
    with pytest.raises(ValueError, match="noise part"):
        load_noise(tmp_path / "n.wav", part=3)


def test_a_recordings_own_snr_is_estimated_from_its_pauses():
    """Speech with pauses around it, as a command is recorded: the estimate follows the SNR `mix`
    set, within a few dB (which frames are the quietest depends on the noise and the words)."""
    rng = np.random.default_rng(5)
    words = 3000 * rng.standard_normal(24000) * np.repeat(rng.uniform(0.2, 1.0, 30), 800)
    speech = np.concatenate([np.zeros(8000), words, np.zeros(12000)]).astype(np.int16)
    noise = cabin_noise(10.0, seed=1)
    floor = (rng.standard_normal(len(speech)) * 1.0).astype(np.int16)  # a microphone's own hiss
    assert estimated_snr_db(speech + floor) > 40
    at_20, at_6 = (estimated_snr_db(mix(speech, noise, snr, offset=0)[0]) for snr in (20.0, 6.0))
    assert 14 < at_20 < 22 and 3 < at_6 < 10 and at_20 - at_6 > 7
    assert estimated_snr_db(np.zeros(100, dtype=np.int16)) == float("inf")


def test_percentile_is_numpys_to_the_bit_without_numpy_ma():
    """The endpointer's and recogniser's percentile gives np.percentile's float (its linear method)
    exactly, so no decision moves, and leaves numpy.ma unimported (tests/test_layers.py holds the daemon to it)."""
    rng = np.random.default_rng(7)
    for size in (1, 2, 3, 10, 101, 300):
        values = rng.normal(-50.0, 12.0, size)
        for share in (0, 10, 25, 50, 73.5, 100):
            assert percentile(values, share) == float(np.percentile(values, share))
    assert percentile(collections.deque([3.0, -1.0, 2.0]), 50) == 2.0  # the endpointer hands it a deque
    with pytest.raises(ValueError, match="no values"):
        percentile([], 10)
