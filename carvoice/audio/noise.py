"""Background noise for measuring the agent: mixing at a given SNR, and a synthetic car cabin.

SNR is the one the published benchmarks use: 10·log10 of the mean square of the
whole recording over the mean square of the noise added across the same span.
Leading and trailing silence is part of "the whole recording", so a clip with
long pauses gets relatively more noise than its words alone would suggest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from carvoice.audio import SAMPLE_RATE
from carvoice.audio.wavfile import read_wav

CABIN = "cabin"  # --noise cabin: the generator below instead of a file
CABIN_SECONDS = 120.0  # as long as the kitchen recording, so offsets vary as much


def mean_square(samples: np.ndarray) -> float:
    return float(np.mean(np.square(samples.astype(np.float64)))) if len(samples) else 0.0


def noise_span(noise: np.ndarray, length: int, offset: int) -> np.ndarray:
    """`length` samples of noise from `offset`, looped when the noise is shorter."""
    if len(noise) == 0:
        raise ValueError("the noise is empty")
    indices = (offset + np.arange(length)) % len(noise)
    return noise[indices].astype(np.float64)


def noise_gain(signal: np.ndarray, noise: np.ndarray, snr_db: float) -> float:
    """The factor that puts `noise` at `snr_db` below `signal` (0 for a silent signal or noise)."""
    signal_power, noise_power = mean_square(signal), mean_square(noise)
    if signal_power == 0.0 or noise_power == 0.0:
        return 0.0
    return float(np.sqrt(signal_power / (noise_power * 10 ** (snr_db / 10))))


def mix(samples: np.ndarray, noise: np.ndarray, snr_db: float, offset: int, tail: int = 0) -> tuple[np.ndarray, float]:
    """`samples` plus noise at `snr_db` (int16), and the gain used.

    The gain is set on `samples` alone; `tail` more samples of the same noise follow
    them (the gap before the next clip in a wake-word stream), so the noise does not
    stop where the speech does.
    """
    span = noise_span(noise, len(samples) + tail, offset)
    gain = noise_gain(samples, span[: len(samples)], snr_db)
    padded = np.concatenate([samples.astype(np.float64), np.zeros(tail)])
    return np.clip(np.round(padded + gain * span), -32768, 32767).astype(np.int16), gain


def noise_floor(length: int, level_db: float, seed: int = 0) -> np.ndarray:
    """White noise at `level_db` dBFS RMS, in int16 units (float), the same for the same seed."""
    return np.random.default_rng(seed).normal(0.0, 32768.0 * 10 ** (level_db / 20), length)


def with_floor(samples: np.ndarray, level_db: float, seed: int = 0) -> np.ndarray:
    """int16 audio with a faint noise floor added, as any real microphone has."""
    noisy = samples.astype(np.float64) + noise_floor(len(samples), level_db, seed)
    return np.clip(np.round(noisy), -32768, 32767).astype(np.int16)


def load_noise(spec: str | Path, seed: int = 0) -> np.ndarray:
    """A WAV file, or `cabin` for the synthetic cabin (the same seed gives the same noise)."""
    if str(spec) == CABIN:
        return cabin_noise(CABIN_SECONDS, seed)
    return read_wav(spec)


def _shaped(rng: np.random.Generator, length: int, gain_of: np.ndarray) -> np.ndarray:
    """White Gaussian noise shaped by an amplitude response over rfft frequencies, unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(length)) * gain_of
    shaped = np.fft.irfft(spectrum, n=length)
    return shaped / (np.sqrt(mean_square(shaped)) or 1.0)


def cabin_noise(seconds: float, seed: int = 0, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Noise like the inside of a car at cruising speed, as int16 at a moderate level.

    No freely licensed cabin recording was at hand, so this builds one from what
    dominates a cabin physically:

    - Road and tyre noise (the loudest part): tyre tread and road texture excite the
      body structure, and the cabin acts as a low-pass enclosure, so the energy sits
      below about 200 Hz and falls 12 dB per octave above a 120 Hz corner, with a
      gentle rise towards the 30-60 Hz body/cavity ("boom") region.
    - Engine: a four-stroke four-cylinder engine fires twice per revolution, so its
      tone is the second engine order (rpm/60·2, about 80 Hz at 2400 rpm) with
      weaker 4th and 6th orders and some half orders; the rpm wanders slowly (the
      driver's foot), which smears the lines as in a real recording. 6 dB below
      the road noise.
    - Wind and HVAC: broadband pink-like noise above about 400 Hz that reaches into
      the speech band, 14 dB below the road noise; this part, not the rumble, is
      what masks consonants.
    - Slow level changes (surface changes): a 0.1-0.5 Hz modulation of ±2 dB.

    Most of the energy is below speech's formants, as in a real cabin, so an SNR
    figure here is harder on the engine's frequency band than on the words.
    """
    rng = np.random.default_rng(seed)
    length = round(seconds * sample_rate)
    freqs = np.fft.rfftfreq(length, 1.0 / sample_rate)
    safe = np.maximum(freqs, 1.0)
    road_response = (1.0 / np.sqrt(1.0 + (safe / 120.0) ** 4)) * (1.0 + 0.8 * np.exp(-(((safe - 45.0) / 20.0) ** 2)))
    road_response[freqs < 15.0] = 0.0  # below hearing and below what a microphone passes
    road = _shaped(rng, length, road_response)

    t = np.arange(length) / sample_rate
    wander = np.cumsum(rng.standard_normal(length // 1600 + 2))
    wander = np.interp(t, np.arange(len(wander)) * 0.1, wander - wander.mean())
    rpm = 2400.0 + 300.0 * np.tanh(wander / 10.0)
    revolutions = np.cumsum(rpm / 60.0) / sample_rate  # phase in revolutions
    engine = np.zeros(length)
    for order, level in ((1.0, 0.3), (2.0, 1.0), (3.0, 0.2), (4.0, 0.5), (6.0, 0.25), (8.0, 0.1)):
        engine += level * np.sin(2 * np.pi * order * revolutions + rng.uniform(0, 2 * np.pi))
    engine /= np.sqrt(mean_square(engine))

    wind_response = np.where(freqs > 0, 1.0 / np.sqrt(safe), 0.0) / np.sqrt(1.0 + (400.0 / safe) ** 4)
    wind = _shaped(rng, length, wind_response)

    modulation = 10 ** (2.0 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t + rng.uniform(0, 6.3)) / 20)
    cabin = modulation * (road + 10 ** (-6 / 20) * engine) + 10 ** (-14 / 20) * wind
    cabin *= 3000.0 / np.sqrt(mean_square(cabin))  # about -21 dBFS: loud, clear of clipping
    return np.clip(np.round(cabin), -32768, 32767).astype(np.int16)


@dataclass(frozen=True)
class NoiseCondition:
    """What an evaluation adds to every recording: noise (a WAV or `cabin`) at an SNR, seeded."""

    noise: str | None = None
    snr_db: float = 12.0
    seed: int = 0

    def load(self) -> np.ndarray | None:
        return load_noise(self.noise, self.seed) if self.noise else None

    def apply(self, samples: np.ndarray, noise: np.ndarray | None, index: int, tail: int = 0) -> np.ndarray:
        """Recording `index` with its noise; the offset into the noise depends on the seed and index only."""
        if noise is None:
            return np.concatenate([samples, np.zeros(tail, dtype=np.int16)])
        offset = int(np.random.default_rng([self.seed, index]).integers(len(noise)))
        return mix(samples, noise, self.snr_db, offset, tail)[0]

    def describe(self) -> str:
        return f"{Path(self.noise).name} at {self.snr_db:g} dB SNR (seed {self.seed})" if self.noise else "clean"
