"""Whether a sound is voiced: the vocal folds' beat, which every spoken "yes" has and a clatter has not.

Each 10 ms frame gets the aperiodicity of YIN (de Cheveigné and Kawahara, JASA 2002), the cumulative
mean normalised difference at its best pitch lag, on the signal band-passed to 100-1000 Hz, where
a voice's low harmonics are strong and a glass's or a pan's ringing (higher) is not: 0 for a sound
that repeats exactly at some pitch, about 1 for noise. A frame is voiced below VOICED_APERIODICITY.
A tone is voiced too: a voice is told from it by its harmonics, which a tone has one or two of.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from carvoice.audio import SAMPLE_RATE

HOP = 160  # samples: the recogniser's 10 ms frame
WINDOW = 480  # samples compared with themselves one pitch period later: 30 ms, two periods of a low voice
SHORTEST_PERIOD = SAMPLE_RATE // 400  # lags: pitches from 400 Hz ...
LONGEST_PERIOD = SAMPLE_RATE // 60  # ... down to 60 Hz
VOICE_BAND = (100.0, 1000.0)  # Hz
# A voice is rich in harmonics (`harmonics`): its folds' beat is a pulse, not a sine; a phone's ring
# (two tones) or a beep (one) has one or two lines. Not fitted; a harmonic counts up to 4 kHz within
# 3 % of its place (the period's error), at most 30 dB under the loudest and 6 dB over the spectrum
# between its neighbours, over 64 ms (resolving a 60 Hz voice's harmonics) ...
SPECTRUM = 1024
HARMONICS_UP_TO = 4000.0
HARMONIC_ORDERS = 16  # beyond, 3 % of a harmonic's place reaches its neighbours' and nothing lies between
HARMONIC_TOLERANCE = 0.03
HARMONIC_RANGE_DB = 30.0
HARMONIC_OVER_DB = 6.0
# ... and this far over the pauses' mean spectrum: noise has a chance peak 6 dB over its mean in
# 15 % of nine bins, so a tone in noise drew three "harmonics" from it; 10 dB, in 0.04 %
HARMONIC_OVER_NOISE_DB = 10.0
VOICE_HARMONICS = 3  # a frame with this many harmonics standing out sounds like a voice
# A frame this aperiodic or less is voiced. Not fitted: YIN's authors take 0.1-0.15 on clean speech;
# in noise at 6 dB a vowel's frames came out at 0.05-0.2, a kitchen clatter's at 0.28 and over
# (README, "A clatter is no yes").
VOICED_APERIODICITY = 0.3
SILENT = 1e-6  # a summed squared difference this small (int16 units) is silence in the band, not a pitch


@dataclass(frozen=True)
class Pitch:
    """YIN's judgement of each 10 ms frame."""

    aperiodicity: np.ndarray  # 0 for a sound that repeats exactly, about 1 for noise; 1.0 where not measured
    period: np.ndarray  # samples: the pitch period, refined between lags; 0 where not measured


def pitch(audio: np.ndarray, first_frame: int, frames: int) -> Pitch:
    """YIN over frames [first_frame, first_frame + frames) of `audio` (10 ms frames, each judged on
    the 46 ms from its start: 30 ms and the longest pitch period). The aperiodicity is the least over
    the pitch range; the period is the first dip under VOICED_APERIODICITY followed to its bottom
    (else the deepest), as YIN takes it, so that a sound's multiples of its period are not taken."""
    result = Pitch(np.ones(max(frames, 0)), np.zeros(max(frames, 0)))
    span = WINDOW + LONGEST_PERIOD
    start, stop = first_frame * HOP, (first_frame + frames - 1) * HOP + span
    if frames <= 0 or start < 0 or start + span > len(audio):
        return result
    samples = audio[start : min(stop, len(audio))].astype(np.float64)
    count = min(frames, (len(samples) - span) // HOP + 1)
    pieces = _band_passed(np.lib.stride_tricks.sliding_window_view(samples, span)[::HOP][:count])
    heads = pieces[:, :WINDOW]
    # d(lag) = sum of head^2 + sum of the lagged window^2 - 2 * their cross-correlation, for every lag at once
    size = 1 << (span + WINDOW).bit_length()
    cross = np.fft.irfft(np.fft.rfft(pieces, size) * np.conj(np.fft.rfft(heads, size)), size)[:, 1 : LONGEST_PERIOD + 1]
    energy = np.concatenate([np.zeros((count, 1)), np.cumsum(pieces**2, axis=1)], axis=1)
    lags = np.arange(1, LONGEST_PERIOD + 1)
    lagged = energy[:, lags + WINDOW] - energy[:, lags]
    difference = np.maximum(energy[:, WINDOW : WINDOW + 1] + lagged - 2 * cross, 0.0)
    total = np.cumsum(difference, axis=1)
    normalised = np.divide(difference * lags, total, out=np.ones_like(total), where=total > SILENT)
    in_range = normalised[:, SHORTEST_PERIOD - 1 :]
    result.aperiodicity[:count] = in_range.min(axis=1)
    result.period[:count] = SHORTEST_PERIOD + _dip(in_range)
    return result


def _dip(normalised: np.ndarray) -> np.ndarray:
    """Per row, the lag index (from 0) of the first dip under VOICED_APERIODICITY at its bottom (else
    of the deepest point), moved between lags by the parabola through it and its neighbours."""
    rows, lags = np.arange(len(normalised)), normalised.shape[1]
    under = normalised < VOICED_APERIODICITY
    # a pitch above the range dips before its first lag: its bottom there would read as exactly the
    # range's top, so its next dip (an octave down, every other harmonic) is taken instead
    above_range = under[:, 0] & (normalised[:, 1] >= normalised[:, 0])
    under &= ~(np.cumprod(under, axis=1).astype(bool) & above_range[:, None])
    dip = np.where(under.any(axis=1), under.argmax(axis=1), normalised.argmin(axis=1))
    rising_after = (np.diff(normalised, axis=1) >= 0) & (np.arange(lags - 1) >= dip[:, None])
    bottom = np.where(rising_after.any(axis=1), rising_after.argmax(axis=1), lags - 1)
    inner = np.clip(bottom, 1, lags - 2)
    before, at, after = (normalised[rows, inner + step] for step in (-1, 0, 1))
    curve = before - 2 * at + after
    shift = np.divide(before - after, 2 * curve, out=np.zeros_like(curve), where=curve > 0)
    return np.where(bottom == inner, bottom + np.clip(shift, -0.5, 0.5), bottom)


def harmonics(audio: np.ndarray, frames: np.ndarray, periods: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """How many harmonics of its pitch stand out in each of these frames (each with its period in
    samples; the spectrum centred where YIN judged the frame): of the first HARMONIC_ORDERS up to
    HARMONICS_UP_TO, each the loudest point within HARMONIC_TOLERANCE of its place, no more than
    HARMONIC_RANGE_DB under the loudest harmonic, HARMONIC_OVER_DB over the spectrum between it and
    its neighbours and HARMONIC_OVER_NOISE_DB over `noise` (`noise_spectrum_db` of the pauses), so
    that the noise's own chance peaks are not taken for a voice's harmonics. -1 where the audio is too short to tell."""
    counted = np.full(len(frames), -1)
    freqs = np.fft.rfftfreq(SPECTRUM, 1.0 / SAMPLE_RATE)
    starts, fit = _spectrum_starts(frames, len(audio))
    measured = fit & (np.asarray(periods) > 0)
    if not measured.any():
        return counted
    levels = _spectra_db(audio, starts[measured])
    for index, level, period in zip(np.flatnonzero(measured), levels, np.asarray(periods)[measured], strict=True):
        fundamental = SAMPLE_RATE / period
        places = fundamental * np.arange(1, min(HARMONIC_ORDERS, int(HARMONICS_UP_TO // fundamental)) + 1)
        offsets = np.abs(freqs[None, :] - places[:, None])
        near = offsets <= np.maximum(HARMONIC_TOLERANCE * places, 1.5 * freqs[1])[:, None]
        between = (offsets <= fundamental / 2) & ~near
        peaks = np.where(near, level, -np.inf).max(axis=1)
        floors = (between @ level) / np.maximum(between.sum(axis=1), 1)
        over_noise = np.where(near, level - noise, -np.inf).max(axis=1)
        stand_out = (peaks >= peaks.max() - HARMONIC_RANGE_DB) & (peaks >= floors + HARMONIC_OVER_DB)
        counted[index] = int((stand_out & (over_noise >= HARMONIC_OVER_NOISE_DB)).sum())
    return counted


def noise_spectrum_db(audio: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """The mean power spectrum (dB) of these frames (the pauses'), each where `harmonics` looks;
    -inf in every bin (nothing to stand over) with none."""
    starts, fit = _spectrum_starts(frames, len(audio))
    starts = starts[fit]
    if not len(starts):
        return np.full(SPECTRUM // 2 + 1, -np.inf)
    return 10 * np.log10(np.mean(10 ** (_spectra_db(audio, starts) / 10), axis=0))


def _spectrum_starts(frames: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each frame's spectrum begins (centred on the samples YIN judged it on), and whether it
    lies inside audio of `length` samples."""
    starts = np.asarray(frames, dtype=int) * HOP + (WINDOW + LONGEST_PERIOD - SPECTRUM) // 2
    return starts, (starts >= 0) & (starts + SPECTRUM <= length)


def _spectra_db(audio: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The power spectrum (dB, SPECTRUM samples under a Hann window) from each start."""
    pieces = np.stack([audio[start : start + SPECTRUM] for start in starts]).astype(np.float64)
    return 10 * np.log10(np.abs(np.fft.rfft(pieces * np.hanning(SPECTRUM), axis=1)) ** 2 + 1e-9)


def _band_passed(pieces: np.ndarray) -> np.ndarray:
    """Each piece on its own, so that a loud vowel's band does not ring into the pauses around it."""
    length = pieces.shape[1]
    spectrum = np.fft.rfft(pieces, axis=1)
    freqs = np.fft.rfftfreq(length, 1.0 / SAMPLE_RATE)
    spectrum[:, (freqs < VOICE_BAND[0]) | (freqs > VOICE_BAND[1])] = 0.0
    return np.fft.irfft(spectrum, length, axis=1)


def longest_run(flags: np.ndarray) -> int:
    """The most True values in a row."""
    best = run = 0
    for flag in flags:
        run = run + 1 if flag else 0
        best = max(best, run)
    return best
