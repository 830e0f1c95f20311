"""Whether a sound is voiced: the vocal folds' beat, which every spoken "yes" has and a clatter has not.

Each 10 ms frame gets the aperiodicity of YIN (de Cheveigné and Kawahara, JASA 2002), the cumulative
mean normalised difference at its best pitch lag, on the signal band-passed to 100-1000 Hz, where
a voice's low harmonics are strong and a glass's or a pan's ringing (higher) is not: 0 for a sound
that repeats exactly at some pitch, about 1 for noise. A frame is voiced below VOICED_APERIODICITY.
"""

from __future__ import annotations

import numpy as np

from carvoice.audio import SAMPLE_RATE

HOP = 160  # samples: the recogniser's 10 ms frame
WINDOW = 480  # samples compared with themselves one pitch period later: 30 ms, two periods of a low voice
SHORTEST_PERIOD = SAMPLE_RATE // 400  # lags: pitches from 400 Hz ...
LONGEST_PERIOD = SAMPLE_RATE // 60  # ... down to 60 Hz
VOICE_BAND = (100.0, 1000.0)  # Hz
# A frame this aperiodic or less is voiced. Not fitted: YIN's authors take 0.1-0.15 on clean speech;
# in noise at 6 dB a vowel's frames came out at 0.05-0.2, a kitchen clatter's at 0.28 and over
# (README, "A clatter is no yes").
VOICED_APERIODICITY = 0.3
SILENT = 1e-6  # a summed squared difference this small (int16 units) is silence in the band, not a pitch


def aperiodicity(audio: np.ndarray, first_frame: int, frames: int) -> np.ndarray:
    """YIN's aperiodicity of frames [first_frame, first_frame + frames) of `audio` (10 ms frames,
    each judged on the 46 ms from its start: 30 ms and the longest pitch period); 1.0 where the
    audio ends too soon to tell."""
    result = np.ones(max(frames, 0))
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
    result[:count] = normalised[:, SHORTEST_PERIOD - 1 :].min(axis=1)
    return result


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
